"""The manual tracker: lines of carriers without an API, entered and renewed by hand."""

from __future__ import annotations

from datetime import timedelta

from freezegun.api import FrozenDateTimeFactory
import pytest
from pytest_homeassistant_custom_component.common import async_fire_time_changed

from homeassistant.config_entries import SOURCE_USER, ConfigEntry, ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.exceptions import ServiceValidationError
from homeassistant.helpers import device_registry as dr
from homeassistant.util import dt as dt_util

from custom_components.prepaid_sim.const import CONF_PROVIDER, DOMAIN

from .helpers import line_device, renew

pytestmark = pytest.mark.freeze_time("2026-11-26T12:00:00+00:00")

MINT = {
    "name": "Mint SIM",
    "carrier": "Mint Mobile",
    "plan_name": "5GB, 3 months",
    "price": 45,
    "currency": "usd",
    "allowance_gb": 5,
    "validity_days": 90,
    "expires_at": "2026-12-01 09:00:00",
}


async def _add_manual_account(hass: HomeAssistant) -> ConfigEntry:
    """Add the manual tracker with the Mint line through the UI flow."""
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_PROVIDER: "manual"}
    )
    assert result["step_id"] == "manual_line"
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {**MINT, "currency": "dollars"}
    )
    assert result["errors"] == {"currency": "invalid_currency"}
    result = await hass.config_entries.flow.async_configure(result["flow_id"], MINT)
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()
    return result["result"]


def _device_id(hass: HomeAssistant, entry: ConfigEntry, name: str) -> str:
    """Return the device id of a manual line by its name."""
    device = next(
        d
        for d in dr.async_entries_for_config_entry(dr.async_get(hass), entry.entry_id)
        if d.name == name
    )
    return device.id


async def test_manual_line_counts_down(hass: HomeAssistant, freezer: FrozenDateTimeFactory) -> None:
    """A hand-entered line shows its allowance and expiry (in local time, stored UTC)."""
    entry = await _add_manual_account(hass)
    assert entry.state is ConfigEntryState.LOADED
    assert entry.unique_id == "manual_manual"
    (subentry,) = entry.subentries.values()
    assert subentry.data["currency"] == "USD"
    # The form's time is local (US/Pacific in tests): 09:00 there is 17:00 UTC.
    assert hass.states.get("sensor.mint_sim_plan_expiry").state == "2026-12-01T17:00:00+00:00"
    assert float(hass.states.get("sensor.mint_sim_data_remaining").state) == pytest.approx(5)
    assert hass.states.get("sensor.mint_sim_status").state == "active"
    assert hass.states.get("binary_sensor.mint_sim_expiring_soon").state == "off"
    # Nothing about the line changes; the warning starts by the clock alone.
    freezer.tick(timedelta(days=2, hours=5, minutes=1))
    async_fire_time_changed(hass)
    await hass.async_block_till_done()
    assert hass.states.get("binary_sensor.mint_sim_expiring_soon").state == "on"
    freezer.tick(timedelta(days=3))
    await entry.runtime_data.coordinator.async_refresh()
    await hass.async_block_till_done()
    assert hass.states.get("sensor.mint_sim_status").state == "expired"


async def test_renewal_is_recorded_and_saved(hass: HomeAssistant) -> None:
    """Renew records the receipt, moves the expiry by the validity and saves it."""
    entry = await _add_manual_account(hass)
    order = await renew(hass, _device_id(hass, entry, "Mint SIM"))
    assert (order["price"], order["currency"]) == (45.0, "USD")
    assert order["new_expires_at"] == "2027-03-01T17:00:00+00:00"
    await hass.async_block_till_done()
    assert hass.states.get("sensor.mint_sim_plan_expiry").state == "2027-03-01T17:00:00+00:00"
    (subentry,) = entry.subentries.values()
    # Saved with the line: a restart keeps the new expiry.
    assert subentry.data["expires_at"] == "2027-03-01T17:00:00+00:00"
    assert await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done()
    assert hass.states.get("sensor.mint_sim_plan_expiry").state == "2027-03-01T17:00:00+00:00"
    response = await hass.services.async_call(
        DOMAIN, "get_renewals", {}, blocking=True, return_response=True
    )
    assert response["renewals"][0]["package_name"] == "5GB, 3 months"


async def test_correct_line_and_add_more(hass: HomeAssistant) -> None:
    """The owner corrects the data left and the expiry, and adds a second line by hand."""
    entry = await _add_manual_account(hass)
    device_id = _device_id(hass, entry, "Mint SIM")
    await hass.services.async_call(
        DOMAIN,
        "correct_line",
        {"device_id": device_id, "data_remaining_gb": 1.25, "expires_at": "2026-12-05 10:00:00"},
        blocking=True,
    )
    await hass.async_block_till_done()
    assert float(hass.states.get("sensor.mint_sim_data_remaining").state) == pytest.approx(1.25)
    assert (
        hass.states.get("sensor.mint_sim_plan_expiry").state
        == dt_util.as_utc(
            dt_util.parse_datetime("2026-12-05 10:00:00").replace(
                tzinfo=dt_util.get_default_time_zone()
            )
        ).isoformat()
    )

    result = await hass.config_entries.subentries.async_init(
        (entry.entry_id, "line"), context={"source": SOURCE_USER}
    )
    assert result["step_id"] == "manual"
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], {**MINT, "currency": "1x"}
    )
    assert result["errors"] == {"currency": "invalid_currency"}
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"],
        {**{k: v for k, v in MINT.items() if k != "allowance_gb"}, "name": "Tello SIM"},
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()
    assert hass.states.get("sensor.tello_sim_data_remaining").state == "unknown"
    assert hass.states.get("sensor.tello_sim_status").state == "active"


async def test_correct_line_refuses_provider_lines(hass: HomeAssistant, init_integration) -> None:
    """Lines read from a provider cannot be corrected by hand."""
    with pytest.raises(ServiceValidationError) as err:
        await hass.services.async_call(
            DOMAIN,
            "correct_line",
            {"device_id": line_device(hass, init_integration, "us-travel"), "data_remaining_gb": 1},
            blocking=True,
        )
    assert err.value.translation_key == "not_manual_line"


async def test_settings_keep_the_definition(hass: HomeAssistant) -> None:
    """Changing a manual line's settings keeps what describes the line."""
    entry = await _add_manual_account(hass)
    subentry_id = next(iter(entry.subentries))
    result = await hass.config_entries.subentries.async_init(
        (entry.entry_id, "line"),
        context={"source": "reconfigure", "subentry_id": subentry_id},
    )
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"],
        {
            "low_data_percent": 20,
            "expiry_warning_days": 5,
            "auto_renew": "off",
            "auto_renew_max_per_month": 1,
            "auto_renew_hours_before_expiry": 24,
        },
    )
    assert result["reason"] == "reconfigure_successful"
    data = entry.subentries[subentry_id].data
    assert data["name"] == "Mint SIM"
    assert data["low_data_percent"] == 20
