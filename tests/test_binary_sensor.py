"""Binary sensors: low data, expiring soon, renewal problem."""

from __future__ import annotations

import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry, snapshot_platform
from syrupy.assertion import SnapshotAssertion

from homeassistant.const import STATE_OFF, STATE_ON, Platform
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import entity_registry as er

from custom_components.prepaid_sim.providers.demo import DemoBackend

from .helpers import line_device, renew

pytestmark = pytest.mark.freeze_time("2026-11-26T12:00:00+00:00")


@pytest.mark.parametrize("platforms", [[Platform.BINARY_SENSOR]])
@pytest.mark.usefixtures("entity_registry_enabled_by_default", "init_integration")
async def test_binary_sensors(
    hass: HomeAssistant,
    entity_registry: er.EntityRegistry,
    snapshot: SnapshotAssertion,
    mock_config_entry: MockConfigEntry,
) -> None:
    """Every binary sensor of every tracked line matches the snapshot."""
    await snapshot_platform(hass, entity_registry, snapshot, mock_config_entry.entry_id)


@pytest.mark.usefixtures("init_integration")
async def test_alerts_follow_the_demo_lines(hass: HomeAssistant) -> None:
    """The low-data line is low, the expiring line is expiring, the healthy one neither."""
    assert hass.states.get("binary_sensor.camera_iot_low_data").state == STATE_ON
    assert hass.states.get("binary_sensor.camera_iot_expiring_soon").state == STATE_OFF
    assert hass.states.get("binary_sensor.europe_esim_expiring_soon").state == STATE_ON
    assert hass.states.get("binary_sensor.europe_esim_low_data").state == STATE_OFF
    assert hass.states.get("binary_sensor.us_travel_low_data").state == STATE_OFF
    assert hass.states.get("binary_sensor.us_travel_expiring_soon").state == STATE_OFF
    assert hass.states.get("binary_sensor.us_travel_renewal_problem").state == STATE_OFF


async def test_thresholds_come_from_line_settings(
    hass: HomeAssistant, init_integration: MockConfigEntry
) -> None:
    """Raising the thresholds turns the alerts on at once, without a reload."""
    subentry = next(s for s in init_integration.subentries.values() if s.unique_id == "us-travel")
    hass.config_entries.async_update_subentry(
        init_integration,
        subentry,
        data={**subentry.data, "low_data_percent": 80, "expiry_warning_days": 30},
    )
    await hass.async_block_till_done()
    assert hass.states.get("binary_sensor.us_travel_low_data").state == STATE_ON
    assert hass.states.get("binary_sensor.us_travel_expiring_soon").state == STATE_ON
    # An absolute threshold replaces the percentage: 6.8 GiB left is not below 1 GiB.
    hass.config_entries.async_update_subentry(
        init_integration,
        init_integration.subentries[subentry.subentry_id],
        data={**subentry.data, "low_data_percent": 80, "low_data_mb": 1024},
    )
    await hass.async_block_till_done()
    assert hass.states.get("binary_sensor.us_travel_low_data").state == STATE_OFF


async def test_renewal_problem_after_failed_renewal(
    hass: HomeAssistant, init_integration: MockConfigEntry, demo_backend: DemoBackend
) -> None:
    """A failed renewal shows as a problem until a renewal succeeds."""
    demo_backend.reject_orders_with = "package_unavailable"
    device_id = line_device(hass, init_integration, "us-travel")
    with pytest.raises(HomeAssistantError):
        await renew(hass, device_id)
    await hass.async_block_till_done()
    assert hass.states.get("binary_sensor.us_travel_renewal_problem").state == STATE_ON
    demo_backend.reject_orders_with = None
    await renew(hass, device_id)
    await hass.async_block_till_done()
    assert hass.states.get("binary_sensor.us_travel_renewal_problem").state == STATE_OFF
