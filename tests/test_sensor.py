"""Sensors of a line, read from the demo provider."""

from __future__ import annotations

from datetime import timedelta

from freezegun.api import FrozenDateTimeFactory
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_fire_time_changed,
    snapshot_platform,
)
from syrupy.assertion import SnapshotAssertion

from homeassistant.const import STATE_UNAVAILABLE, Platform
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr, entity_registry as er

from custom_components.prepaid_sim.providers.demo import DemoBackend

from .helpers import demo_entry

pytestmark = pytest.mark.freeze_time("2026-11-26T12:00:00+00:00")


@pytest.mark.parametrize("platforms", [[Platform.SENSOR]])
@pytest.mark.usefixtures("entity_registry_enabled_by_default", "init_integration")
async def test_sensors(
    hass: HomeAssistant,
    entity_registry: er.EntityRegistry,
    snapshot: SnapshotAssertion,
    mock_config_entry: MockConfigEntry,
) -> None:
    """Every sensor of every tracked line matches the snapshot."""
    await snapshot_platform(hass, entity_registry, snapshot, mock_config_entry.entry_id)


@pytest.mark.usefixtures("init_integration")
async def test_values_and_device(
    hass: HomeAssistant, device_registry: dr.DeviceRegistry, mock_config_entry: MockConfigEntry
) -> None:
    """Values are normalized and each line is one service device of its subentry."""
    remaining = hass.states.get("sensor.camera_iot_data_remaining")
    assert remaining is not None
    # 1 GiB allowance with 930 MiB used: 94 MiB left, a small plan shown in MiB.
    assert remaining.attributes["unit_of_measurement"] == "MiB"
    assert float(remaining.state) == pytest.approx(94)
    travel = hass.states.get("sensor.us_travel_data_remaining")
    assert travel.attributes["unit_of_measurement"] == "GiB"
    balance = hass.states.get("sensor.us_travel_balance")
    assert balance is not None
    assert (balance.state, balance.attributes["unit_of_measurement"]) == ("60.00", "USD")
    expiry = hass.states.get("sensor.europe_esim_plan_expiry")
    assert expiry is not None
    assert expiry.state == "2026-11-29T12:00:00+00:00"
    status = hass.states.get("sensor.us_travel_status")
    assert status is not None
    assert status.state == "active"

    device = device_registry.async_get_device_by_identifier(
        ("prepaid_sim", "demo_demo-account_us-travel"), mock_config_entry.entry_id
    )
    assert device is not None
    assert device.entry_type is dr.DeviceEntryType.SERVICE
    assert (device.manufacturer, device.model) == ("Demo", "US 10 GB, 30 days")
    assert device.config_subentry_id is not None


@pytest.mark.usefixtures("init_integration")
async def test_data_drains_with_time(hass: HomeAssistant, freezer: FrozenDateTimeFactory) -> None:
    """A later poll shows the data the line used meanwhile."""
    before = float(hass.states.get("sensor.us_travel_data_used").state)
    freezer.tick(timedelta(hours=6))
    async_fire_time_changed(hass)
    await hass.async_block_till_done()
    after = float(hass.states.get("sensor.us_travel_data_used").state)
    # 40 MiB an hour for six hours.
    assert after - before == pytest.approx(240 / 1024, abs=0.01)


@pytest.mark.usefixtures("init_integration")
async def test_unavailable_and_recovery(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, demo_backend: DemoBackend
) -> None:
    """Entities go unavailable while the provider is down and come back after."""
    demo_backend.unavailable = True
    freezer.tick(timedelta(minutes=1))
    async_fire_time_changed(hass)
    await hass.async_block_till_done()
    assert hass.states.get("sensor.us_travel_data_remaining").state == STATE_UNAVAILABLE

    demo_backend.unavailable = False
    freezer.tick(timedelta(minutes=1))
    async_fire_time_changed(hass)
    await hass.async_block_till_done()
    assert hass.states.get("sensor.us_travel_data_remaining").state != STATE_UNAVAILABLE


@pytest.mark.usefixtures("init_integration")
async def test_missing_line_only_affects_that_line(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, demo_backend: DemoBackend
) -> None:
    """A line the provider stops returning goes unavailable; the others stay."""
    del demo_backend.lines["camera-iot"]
    freezer.tick(timedelta(minutes=1))
    async_fire_time_changed(hass)
    await hass.async_block_till_done()
    assert hass.states.get("sensor.camera_iot_data_remaining").state == STATE_UNAVAILABLE
    assert hass.states.get("sensor.us_travel_data_remaining").state != STATE_UNAVAILABLE


@pytest.mark.usefixtures("demo_backend")
async def test_unlimited_line(hass: HomeAssistant) -> None:
    """An unlimited plan shows no remaining amount rather than zero."""
    entry = demo_entry("home-hotspot")
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    assert hass.states.get("sensor.home_hotspot_data_remaining").state == "unknown"
    assert float(hass.states.get("sensor.home_hotspot_data_used").state) == pytest.approx(48)
    assert hass.states.get("sensor.home_hotspot_data_allowance").state == "unknown"
