"""Take the README's screenshots of the demo account in a real Home Assistant.

Starts Home Assistant through script/run (in .run/screenshots, see browser_tests/harness.py),
creates a dashboard through the websocket API, logs in with headless Chromium and saves:

    docs/images/integration.png    Settings > Devices & services > Prepaid SIM
    docs/images/device.png         a line's device page
    docs/images/dashboard.png      the example dashboard (gauges and tiles for every line)
    docs/images/renew-confirm.png  the dashboard's Renew button asking for confirmation
    docs/images/repairs.png        Settings > Repairs with the integration's issue
    docs/images/repair-renew.png   that issue's fix: renew the expiring line after confirming
    docs/images/device-zh-Hans.png the device page in Simplified Chinese

and writes the dashboard to docs/dashboard-example.yaml. Run it with script/screenshots.
"""

from __future__ import annotations

import argparse
from pathlib import Path
import sys
import time
from typing import Any

from playwright.sync_api import Page, sync_playwright
import yaml

from browser_tests.harness import (
    REPO,
    URL,
    HomeAssistantApi,
    HomeAssistantRun,
    launch_browser,
    login,
)
from script.demo_dashboard import (
    DASHBOARD_FIELDS,
    DASHBOARD_URL_PATH,
    dashboard_config,
    is_unlimited,
    slug,
)

IMAGES = REPO / "docs" / "images"
DASHBOARD_YAML = REPO / "docs" / "dashboard-example.yaml"
VIEWPORT = {"width": 1280, "height": 800}
DEVICE_LINE = "US Travel SIM"
# The demo line that expires within its warning period, so it has a "renew" repair.
EXPIRING_LINE = "Europe eSIM"

# True once fonts are loaded and no finite animation (dialogs fading in, gauges turning)
# has run for five polls in a row.
SETTLED = """() => {
    const quiet = document.fonts.status === "loaded" && document.getAnimations().every(
        (a) => a.playState !== "running" || a.effect.getComputedTiming().iterations === Infinity);
    window.__quietPolls = quiet ? (window.__quietPolls || 0) + 1 : 0;
    return window.__quietPolls >= 5;
}"""


def write_dashboard_yaml(config: dict[str, Any]) -> None:
    """Write the dashboard as YAML for the README."""
    header = (
        "# The example dashboard of docs/images/dashboard.png, made by script/screenshots for\n"
        "# the demo account. To use it: Settings > Dashboards > Add dashboard, open it, then\n"
        "# Edit > three dots > Raw configuration editor, paste, and change the entity ids\n"
        "# (sensor.<line>_...) to your lines'. script/run creates it for the demo by itself.\n"
    )
    DASHBOARD_YAML.parent.mkdir(parents=True, exist_ok=True)
    DASHBOARD_YAML.write_text(
        header + yaml.safe_dump(config, sort_keys=False, allow_unicode=True, width=100),
        encoding="utf-8",
    )


def shoot(page: Page, name: str, *, whole_page: bool = False) -> Path:
    """Wait for fonts and animations, then save docs/images/<name>.png.

    ``whole_page`` makes the window as tall as the page first (rather than a full-page
    screenshot, which would leave the sidebar a viewport high).
    """
    if whole_page:
        height = page.evaluate("() => document.documentElement.scrollHeight")
        page.set_viewport_size({"width": VIEWPORT["width"], "height": max(height, 800)})
    page.evaluate("() => { window.__quietPolls = 0; }")
    page.wait_for_function(SETTLED, polling=100)
    path = IMAGES / f"{name}.png"
    page.screenshot(path=path)
    page.set_viewport_size(VIEWPORT)
    print(f"  {path.relative_to(REPO)}")
    return path


def wait_for_values(api: HomeAssistantApi, names: list[str]) -> None:
    """Wait until every line's main sensors have values."""
    entity_ids = [
        f"sensor.{slug(name)}_{kind}" for name in names for kind in ("plan_expiry", "status")
    ]

    def ready() -> bool:
        states = api.states()
        return all(
            states.get(e, {}).get("state") not in {None, "unknown", "unavailable"}
            for e in entity_ids
        )

    api.wait_for(ready, 60, "every line's sensors to have values")


def take(api: HomeAssistantApi, page: Page) -> None:
    """Set the scene through the APIs and take every screenshot."""
    # A fresh Home Assistant raises a "country not configured" issue; set the country the
    # supported way so the Repairs page shows only the integration's own issues.
    api.ws("config/core/update", country="US")
    api.ensure_all_lines()
    names = list(api.subentries())
    wait_for_values(api, names)
    states = api.states()
    lines = [
        (
            name,
            is_unlimited(states.get(f"sensor.{slug(name)}_data_allowance", {}).get("state")),
            api.device_id(name),
        )
        for name in names
    ]
    config = dashboard_config(lines)
    # script/run made the dashboard already; it is saved again with this run's lines.
    boards = api.ws("lovelace/dashboards/list")
    if not any(board["url_path"] == DASHBOARD_URL_PATH for board in boards):
        api.ws("lovelace/dashboards/create", **DASHBOARD_FIELDS)
    api.ws("lovelace/config/save", url_path=DASHBOARD_URL_PATH, config=config)
    write_dashboard_yaml(config)
    print(f"  {DASHBOARD_YAML.relative_to(REPO)}")

    login(page)

    page.goto(f"{URL}/config/integrations/integration/prepaid_sim")
    page.get_by_text("Demo account").first.wait_for()
    page.get_by_role("button", name="Add line").wait_for()
    shoot(page, "integration")

    device_id = api.device_id(DEVICE_LINE)
    page.goto(f"{URL}/config/devices/device/{device_id}")
    page.get_by_text("Data remaining").first.wait_for()
    page.get_by_text("Renewal package").first.wait_for()
    shoot(page, "device", whole_page=True)

    page.goto(f"{URL}/{DASHBOARD_URL_PATH}/lines")
    page.locator("hui-sensor-card").first.wait_for()
    page.get_by_text("Account balance").first.wait_for()
    shoot(page, "dashboard", whole_page=True)

    section = page.locator("hui-grid-section").filter(has_text=EXPIRING_LINE)
    section.locator("hui-button-card").filter(has_text="Renew").click()
    dialog = page.locator("dialog-box")
    dialog.get_by_text(f"Renew {EXPIRING_LINE} with its renewal package?").wait_for()
    shoot(page, "renew-confirm")
    dialog.get_by_role("button", name="Cancel").click()  # the repair below renews it
    dialog.get_by_text(f"Renew {EXPIRING_LINE} with").wait_for(state="hidden")

    issues = api.ws("repairs/list_issues")["issues"]
    ours = [i for i in issues if i["domain"] == "prepaid_sim"]
    if not ours:
        sys.exit(f"No Prepaid SIM repair issue to show; the issues are: {issues}")
    page.goto(f"{URL}/config/repairs")
    title = page.get_by_text(f"{EXPIRING_LINE} expires in")
    title.first.wait_for()
    shoot(page, "repairs")
    title.first.click()
    flow = page.locator("dialog-repairs-issue, dialog-data-entry-flow")
    flow.get_by_text(f"Renew {EXPIRING_LINE}?").first.wait_for()
    flow.get_by_text("Submit to buy").first.wait_for()  # rendered from markdown, later
    shoot(page, "repair-renew")

    shoot_in_chinese(api, page, device_id)


def shoot_in_chinese(api: HomeAssistantApi, page: Page, device_id: str) -> None:
    """Save the device page in Simplified Chinese, then switch back to English.

    Entity names follow the server's language (set at load, so the account is reloaded);
    the rest of the page follows the user's language.
    """
    set_languages(api, page, "zh-Hans")
    try:
        # A new page: the repair dialog of the page before is left behind.
        page = page.context.new_page()
        page.goto(f"{URL}/config/devices/device/{device_id}")
        page.get_by_text("剩余流量").first.wait_for()
        page.get_by_text("续费套餐").first.wait_for()
        shoot(page, "device-zh-Hans", whole_page=True)
    finally:
        set_languages(api, page, "en")


def set_languages(api: HomeAssistantApi, page: Page, language: str) -> None:
    """Set the server's and the browser user's language; reload the account's names."""
    api.ws("config/core/update", language=language)
    api.rest("POST", f"/api/config/config_entries/entry/{api.entry_id()}/reload")
    api.wait_for(api.entry_loaded, 30, "the Prepaid SIM account to reload")
    page.evaluate(f"localStorage.setItem('selectedLanguage', JSON.stringify({language!r}))")


def main() -> None:
    """Start Home Assistant, take the screenshots, stop it."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.parse_args()
    IMAGES.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    run = HomeAssistantRun("screenshots")
    try:
        token = run.start()
        print(f"Home Assistant is up after {time.monotonic() - started:.0f} s; screenshots:")
        api = HomeAssistantApi(URL, token)
        try:
            with sync_playwright() as playwright:
                browser = launch_browser(playwright)
                context = browser.new_context(
                    viewport=VIEWPORT, locale="en-US", timezone_id="UTC", device_scale_factor=1
                )
                page = context.new_page()
                page.set_default_timeout(30_000)
                try:
                    take(api, page)
                except Exception:
                    failed = REPO / "browser_tests" / "artifacts" / "screenshots-failure.png"
                    failed.parent.mkdir(parents=True, exist_ok=True)
                    page.screenshot(path=failed, full_page=True)
                    print(f"Failed; the page then: {failed}", file=sys.stderr)
                    raise
                finally:
                    browser.close()
        finally:
            api.close()
    finally:
        run.stop()
    print(f"Done in {time.monotonic() - started:.0f} s.")


if __name__ == "__main__":
    main()
