"""Hand-kept lines fed by Home Assistant: a data sensor, balance messages, renewal mails."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

from freezegun.api import FrozenDateTimeFactory
import pytest
from pytest_homeassistant_custom_component.common import async_fire_time_changed

from homeassistant.config_entries import SOURCE_USER, ConfigEntry, ConfigEntryState
from homeassistant.const import ATTR_UNIT_OF_MEASUREMENT
from homeassistant.core import HomeAssistant, State
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers import device_registry as dr, intent, issue_registry as ir
from homeassistant.setup import async_setup_component
from homeassistant.util import dt as dt_util

from custom_components.prepaid_sim.const import CONF_PROVIDER, DOMAIN
from custom_components.prepaid_sim.manual_sources import (
    LineSources,
    event_time,
    information_bytes,
    mail_amount,
    same_sender,
)
from custom_components.prepaid_sim.providers.base import Money
from custom_components.prepaid_sim.providers.manual import GIB

from .helpers import receipts, subentry_of

pytestmark = pytest.mark.freeze_time("2026-11-26T12:00:00+00:00")

ROUTER = "sensor.router_mobile_data"
USSD = "sensor.modem_ussd_answer"
MINT: dict[str, Any] = {
    "name": "Mint SIM",
    "carrier": "Mint Mobile",
    "plan_name": "5GB, 3 months",
    "price": 45,
    "currency": "USD",
    "allowance_gb": 5,
    "validity_days": 90,
    "expires_at": "2026-12-20 09:00:00",
}
MB = 1_000_000


async def _add_line(hass: HomeAssistant, **sections: dict[str, Any]) -> ConfigEntry:
    """Add the manual tracker with the Mint line and its sources, through the UI flow."""
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_PROVIDER: "manual"}
    )
    result = await hass.config_entries.flow.async_configure(result["flow_id"], {**MINT, **sections})
    assert result["type"] is FlowResultType.CREATE_ENTRY, result
    await hass.async_block_till_done(wait_background_tasks=True)
    return result["result"]


def _remaining_gib(hass: HomeAssistant) -> float:
    """Return the line's Data remaining, in GiB as the sensor shows it."""
    return float(hass.states.get("sensor.mint_sim_data_remaining").state)


async def _settle(hass: HomeAssistant, freezer: FrozenDateTimeFactory) -> None:
    """Let the coordinator's debounced refresh run."""
    freezer.tick(timedelta(seconds=11))
    async_fire_time_changed(hass)
    await hass.async_block_till_done(wait_background_tasks=True)


def _used(hass: HomeAssistant, megabytes: float, unit: str = "MB") -> None:
    """Set the router's mobile-data counter."""
    hass.states.async_set(ROUTER, str(megabytes), {ATTR_UNIT_OF_MEASUREMENT: unit})


async def test_data_from_a_counter_survives_resets_restarts_and_renewals(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory
) -> None:
    """A router's counter drives Data remaining: resets are counted, a renewal starts over."""
    _used(hass, 10_000)
    entry = await _add_line(hass, data_sensor={"usage_entity": ROUTER, "usage_kind": "used"})
    # Linked now: the data used so far this period is what the owner said (none).
    assert _remaining_gib(hass) == pytest.approx(5)
    _used(hass, 10_000 + 1_000)
    await _settle(hass, freezer)
    assert _remaining_gib(hass) == pytest.approx(5 - 1_000 * MB / GIB, abs=0.01)
    # The router rebooted: its counter starts again from zero; nothing is lost.
    _used(hass, 250)
    await _settle(hass, freezer)
    assert _remaining_gib(hass) == pytest.approx(5 - 1_250 * MB / GIB, abs=0.01)
    # Another unit: 0.5 GB more.
    _used(hass, 0.75, "GB")
    await _settle(hass, freezer)
    assert _remaining_gib(hass) == pytest.approx(5 - 1_750 * MB / GIB, abs=0.01)
    assert float(hass.states.get("sensor.mint_sim_data_used").state) == pytest.approx(
        1_750 * MB / GIB, abs=0.01
    )
    # A restart keeps the meter: the next reading continues the period's count.
    assert await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    assert _remaining_gib(hass) == pytest.approx(5 - 1_750 * MB / GIB, abs=0.01)
    _used(hass, 1, "GB")
    await _settle(hass, freezer)
    assert _remaining_gib(hass) == pytest.approx(5 - 2_000 * MB / GIB, abs=0.01)
    # Unreadable states change nothing.
    hass.states.async_set(ROUTER, "unavailable")
    hass.states.async_set(ROUTER, "12", {ATTR_UNIT_OF_MEASUREMENT: "dBm"})
    await _settle(hass, freezer)
    assert _remaining_gib(hass) == pytest.approx(5 - 2_000 * MB / GIB, abs=0.01)
    # A renewal (recorded with the Renew button) gives a new allowance and counts from zero.
    response = await hass.services.async_call(
        DOMAIN,
        "renew",
        {"device_id": _device(hass, entry)},
        blocking=True,
        return_response=True,
    )
    assert response["state"] == "succeeded"
    await hass.async_block_till_done(wait_background_tasks=True)
    assert _remaining_gib(hass) == pytest.approx(5)
    _used(hass, 1_100)
    await _settle(hass, freezer)
    assert _remaining_gib(hass) == pytest.approx(5 - 100 * MB / GIB, abs=0.01)


def _device(hass: HomeAssistant, entry: ConfigEntry) -> str:
    """Return the device id of the Mint line."""
    (device,) = dr.async_entries_for_config_entry(dr.async_get(hass), entry.entry_id)
    return device.id


async def test_data_left_from_a_sensor(hass: HomeAssistant, freezer: FrozenDateTimeFactory) -> None:
    """A sensor of data left (an ESPHome modem asking the carrier) is taken as it is."""
    hass.states.async_set(ROUTER, "3.5", {ATTR_UNIT_OF_MEASUREMENT: "GiB"})
    await _add_line(hass, data_sensor={"usage_entity": ROUTER, "usage_kind": "remaining"})
    assert _remaining_gib(hass) == pytest.approx(3.5)
    hass.states.async_set(ROUTER, "400", {ATTR_UNIT_OF_MEASUREMENT: "MiB"})
    await _settle(hass, freezer)
    assert _remaining_gib(hass) == pytest.approx(400 / 1024, abs=0.01)
    # Low data follows, as for any line.
    assert hass.states.get("binary_sensor.mint_sim_low_data").state == "on"


async def test_balance_sms_updates_the_line_and_unreadable_ones_are_shown(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory
) -> None:
    """The carrier's balance SMS sets data, balance and expiry; an unreadable one a repair."""
    entry = await _add_line(
        hass, balance_messages={"message_sender": "6700", "message_rule": "mint_mobile"}
    )
    registry = ir.async_get(hass)
    hass.bus.async_fire(
        "sms.incoming_sms",
        {
            "phone": "+16700",
            "date": "2026-11-26 12:00:00",
            "text": "You have 2.5GB of high-speed data remaining. Your plan expires on 01/15/2027.",
        },
    )
    await _settle(hass, freezer)
    assert _remaining_gib(hass) == pytest.approx(2.5)
    expiry = dt_util.parse_datetime(hass.states.get("sensor.mint_sim_plan_expiry").state)
    assert dt_util.as_local(expiry).date().isoformat() == "2027-01-15"
    # Saved with the line: a restart keeps what the message said.
    assert await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    assert _remaining_gib(hass) == pytest.approx(2.5)
    # Another sender's message is not the carrier's: ignored.
    hass.bus.async_fire(
        "sms.incoming_sms", {"phone": "+15550123", "date": "", "text": "You have 0GB remaining."}
    )
    await _settle(hass, freezer)
    assert _remaining_gib(hass) == pytest.approx(2.5)
    # The carrier's promotion reads as nothing: a repair shows what arrived.
    hass.bus.async_fire(
        "sms.incoming_sms", {"phone": "6700", "date": "", "text": "Refer a friend and get $15!"}
    )
    await _settle(hass, freezer)
    issue_id = f"{entry.entry_id}_message_unread_{subentry_of(entry, _line_id(entry))}"
    issue = registry.async_get_issue(DOMAIN, issue_id)
    assert issue is not None
    assert issue.translation_placeholders["text"] == "Refer a friend and get $15!"
    assert _remaining_gib(hass) == pytest.approx(2.5)
    # The next readable message clears it.
    hass.bus.async_fire(
        "sms.incoming_sms",
        {"phone": "6700", "date": "", "text": "You have 1GB of high-speed data remaining."},
    )
    await _settle(hass, freezer)
    assert registry.async_get_issue(DOMAIN, issue_id) is None
    assert _remaining_gib(hass) == pytest.approx(1)


def _line_id(entry: ConfigEntry) -> str:
    """Return the manual line's id."""
    (subentry,) = entry.subentries.values()
    return str(subentry.data["line_id"])


async def test_ussd_answer_from_a_text_sensor_and_own_pattern(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory
) -> None:
    """A modem's USSD answer in a sensor is read by the owner's pattern, dates day first."""
    await _add_line(
        hass,
        balance_messages={
            "message_entity": USSD,
            "message_pattern": r"Bal (?P<balance>\$[\d.]+).*?(?P<data>[\d.]+ ?MB).*?till (?P<expires>[\d/]+)",
            "date_order": "day_first",
        },
    )
    hass.states.async_set(USSD, "Bal $7.25; 800 MB till 05/01/2027")
    await _settle(hass, freezer)
    assert _remaining_gib(hass) == pytest.approx(800 / 1024, abs=0.01)
    assert float(hass.states.get("sensor.mint_sim_balance").state) == pytest.approx(7.25)
    expiry = dt_util.parse_datetime(hass.states.get("sensor.mint_sim_plan_expiry").state)
    # Day first: 5 January.
    assert dt_util.as_local(expiry).date().isoformat() == "2027-01-05"


async def test_invalid_pattern_is_refused_in_the_form(hass: HomeAssistant) -> None:
    """A pattern that is no regular expression, or names nothing to read, is refused."""
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_PROVIDER: "manual"}
    )
    for pattern in ("Bal (", r"Bal \$\d+"):
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"], {**MINT, "balance_messages": {"message_pattern": pattern}}
        )
        assert result["type"] is FlowResultType.FORM
        assert result["errors"] == {"base": "invalid_pattern"}


MAIL = {
    "server": "imap.example.com",
    "username": "me@example.com",
    "search": "UnSeen UnDeleted",
    "folder": "INBOX",
    "initial": True,
    "sender": "Mint Mobile <no-reply@mintmobile.com>",
    "subject": "Your plan has been renewed",
    "uid": "41",
    "text": "Thanks! Order total: $45.00. Your 5GB plan runs for 3 more months.",
}


async def test_renewal_mail_records_one_receipt_and_moves_the_expiry(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory
) -> None:
    """A matching confirmation mail records the receipt once; others record nothing."""
    await _add_line(
        hass, renewal_mail={"email_sender": "mintmobile.com", "email_subject": "renewed"}
    )
    before = hass.states.get("sensor.mint_sim_plan_expiry").state
    hass.bus.async_fire("imap_content", {**MAIL, "subject": "Your monthly newsletter"})
    await _settle(hass, freezer)
    assert await receipts(hass) == []
    assert hass.states.get("sensor.mint_sim_plan_expiry").state == before
    date = dt_util.utcnow()
    hass.bus.async_fire("imap_content", {**MAIL, "date": date})
    await _settle(hass, freezer)
    # The IMAP integration fires the same mail again (initial False): nothing new.
    hass.bus.async_fire("imap_content", {**MAIL, "date": date, "initial": False})
    await _settle(hass, freezer)
    (receipt,) = await receipts(hass)
    assert (receipt["price"], receipt["currency"], receipt["caller"]) == ("45.00", "USD", "email")
    expiry = dt_util.parse_datetime(hass.states.get("sensor.mint_sim_plan_expiry").state)
    assert expiry == dt_util.parse_datetime(before) + timedelta(days=90)


async def test_mail_confirming_a_renewal_recorded_here_adds_nothing(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory
) -> None:
    """Renew pressed here, then the carrier's mail: one renewal, not two."""
    entry = await _add_line(hass, renewal_mail={"email_subject": "renewed"})
    response = await hass.services.async_call(
        DOMAIN, "renew", {"device_id": _device(hass, entry)}, blocking=True, return_response=True
    )
    assert response["state"] == "succeeded"
    expiry = hass.states.get("sensor.mint_sim_plan_expiry").state
    freezer.tick(timedelta(hours=3))
    hass.bus.async_fire("imap_content", {**MAIL, "date": dt_util.utcnow().isoformat()})
    await _settle(hass, freezer)
    assert len(await receipts(hass)) == 1
    assert hass.states.get("sensor.mint_sim_plan_expiry").state == expiry


async def _issues(hass: HomeAssistant, entry: ConfigEntry) -> set[str]:
    """Return the kinds of the line's open repair issues."""
    subentry_id = subentry_of(entry, _line_id(entry))
    prefix = f"{entry.entry_id}_"
    return {
        issue_id.removeprefix(prefix).removesuffix(f"_{subentry_id}")
        for (domain, issue_id) in ir.async_get(hass).issues
        if domain == DOMAIN and issue_id.startswith(prefix) and issue_id.endswith(subentry_id)
    }


async def _move_to(hass: HomeAssistant, freezer: FrozenDateTimeFactory, when: Any) -> None:
    """Move the clock; timers due by then run."""
    freezer.move_to(when)
    async_fire_time_changed(hass)
    await hass.async_block_till_done(wait_background_tasks=True)


async def _spoken_status(hass: HomeAssistant) -> str:
    """Return what voice answers when asked about the line."""
    assert await async_setup_component(hass, "intent", {})
    await hass.async_block_till_done()
    response = await intent.async_handle(
        hass, "test", "PrepaidSimLineStatus", {"line": {"value": "Mint SIM"}}, language="en"
    )
    return str(response.speech["plain"]["speech"])


async def test_keep_alive_and_renewal_window_warn(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory
) -> None:
    """A keep-alive date and a renewal window show in repairs, the alert, voice and calendar."""
    # Plan: 90 days to 2026-12-20 17:00 UTC, so last recharged 2026-09-21 17:00; the number
    # must be recharged within 85 days (by 2026-12-15 17:00); renewals open a day before expiry.
    entry = await _add_line(hass, carrier_rules={"keep_alive_days": 85, "renewal_window_days": 1})
    expires = dt_util.parse_datetime("2026-12-20T17:00:00+00:00")
    keep_alive_by = dt_util.parse_datetime("2026-12-15T17:00:00+00:00")
    assert dt_util.parse_datetime(hass.states.get("sensor.mint_sim_plan_expiry").state) == expires
    assert hass.states.get("binary_sensor.mint_sim_expiring_soon").state == "off"
    assert await _issues(hass, entry) == set()
    calendar = "calendar.expiries_of_manual_lines"
    events = await hass.services.async_call(
        "calendar",
        "get_events",
        {"entity_id": calendar, "duration": {"days": 60}},
        blocking=True,
        return_response=True,
    )
    by_summary = {event["summary"]: event for event in events[calendar]["events"]}
    assert sorted(by_summary) == [
        "Mint SIM: plan ends",
        "Mint SIM: renewal window",
        "Recharge Mint SIM to keep its number",
    ]
    keep_alive = by_summary["Recharge Mint SIM to keep its number"]
    assert dt_util.parse_datetime(keep_alive["start"]) == keep_alive_by
    window = by_summary["Mint SIM: renewal window"]
    assert dt_util.parse_datetime(window["start"]) == expires - timedelta(days=1)
    assert dt_util.parse_datetime(window["end"]) == expires
    # Two days before the keep-alive date: Expiring soon, a keep-alive repair, and voice says it.
    await _move_to(hass, freezer, keep_alive_by - timedelta(days=2))
    assert hass.states.get("binary_sensor.mint_sim_expiring_soon").state == "on"
    assert await _issues(hass, entry) == {"line_keep_alive"}
    spoken = await _spoken_status(hass)
    assert "Recharge Mint SIM by 2026-12-15 to keep its number." in spoken
    assert "The carrier accepts the renewal from 2026-12-19." in spoken
    # Two days before expiry the plan is expiring, but renewals open only tomorrow.
    await _move_to(hass, freezer, expires - timedelta(days=2))
    assert await _issues(hass, entry) == {"line_keep_alive", "line_renewal_window"}
    # The window opens: the usual expiring repair (with its Renew fix) takes over.
    await _move_to(hass, freezer, expires - timedelta(hours=20))
    assert await _issues(hass, entry) == {"line_keep_alive", "line_expiring"}
    # Recorded renewal: recharged now, so the number is safe for 85 more days.
    response = await hass.services.async_call(
        DOMAIN, "renew", {"device_id": _device(hass, entry)}, blocking=True, return_response=True
    )
    assert response["state"] == "succeeded"
    await hass.async_block_till_done(wait_background_tasks=True)
    assert await _issues(hass, entry) == set()
    assert hass.states.get("binary_sensor.mint_sim_expiring_soon").state == "off"
    assert "Recharge Mint SIM by 2027-03-14" in await _spoken_status(hass)


async def test_sources_change_without_a_reload(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory
) -> None:
    """The line's settings link a sensor later; it is followed at once, with no reload."""
    entry = await _add_line(hass)
    subentry_id = next(iter(entry.subentries))
    hass.states.async_set(ROUTER, "2", {ATTR_UNIT_OF_MEASUREMENT: "GiB"})
    result = await hass.config_entries.subentries.async_init(
        (entry.entry_id, "line"), context={"source": "reconfigure", "subentry_id": subentry_id}
    )
    assert result["type"] is FlowResultType.FORM
    settings = {
        "low_data_percent": 10,
        "expiry_warning_days": 7,
        "auto_renew": "off",
        "auto_renew_max_per_month": 1,
        "auto_renew_hours_before_expiry": 24,
    }
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"],
        {**settings, "balance_messages": {"message_pattern": "no groups"}},
    )
    assert result["errors"] == {"base": "invalid_pattern"}
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"],
        {**settings, "data_sensor": {"usage_entity": ROUTER, "usage_kind": "remaining"}},
    )
    assert result["reason"] == "reconfigure_successful"
    await _settle(hass, freezer)
    assert entry.state is ConfigEntryState.LOADED
    assert _remaining_gib(hass) == pytest.approx(2)
    assert entry.subentries[subentry_id].data["usage_entity"] == ROUTER
    assert entry.subentries[subentry_id].data["name"] == "Mint SIM"


async def test_counter_feeds_the_forecast_and_suggestion(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory
) -> None:
    """Readings of a counter over hours give a run-out time and a suggested package."""
    _used(hass, 0, "GiB")
    await _add_line(hass, data_sensor={"usage_entity": ROUTER})
    run_out = "sensor.mint_sim_estimated_data_run_out"
    assert hass.states.get(run_out).state == "unknown"
    # 0.0125 GiB an hour: the 5 GiB last 400 hours from the first reading, about 17 days,
    # while the plan runs 24 more days.
    for hour in range(1, 4):
        freezer.tick(timedelta(hours=1))
        _used(hass, hour * 0.0125, "GiB")
        await _settle(hass, freezer)
    assert _remaining_gib(hass) == pytest.approx(5 - 0.0375)
    expected = dt_util.utcnow() + timedelta(hours=397)
    estimate = dt_util.parse_datetime(hass.states.get(run_out).state)
    assert abs(estimate - expected) < timedelta(hours=1)
    # The data runs out before the plan ends: renewing with the plan covers the rest.
    assert hass.states.get("sensor.mint_sim_suggested_package").state == "5GB, 3 months"


async def test_balance_text_corrects_a_counter_fed_line(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory
) -> None:
    """The carrier's figure wins over the counter's; the counter then counts on from it."""
    _used(hass, 0, "GiB")
    await _add_line(
        hass,
        data_sensor={"usage_entity": ROUTER},
        balance_messages={"message_sender": "6700", "message_rule": "mint_mobile"},
    )
    _used(hass, 1, "GiB")
    await _settle(hass, freezer)
    assert _remaining_gib(hass) == pytest.approx(4)
    hass.bus.async_fire(
        "sms.incoming_sms",
        {"phone": "6700", "date": "", "text": "You have 2GB of high-speed data remaining."},
    )
    await _settle(hass, freezer)
    assert _remaining_gib(hass) == pytest.approx(2)
    _used(hass, 1.5, "GiB")
    await _settle(hass, freezer)
    assert _remaining_gib(hass) == pytest.approx(1.5)


def test_sender_amount_time_and_unit_readers(hass: HomeAssistant) -> None:
    """The small readers: senders by digits or name, a mail's total, times, sensor units."""
    assert same_sender("6700", "+1 (555) 010-6700")
    assert same_sender("+16700", "6700")
    assert not same_sender("6700", "+15550123")
    assert same_sender("Mint", " mint ")
    assert not same_sender("Mint", "Tello")
    assert mail_amount("Order total: $45.00", currency="USD") == Money(Decimal("45.00"), "USD")
    assert mail_amount("Renewed", "Thanks for your $1,015.5 payment", currency="USD") == Money(
        Decimal("1015.5"), "USD"
    )
    assert mail_amount("Your plan was renewed.", currency="USD") is None
    local_noon = dt_util.parse_datetime("2026-11-26 12:00:00").replace(
        tzinfo=dt_util.get_default_time_zone()
    )
    assert event_time("2026-11-26 12:00:00") == dt_util.as_utc(local_noon)
    assert event_time(None) == dt_util.utcnow()
    assert event_time("not a date") == dt_util.utcnow()
    assert information_bytes(State("sensor.x", "1.5", {ATTR_UNIT_OF_MEASUREMENT: "kB"})) == 1500
    assert information_bytes(State("sensor.x", "2")) == 2 * MB
    assert information_bytes(State("sensor.x", "lots")) is None
    assert information_bytes(State("sensor.x", "unknown")) is None
    assert LineSources.from_data("l", {"date_order": "sideways"}).date_order == "month_first"


async def test_a_damaged_stored_pattern_shows_the_message(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory
) -> None:
    """A pattern saved outside the form that no longer compiles reads nothing, shown in a repair."""
    entry = await _add_line(hass, balance_messages={"message_sender": "6700"})
    subentry = next(iter(entry.subentries.values()))
    hass.config_entries.async_update_subentry(
        entry, subentry, data={**subentry.data, "message_pattern": "(?P<balance>"}
    )
    await hass.async_block_till_done(wait_background_tasks=True)
    hass.bus.async_fire(
        "sms.incoming_sms", {"phone": "6700", "text": "You have 1GB of data remaining."}
    )
    await _settle(hass, freezer)
    assert "message_unread" in await _issues(hass, entry)
    assert _remaining_gib(hass) == pytest.approx(5)
    # Mails for no line's rule are passed over.
    hass.bus.async_fire("imap_content", MAIL)
    await _settle(hass, freezer)
    assert await receipts(hass) == []
