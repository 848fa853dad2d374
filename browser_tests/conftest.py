"""Fixtures of the browser tests: a real Home Assistant, its APIs and a logged-in browser.

Run them with (see pytest.ini for why the "homeassistant" plugin is off):
    uv run --group browser pytest -c browser_tests/pytest.ini browser_tests
Chromium and Playwright come from script/browser-setup.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
import re
import shutil

from playwright.sync_api import Page, sync_playwright
import pytest

from .harness import CHROMIUM, URL, VIEWPORT, HomeAssistantApi, HomeAssistantRun, launch_browser

ARTIFACTS = Path(__file__).parent / "artifacts"
CALL_FAILED = pytest.StashKey[bool]()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> object:
    """Remember whether the test body failed, for the fixtures' teardown."""
    report = yield
    if report.when == "call":
        item.stash[CALL_FAILED] = report.failed
    return report


def _artifact_name(node: pytest.Item) -> str:
    """Return a file-name-safe name for the test."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", node.name)


@pytest.fixture(scope="session")
def home_assistant() -> Iterator[HomeAssistantRun]:
    """Start Home Assistant through script/run in .run/browser-test; stop it at the end."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: run script/browser-setup first")
    run = HomeAssistantRun("browser-test")
    try:
        run.start()
        yield run
    finally:
        run.stop()


@pytest.fixture(scope="session")
def api(home_assistant: HomeAssistantRun) -> Iterator[HomeAssistantApi]:
    """REST and websocket access with the token script/run wrote, every demo line tracked."""
    client = HomeAssistantApi(URL, home_assistant.token_path.read_text(encoding="utf-8").strip())
    try:
        # script/run's quick start can stop early while the account reloads between lines.
        client.ensure_all_lines()
        yield client
    finally:
        client.close()


@pytest.fixture
def page(request: pytest.FixtureRequest, home_assistant: HomeAssistantRun) -> Iterator[Page]:
    """Yield a fresh headless Chromium page; a failed test leaves a screenshot and the log."""
    errors: list[str] = []
    with sync_playwright() as playwright:
        browser = launch_browser(playwright)
        context = browser.new_context(viewport=VIEWPORT, locale="en-US", timezone_id="UTC")
        new_page = context.new_page()
        new_page.set_default_timeout(20_000)
        new_page.on("pageerror", lambda error: errors.append(str(error)))
        try:
            yield new_page
        finally:
            if request.node.stash.get(CALL_FAILED, False):
                ARTIFACTS.mkdir(exist_ok=True)
                name = _artifact_name(request.node)
                shot = ARTIFACTS / f"{name}.png"
                new_page.screenshot(path=shot, full_page=True)
                log = home_assistant.config_path / "home-assistant.log"
                if log.exists():
                    shutil.copyfile(log, ARTIFACTS / f"{name}-home-assistant.log")
                print(f"\nScreenshot of the failure: {shot}")  # noqa: T201
                if errors:
                    print("Errors on the page:\n  " + "\n  ".join(errors))  # noqa: T201
            browser.close()
