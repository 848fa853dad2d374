"""The account's expiry calendar: plan ends and renewals, for the card and for triggers."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from freezegun.api import FrozenDateTimeFactory
import pytest
from pytest_homeassistant_custom_component.common import async_fire_time_changed

from homeassistant.components import automation
from homeassistant.components.calendar import CalendarEvent
from homeassistant.const import STATE_OFF
from homeassistant.core import Event, HomeAssistant, callback
from homeassistant.setup import async_setup_component
from homeassistant.util import dt as dt_util

from custom_components.prepaid_sim import calendar as calendar_module
from custom_components.prepaid_sim.providers.demo import DemoBackend

from .helpers import demo_entry, line_device, renew, setup_entry

pytestmark = pytest.mark.freeze_time("2026-11-26T12:00:00+00:00")

CALENDAR = "calendar.expiries_of_demo_account"


async def events_between(hass: HomeAssistant, days: int) -> list[dict[str, Any]]:
    """Return the calendar's events from now on, over ``days``, as the card asks."""
    now = dt_util.now()
    response = await hass.services.async_call(
        "calendar",
        "get_events",
        {
            "entity_id": CALENDAR,
            "start_date_time": (now - timedelta(days=days)).isoformat(),
            "end_date_time": (now + timedelta(days=days)).isoformat(),
        },
        blocking=True,
        return_response=True,
    )
    assert isinstance(response, dict)
    return response[CALENDAR]["events"]  # type: ignore[no-any-return]


async def test_plan_ends_in_time_order(hass: HomeAssistant, demo_backend: DemoBackend) -> None:
    """Each tracked line's plan end is an event; the next one is the calendar's event."""
    await setup_entry(hass, demo_entry("us-travel", "europe-esim"))
    state = hass.states.get(CALENDAR)
    assert state is not None
    assert state.state == STATE_OFF
    europe_ends = dt_util.as_local(demo_backend.lines["europe-esim"].expires_at)
    assert state.attributes["message"] == "Europe Esim: plan ends"
    assert state.attributes["start_time"] == europe_ends.strftime("%Y-%m-%d %H:%M:%S")

    events = await events_between(hass, 60)
    assert [event["summary"] for event in events] == [
        "Europe Esim: plan ends",
        "Us Travel: plan ends",
    ]
    assert events[0]["start"] == events[0]["end"]
    assert dt_util.parse_datetime(events[0]["start"]) == europe_ends
    # An untracked line of the account is not on the calendar.
    assert "Camera" not in str(events)


async def test_events_are_made_only_when_shown(
    hass: HomeAssistant, demo_backend: DemoBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Setup makes the one event the state shows; the card's range makes its own.

    Home Assistant's CalendarEvent validates itself when made, which at 1,000 lines held
    the loop for tens of milliseconds when every line's event was made at setup.
    """
    made: list[CalendarEvent] = []

    class CountedEvent(CalendarEvent):
        def __post_init__(self) -> None:
            super().__post_init__()
            made.append(self)

    monkeypatch.setattr(calendar_module, "CalendarEvent", CountedEvent)
    entry = await setup_entry(hass, demo_entry("us-travel", "europe-esim", "camera-iot"))
    assert [event.summary for event in made] == ["Europe Esim: plan ends"]

    await entry.runtime_data.coordinator.async_refresh()
    await hass.async_block_till_done()
    assert len(made) == 1

    events = await events_between(hass, 400)
    assert len(events) == 3
    assert len(made) == 1 + len(events)


async def test_renewal_is_an_event_and_moves_the_plan_end(
    hass: HomeAssistant, demo_backend: DemoBackend
) -> None:
    """A renewal appears with its package and price; the line's plan end moves on."""
    entry = await setup_entry(hass, demo_entry("europe-esim"))
    before = demo_backend.lines["europe-esim"].expires_at
    order = await renew(hass, line_device(hass, entry, "europe-esim"))
    await hass.async_block_till_done()

    events = await events_between(hass, 60)
    renewed = [event for event in events if event["summary"] == "Europe Esim renewed"]
    assert len(renewed) == 1
    assert renewed[0]["description"] == (
        f"{order['package']['name']} ({order['price']:.2f} {order['currency']})"
    )
    (plan_end,) = [event for event in events if event["summary"] == "Europe Esim: plan ends"]
    after = demo_backend.lines["europe-esim"].expires_at
    assert after > before
    assert dt_util.parse_datetime(plan_end["start"]) == after


async def test_titles_follow_the_server_language(
    hass: HomeAssistant, demo_backend: DemoBackend
) -> None:
    """A Simplified Chinese server reads Chinese event titles."""
    hass.config.language = "zh-Hans"
    await setup_entry(hass, demo_entry("europe-esim"))
    (state,) = hass.states.async_all("calendar")
    assert state.attributes["message"] == "Europe Esim：套餐到期"  # noqa: RUF001


# The calendar trigger polls on its own timer, which outlives the test by design.
@pytest.mark.parametrize("expected_lingering_timers", [True])
async def test_trigger_before_a_plan_ends(
    hass: HomeAssistant, demo_backend: DemoBackend, freezer: FrozenDateTimeFactory
) -> None:
    """A calendar trigger with an offset fires 15 minutes before the plan ends."""
    await setup_entry(hass, demo_entry("europe-esim"))
    assert await async_setup_component(
        hass,
        automation.DOMAIN,
        {
            automation.DOMAIN: {
                "trigger": {
                    "platform": "calendar",
                    "event": "start",
                    "offset": "-00:15:00",
                    "entity_id": CALENDAR,
                },
                "action": {
                    "event": "line_ends_soon",
                    "event_data": {"summary": "{{ trigger.calendar_event.summary }}"},
                },
            }
        },
    )
    fired: list[Event] = []

    @callback
    def _record(event: Event) -> None:
        fired.append(event)

    hass.bus.async_listen("line_ends_soon", _record)
    ends = demo_backend.lines["europe-esim"].expires_at
    freezer.move_to(ends - timedelta(minutes=20))
    async_fire_time_changed(hass)
    await hass.async_block_till_done()
    assert fired == []
    freezer.move_to(ends - timedelta(minutes=14))
    async_fire_time_changed(hass)
    await hass.async_block_till_done()
    assert [event.data["summary"] for event in fired] == ["Europe Esim: plan ends"]
