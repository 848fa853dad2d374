"""The demo account through Home Assistant's own web page, as a person would use it.

A line is removed through the websocket API, added back with the "Add line" dialog of the
integration page, its device page is checked against the REST API, and it is renewed from
a dashboard button that asks for confirmation first; then Home Assistant is stopped and
script/run run again, and the demo must continue where it left (wallet, expiry, receipts).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from decimal import Decimal
import re
from typing import Any

from playwright.sync_api import Page, expect

from .harness import URL, HomeAssistantApi, HomeAssistantRun, login

LINE = "Europe eSIM"
SLUG = "europe_esim"
DATA_REMAINING = f"sensor.{SLUG}_data_remaining"
PLAN_EXPIRY = f"sensor.{SLUG}_plan_expiry"
STATUS = f"sensor.{SLUG}_status"
BALANCE = f"sensor.{SLUG}_balance"
DASHBOARD = "prepaid-sim-browser-test"
CONFIRMATION = f"Renew {LINE} now? This buys its package once."

# Every entity row of the page (cards and the device page render them the same way):
# entity id -> the name and the value the row shows, read through the shadow roots.
ENTITY_ROWS_JS = """() => {
    const text = (node) => {
        if (node.nodeType === Node.TEXT_NODE) return node.textContent;
        if (node.nodeType !== Node.ELEMENT_NODE || ["STYLE", "SCRIPT"].includes(node.tagName))
            return "";
        let out = "";
        if (node.shadowRoot) for (const child of node.shadowRoot.childNodes) out += text(child);
        for (const child of node.childNodes) out += " " + text(child);
        return out;
    };
    const clean = (s) => s.replace(/\\s+/g, " ").trim();
    const rows = {};
    const visit = (root) => {
        for (const el of root.querySelectorAll("*")) {
            if (el.tagName === "HUI-GENERIC-ENTITY-ROW" && el.config && el.config.entity) {
                const info = el.shadowRoot && el.shadowRoot.querySelector(".info");
                rows[el.config.entity] = {
                    name: info ? clean(text(info)) : "",
                    value: clean([...el.childNodes].map(text).join(" ")),
                };
            }
            if (el.shadowRoot) visit(el.shadowRoot);
        }
    };
    visit(document);
    return rows;
}"""

UNIT_SECONDS = {
    "second": 1,
    "minute": 60,
    "hour": 3600,
    "day": 86400,
    "week": 7 * 86400,
    "month": 30 * 86400,
    "year": 365 * 86400,
}


@contextmanager
def step(name: str) -> Iterator[None]:
    """Name the step in the failure message of anything that fails inside it."""
    try:
        yield
    except Exception as err:
        raise AssertionError(f"Step '{name}' failed: {err}") from err


def shown_rows(page: Page, entity_ids: list[str], timeout: float = 20) -> dict[str, Any]:
    """Return the rows the page shows for ``entity_ids``, waiting until all have values."""
    rows: dict[str, Any] = {}

    def ready() -> bool:
        nonlocal rows
        rows = page.evaluate(ENTITY_ROWS_JS)
        return all(rows.get(entity_id, {}).get("value") for entity_id in entity_ids)

    deadline = datetime.now(UTC) + timedelta(seconds=timeout)
    while not ready():
        if datetime.now(UTC) > deadline:
            raise AssertionError(
                f"The page does not show all of {entity_ids}; it shows {sorted(rows)}"
            )
        page.wait_for_timeout(250)  # poll the page's own rendering
    return rows


def wait_for_row(page: Page, entity_id: str, expected: str, timeout: float = 20) -> str:
    """Wait until the page's row of ``entity_id`` shows ``expected``; return it."""
    deadline = datetime.now(UTC) + timedelta(seconds=timeout)
    while (shown := shown_rows(page, [entity_id])[entity_id]["value"]) != expected:
        if datetime.now(UTC) > deadline:
            raise AssertionError(f"the page shows {entity_id} as {shown!r}, not {expected!r}")
        page.wait_for_timeout(250)  # poll the page's own rendering
    return shown


def number_in(text: str) -> float:
    """Return the first number in ``text`` ("$60.00" -> 60.0, "3.35 GiB" -> 3.35)."""
    match = re.search(r"-?\d[\d,]*(?:\.\d+)?", text)
    assert match, f"no number in {text!r}"
    return float(match.group().replace(",", ""))


def check_relative_time(shown: str, when: datetime) -> None:
    """Check that "In 3 days" / "In 2 weeks" agrees with ``when`` (to the unit shown)."""
    words = {"tomorrow": "in 1 day", "next week": "in 1 week", "next month": "in 1 month"}
    text = words.get(shown.lower(), shown.lower())
    match = re.fullmatch(r"in (\d+|an?) (second|minute|hour|day|week|month|year)s?", text)
    assert match, f"expected a relative time in the future, the page shows {shown!r}"
    count = 1 if match.group(1) in {"a", "an"} else int(match.group(1))
    unit_seconds = UNIT_SECONDS[match.group(2)]
    seconds = (when - datetime.now(UTC)).total_seconds()
    assert abs(seconds - count * unit_seconds) <= unit_seconds, (
        f"the page shows {shown!r}, but the REST API's expiry {when.isoformat()} "
        f"is {seconds / 86400:.1f} days away"
    )


def expiry_of(api: HomeAssistantApi) -> datetime:
    """Return the line's plan expiry from the REST API."""
    state = api.state(PLAN_EXPIRY)
    assert state is not None, f"{PLAN_EXPIRY} does not exist"
    return datetime.fromisoformat(state["state"])


def test_add_line_check_device_page_and_renew_with_confirmation(
    page: Page, api: HomeAssistantApi
) -> None:
    """Remove a line, add it back in the UI, compare its device page, renew from a card."""
    entry_id = api.entry_id()

    with step(f"remove {LINE} through config_entries/subentries/delete"):
        subentries = api.subentries()
        assert LINE in subentries, f"{LINE} is not tracked; tracked: {sorted(subentries)}"
        api.ws(
            "config_entries/subentries/delete",
            entry_id=entry_id,
            subentry_id=subentries[LINE],
        )
        api.wait_for(lambda: api.state(PLAN_EXPIRY) is None, 30, f"{PLAN_EXPIRY} to go away")
        api.wait_for(api.entry_loaded, 30, "the account to reload without the line")

    with step("log in through the login page"):
        login(page)

    with step("open Settings > Devices & services > Prepaid SIM"):
        page.locator("ha-sidebar").get_by_text("Settings", exact=True).click()
        page.get_by_text("Devices & services", exact=True).first.click()
        page.wait_for_url("**/config/integrations/dashboard")
        page.locator("ha-integration-card").filter(has_text="Prepaid SIM").first.click()
        page.wait_for_url("**/config/integrations/integration/prepaid_sim")

    with step(f"add {LINE} back with the 'Add line' dialog"):
        page.get_by_role("button", name="Add line").click()
        dialog = page.locator("dialog-data-entry-flow")
        expect(dialog.get_by_text("Add a line")).to_be_visible()
        radio = dialog.get_by_role("radio", name=re.compile(rf"^{re.escape(LINE)}\b"))
        radio.check()
        dialog.get_by_role("button", name="Submit").click()
        expect(dialog.get_by_text(f"Created configuration for {LINE}.")).to_be_visible()
        dialog.get_by_role("button", name="Finish").click()
        expect(dialog.get_by_role("button", name="Finish")).to_be_hidden()
        api.wait_for(
            lambda: (s := api.state(PLAN_EXPIRY)) and s["state"] not in {"unknown", "unavailable"},
            30,
            f"{PLAN_EXPIRY} to have a value again",
        )
        assert LINE in api.subentries(), f"{LINE} was not added back"

    with step(f"open {LINE}'s device page and compare it with the REST API"):
        device_id = api.device_id(LINE)
        # The line's device row, under its subentry: "Europe eSIM  Europe 5 GB, 15 days ...".
        page.get_by_role("button", name=re.compile(rf"^{re.escape(LINE)}\b")).click()
        page.wait_for_url(f"**/config/devices/device/{device_id}")
        expect(page.locator("ha-config-device-page").get_by_text(LINE).first).to_be_visible()
        entities = [DATA_REMAINING, PLAN_EXPIRY, STATUS, BALANCE]
        rows = shown_rows(page, entities)
        states = api.states()
        translations = api.ws(
            "frontend/get_translations",
            language="en",
            category="entity",
            integration=["prepaid_sim"],
        )["resources"]
        for entity_id in entities:
            friendly = states[entity_id]["attributes"]["friendly_name"]
            assert friendly == f"{LINE} {rows[entity_id]['name']}", (
                f"{entity_id}: the page names it {rows[entity_id]['name']!r}, "
                f"the REST API {friendly!r}"
            )

        remaining = states[DATA_REMAINING]
        shown = rows[DATA_REMAINING]["value"]
        unit = remaining["attributes"]["unit_of_measurement"]
        assert shown.endswith(unit), f"data remaining shows {shown!r}, unit is {unit}"
        assert abs(number_in(shown) - float(remaining["state"])) < 0.011, (
            f"data remaining: the page shows {shown!r}, the REST API {remaining['state']} {unit}"
        )

        status = states[STATUS]["state"]
        label = translations.get(f"component.prepaid_sim.entity.sensor.status.state.{status}")
        assert label, f"status {status!r} has no translation"
        assert rows[STATUS]["value"] == label, (
            f"status: the page shows {rows[STATUS]['value']!r}, the REST API {status!r} ({label!r})"
        )

        balance = states[BALANCE]
        assert abs(number_in(rows[BALANCE]["value"]) - float(balance["state"])) < 0.005, (
            f"balance: the page shows {rows[BALANCE]['value']!r}, the REST API {balance['state']}"
        )

        check_relative_time(rows[PLAN_EXPIRY]["value"], expiry_of(api))

    with step("the device page offers no one-click purchase: its Renew button is opt-in"):
        registry = api.ws("config/entity_registry/list")
        renew = [
            item
            for item in registry
            if item["device_id"] == device_id and item["entity_id"].startswith("button.")
        ]
        assert renew, f"{LINE} has no Renew button in the entity registry"
        assert all(item["disabled_by"] == "integration" for item in renew), renew
        assert api.state(renew[0]["entity_id"]) is None, "a disabled Renew button has a state"

    with step("create a dashboard with a Renew button that asks for confirmation"):
        api.ws(
            "lovelace/dashboards/create",
            url_path=DASHBOARD,
            title="Renew test",
            icon="mdi:sim",
            mode="storage",
            show_in_sidebar=True,
            require_admin=False,
        )
        api.ws(
            "lovelace/config/save",
            url_path=DASHBOARD,
            config={
                "views": [
                    {
                        "title": LINE,
                        "path": "line",
                        "cards": [
                            {
                                "type": "button",
                                "name": f"Renew {LINE}",
                                "icon": "mdi:sim-alert",
                                "tap_action": {
                                    "action": "perform-action",
                                    "perform_action": "prepaid_sim.renew",
                                    "data": {"device_id": device_id},
                                    "confirmation": {"text": CONFIRMATION},
                                },
                            },
                            {
                                "type": "entities",
                                "entities": [
                                    {"entity": PLAN_EXPIRY, "format": "date"},
                                    DATA_REMAINING,
                                    STATUS,
                                ],
                            },
                        ],
                    }
                ]
            },
        )

    with step("quote the renewal with a dry run"):
        before = expiry_of(api)
        quote = api.rest(
            "POST",
            "/api/services/prepaid_sim/renew?return_response",
            {"device_id": device_id, "dry_run": True},
        )["service_response"]
        quoted = datetime.fromisoformat(quote["new_expires_at"])
        assert quoted > before, f"the quote {quote} does not move the expiry past {before}"

    with step("renew from the dashboard, accepting the confirmation"):
        page.goto(f"{URL}/{DASHBOARD}/line")
        shown_before = shown_rows(page, [PLAN_EXPIRY])[PLAN_EXPIRY]["value"]
        assert shown_before == f"{before:%B} {before.day}, {before.year}", (
            f"the card shows expiry {shown_before!r}, the REST API {before.isoformat()}"
        )
        page.get_by_text(f"Renew {LINE}", exact=True).click()
        confirm = page.locator("dialog-box")
        expect(confirm.get_by_text(CONFIRMATION)).to_be_visible()
        assert expiry_of(api) == before, "the line was renewed before the confirmation"
        confirm.get_by_role("button", name="OK").click()
        expect(confirm.get_by_text(CONFIRMATION)).to_be_hidden()

    with step("see the plan expiry move, in the REST API and on the page"):
        after = api.wait_for(
            lambda: (moved := expiry_of(api)) > before and moved,
            30,
            f"{PLAN_EXPIRY} to move past {before.isoformat()}",
        )
        assert abs(after - quoted) < timedelta(minutes=1), (
            f"the expiry moved to {after.isoformat()}, the quote said {quoted.isoformat()}"
        )
        expected = f"{after:%B} {after.day}, {after.year}"
        shown_after = wait_for_row(page, PLAN_EXPIRY, expected)
        assert shown_after != shown_before, f"the card still shows {shown_before!r}"


def test_dashboard_out_of_the_box(page: Page, api: HomeAssistantApi) -> None:
    """script/run made the Prepaid SIM dashboard: every line, data without a fixed maximum."""
    with step("find the dashboard script/run created"):
        boards = api.ws("lovelace/dashboards/list")
        assert any(board["url_path"] == "prepaid-sim" for board in boards), boards

    with step("open it and see a section per line"):
        login(page)
        page.goto(f"{URL}/prepaid-sim/lines")
        for name in api.subentries():
            expect(page.get_by_text(name, exact=True).first).to_be_visible(timeout=30_000)

    with step("data remaining is a history card (no gauge that a top-up could peg)"):
        config = api.ws("lovelace/config", url_path="prepaid-sim")
        cards = [
            card
            for section in config["views"][0]["sections"]
            for card in section["cards"]
            if card.get("entity", "").endswith("_data_remaining")
        ]
        assert cards, "no data-remaining card"
        assert {card["type"] for card in cards} == {"sensor"}
        expect(page.locator("hui-sensor-card").first).to_be_visible(timeout=30_000)


def test_device_page_in_simplified_chinese(page: Page, api: HomeAssistantApi) -> None:
    """With the server and the user in zh-Hans, a line's page reads in Chinese, fonts and all."""
    entry_id = api.entry_id()
    device_id = api.device_id("US Travel SIM")

    def set_languages(language: str) -> None:
        api.ws("config/core/update", language=language)
        api.rest("POST", f"/api/config/config_entries/entry/{entry_id}/reload")
        api.wait_for(api.entry_loaded, 30, "the account to reload in the new language")

    try:
        with step("switch the server to Simplified Chinese and reload the account"):
            set_languages("zh-Hans")
            state = api.state("sensor.us_travel_sim_data_remaining")
            assert state is not None
            assert state["attributes"]["friendly_name"] == "US Travel SIM 剩余流量"
            status = api.state("sensor.us_travel_sim_status")
            assert status is not None
            assert status["state"] == "active"

        with step("open the device page as a zh-Hans user"):
            login(page)
            page.evaluate("localStorage.setItem('selectedLanguage', JSON.stringify('zh-Hans'))")
            page.goto(f"{URL}/config/devices/device/{device_id}")
            expect(page.get_by_text("剩余流量").first).to_be_visible(timeout=30_000)
            # Active reads 使用中, distinct from 正常 (a problem sensor that is off).
            expect(page.get_by_text("使用中").first).to_be_visible()
            expect(page.get_by_text("续费套餐").first).to_be_visible()
    finally:
        set_languages("en")


def test_demo_remembers_after_restart(
    page: Page, api: HomeAssistantApi, home_assistant: HomeAssistantRun
) -> None:
    """Ctrl+C and script/run again: wallet, expiries and receipts continue, order ids too."""

    def renewals() -> list[dict[str, Any]]:
        answer = api.rest("POST", "/api/services/prepaid_sim/get_renewals?return_response", {})[
            "service_response"
        ]
        return list(answer["renewals"])

    with step("note the wallet, the expiry and the receipts before the restart"):
        balance = api.state(BALANCE)
        assert balance is not None
        expiry = expiry_of(api)
        receipts = renewals()
        # The first test renewed the line from a dashboard.
        assert receipts, "no renewal on record before the restart"
        order_ids = {receipt["order_id"] for receipt in receipts}

    with step("stop Home Assistant and run script/run again in the same folder"):
        home_assistant.restart()
        api.reconnect()
        api.wait_for(
            lambda: (s := api.state(BALANCE)) and s["state"] not in {"unknown", "unavailable"},
            60,
            f"{BALANCE} to have a value after the restart",
        )

    with step("the wallet, the expiry and the receipts are those of before"):
        after = api.state(BALANCE)
        assert after is not None
        assert after["state"] == balance["state"], (
            f"the wallet was {balance['state']} before the restart, {after['state']} after"
        )
        assert expiry_of(api) == expiry, "the line's expiry changed across the restart"
        assert [r["order_id"] for r in renewals()] == [r["order_id"] for r in receipts]

    with step("the dashboard still shows the renewed expiry"):
        login(page)
        page.goto(f"{URL}/{DASHBOARD}/line")
        wait_for_row(page, PLAN_EXPIRY, f"{expiry:%B} {expiry.day}, {expiry.year}")

    with step("a renewal after the restart gets a new order id and spends from the same wallet"):
        device_id = api.device_id(LINE)
        receipt = api.rest(
            "POST",
            "/api/services/prepaid_sim/renew?return_response",
            {"device_id": device_id, "allow_repeat": True},  # the first test renewed it already
        )["service_response"]
        assert receipt["state"] == "succeeded", receipt
        assert receipt["order_id"] not in order_ids, (
            f"order id {receipt['order_id']} repeats one from before the restart"
        )
        spent = Decimal(str(receipt["price"]))
        api.wait_for(
            lambda: Decimal(api.state(BALANCE)["state"]) == Decimal(balance["state"]) - spent,
            30,
            f"the wallet to drop by {spent} from {balance['state']}",
        )
