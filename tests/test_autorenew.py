"""Auto-renew: off by default, within its limits, and always told."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from freezegun.api import FrozenDateTimeFactory
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_capture_events,
    async_fire_time_changed,
)
from pytest_homeassistant_custom_component.typing import WebSocketGenerator

from homeassistant.core import HomeAssistant

from custom_components.prepaid_sim.const import EVENT_RENEWAL
from custom_components.prepaid_sim.providers.demo import DemoBackend

from .helpers import demo_entry, notifications, subentry_of

pytestmark = pytest.mark.freeze_time("2026-11-26T12:00:00+00:00")


async def _setup(hass: HomeAssistant, *lines: str, **settings: object) -> MockConfigEntry:
    """Set up the demo account with the given line settings."""
    entry = demo_entry(*lines, **settings)
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    return entry


async def _poll(hass: HomeAssistant, freezer: FrozenDateTimeFactory, minutes: int = 1) -> None:
    """Let the next poll happen."""
    freezer.tick(timedelta(minutes=minutes))
    async_fire_time_changed(hass)
    await hass.async_block_till_done()


async def test_off_by_default(
    hass: HomeAssistant, demo_backend: DemoBackend, freezer: FrozenDateTimeFactory
) -> None:
    """A low-data line is not renewed unless the user turned auto-renew on."""
    await _setup(hass, "camera-iot")
    await _poll(hass, freezer)
    assert demo_backend.ledger == []


async def test_low_data_renews_once_and_notifies(
    hass: HomeAssistant,
    hass_ws_client: WebSocketGenerator,
    demo_backend: DemoBackend,
    freezer: FrozenDateTimeFactory,
) -> None:
    """Below the threshold the line is renewed once, with a notification and an event."""
    events = async_capture_events(hass, EVENT_RENEWAL)
    entry = await _setup(hass, "camera-iot", auto_renew="low_data")
    assert [c.package_id for c in demo_backend.ledger] == ["iot-1gb-30d"]
    (event,) = events
    assert (event.data["caller"], event.data["state"]) == ("auto_renew", "succeeded")
    notification = (await notifications(hass, hass_ws_client))[
        f"prepaid_sim_auto_renew_{subentry_of(entry, 'camera-iot')}"
    ]
    assert notification["title"] == "Camera Iot auto-renewed"
    assert "IoT 1 GB, 30 days for 4.00 USD" in notification["message"]
    # Data is no longer low; later polls buy nothing more.
    await _poll(hass, freezer, 30)
    assert len(demo_backend.ledger) == 1


async def test_monthly_limit(
    hass: HomeAssistant, demo_backend: DemoBackend, freezer: FrozenDateTimeFactory
) -> None:
    """At most the chosen number of auto-renewals in a calendar month."""
    # 1 GiB lasts ~10 days at 4 MiB/h; a threshold of 99 % keeps the line "low" at once.
    await _setup(hass, "camera-iot", auto_renew="low_data", low_data_percent=99)
    assert len(demo_backend.ledger) == 1
    await _poll(hass, freezer, 60)
    await _poll(hass, freezer, 60)
    assert len(demo_backend.ledger) == 1


async def test_expiry_policy(
    hass: HomeAssistant, demo_backend: DemoBackend, freezer: FrozenDateTimeFactory
) -> None:
    """With the expiry policy the line renews once expiry is within the chosen hours."""
    await _setup(hass, "europe-esim", auto_renew="expiring", auto_renew_hours_before_expiry=24)
    assert demo_backend.ledger == []
    # Expiry is three days away: two days and a bit later it is within 24 hours.
    await _poll(hass, freezer, 60 * 49)
    assert [c.package_id for c in demo_backend.ledger] == ["eu-5gb-15d"]


async def test_failure_is_told(
    hass: HomeAssistant,
    hass_ws_client: WebSocketGenerator,
    demo_backend: DemoBackend,
    freezer: FrozenDateTimeFactory,
) -> None:
    """An auto-renewal that cannot be paid is told, and nothing is charged."""
    demo_backend.wallet = Decimal("1.00")
    entry = await _setup(hass, "camera-iot", auto_renew="low_data_or_expiring")
    assert demo_backend.ledger == []
    notification = (await notifications(hass, hass_ws_client))[
        f"prepaid_sim_auto_renew_{subentry_of(entry, 'camera-iot')}"
    ]
    assert notification["title"] == "Camera Iot was not auto-renewed"
    assert "cannot pay" in notification["message"]
