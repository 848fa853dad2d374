"""The renewal package select."""

from __future__ import annotations

import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry, snapshot_platform
from syrupy.assertion import SnapshotAssertion

from homeassistant.components.select import (
    ATTR_OPTION,
    DOMAIN as SELECT_DOMAIN,
    SERVICE_SELECT_OPTION,
)
from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import ATTR_ENTITY_ID, STATE_UNAVAILABLE, Platform
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import ServiceValidationError
from homeassistant.helpers import entity_registry as er

from custom_components.prepaid_sim.const import DOMAIN
from custom_components.prepaid_sim.providers.demo import DemoBackend

from .helpers import line_device, press

pytestmark = pytest.mark.freeze_time("2026-11-26T12:00:00+00:00")


@pytest.fixture(autouse=True)
def renew_buttons_enabled(entity_registry_enabled_by_default: None) -> None:
    """Enable the opt-in Renew buttons (before any setup): these tests press them."""


@pytest.mark.parametrize("platforms", [[Platform.SELECT]])
@pytest.mark.usefixtures("entity_registry_enabled_by_default", "init_integration")
async def test_selects(
    hass: HomeAssistant,
    entity_registry: er.EntityRegistry,
    snapshot: SnapshotAssertion,
    mock_config_entry: MockConfigEntry,
) -> None:
    """Every line has a package select listing its packages."""
    await snapshot_platform(hass, entity_registry, snapshot, mock_config_entry.entry_id)


async def test_choosing_a_package_is_what_the_button_buys(
    hass: HomeAssistant, init_integration: MockConfigEntry, demo_backend: DemoBackend
) -> None:
    """The chosen package is saved on the line and used by the next renewal."""
    state = hass.states.get("select.us_travel_renewal_package")
    assert state.state == "US 10 GB, 30 days"
    assert state.attributes["options"] == [
        "US 1 GB, 7 days",
        "US 10 GB, 30 days",
        "US 25 GB, 30 days",
    ]
    await hass.services.async_call(
        SELECT_DOMAIN,
        SERVICE_SELECT_OPTION,
        {ATTR_ENTITY_ID: "select.us_travel_renewal_package", ATTR_OPTION: "US 25 GB, 30 days"},
        blocking=True,
    )
    await hass.async_block_till_done()
    assert init_integration.state is ConfigEntryState.LOADED
    assert hass.states.get("select.us_travel_renewal_package").state == "US 25 GB, 30 days"
    subentry = next(s for s in init_integration.subentries.values() if s.unique_id == "us-travel")
    assert subentry.data["preferred_package"] == "us-25gb-30d"
    await press(hass, "button.us_travel_renew")
    assert [c.package_id for c in demo_backend.ledger] == ["us-25gb-30d"]


@pytest.mark.usefixtures("init_integration")
async def test_unknown_option_is_refused(hass: HomeAssistant) -> None:
    """An option that is not a package of the line is refused."""
    with pytest.raises(ServiceValidationError):
        await hass.services.async_call(
            SELECT_DOMAIN,
            SERVICE_SELECT_OPTION,
            {ATTR_ENTITY_ID: "select.us_travel_renewal_package", ATTR_OPTION: "Free data"},
            blocking=True,
        )


async def test_unavailable_until_packages_are_read(
    hass: HomeAssistant, mock_config_entry: MockConfigEntry, demo_backend: DemoBackend
) -> None:
    """Without a package list the select is unavailable rather than empty."""
    demo_backend.catalogue_unavailable = True
    mock_config_entry.add_to_hass(hass)
    await hass.config_entries.async_setup(mock_config_entry.entry_id)
    await hass.async_block_till_done()
    assert mock_config_entry.state is ConfigEntryState.LOADED
    assert hass.states.get("select.us_travel_renewal_package").state == STATE_UNAVAILABLE

    # A later read (here the list_packages action) shows the list at once, no refresh.
    demo_backend.catalogue_unavailable = False
    await hass.services.async_call(
        DOMAIN,
        "list_packages",
        {"device_id": line_device(hass, mock_config_entry, "us-travel")},
        blocking=True,
        return_response=True,
    )
    await hass.async_block_till_done()
    assert hass.states.get("select.us_travel_renewal_package").state == "US 10 GB, 30 days"
