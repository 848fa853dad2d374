"""The Renew button."""

from __future__ import annotations

from decimal import Decimal

import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry, snapshot_platform
from syrupy.assertion import SnapshotAssertion

from homeassistant.const import Platform
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers import entity_registry as er

from custom_components.prepaid_sim.const import DOMAIN
from custom_components.prepaid_sim.providers.demo import DemoBackend

from .helpers import press

pytestmark = pytest.mark.freeze_time("2026-11-26T12:00:00+00:00")


@pytest.fixture(autouse=True)
def renew_buttons_enabled(entity_registry_enabled_by_default: None) -> None:
    """Enable the opt-in Renew buttons (before any setup): these tests press them."""


@pytest.mark.parametrize("platforms", [[Platform.BUTTON]])
@pytest.mark.usefixtures("entity_registry_enabled_by_default", "init_integration")
async def test_buttons(
    hass: HomeAssistant,
    entity_registry: er.EntityRegistry,
    snapshot: SnapshotAssertion,
    mock_config_entry: MockConfigEntry,
) -> None:
    """Every line has a Renew button in the configuration category."""
    await snapshot_platform(hass, entity_registry, snapshot, mock_config_entry.entry_id)


@pytest.mark.usefixtures("init_integration")
async def test_press_renews_once(hass: HomeAssistant, demo_backend: DemoBackend) -> None:
    """A press renews with the line's package; a second press is refused as a repeat."""
    await press(hass, "button.europe_esim_renew")
    assert [c.package_id for c in demo_backend.ledger] == ["eu-5gb-15d"]
    assert demo_backend.wallet == Decimal("48.00")
    with pytest.raises(ServiceValidationError) as err:
        await press(hass, "button.europe_esim_renew")
    assert err.value.translation_key == "renewed_recently"
    assert len(demo_backend.ledger) == 1
    response = await hass.services.async_call(
        DOMAIN, "get_renewals", {}, blocking=True, return_response=True
    )
    assert response["renewals"][0]["caller"] == "button"


@pytest.mark.usefixtures("init_integration")
async def test_press_when_wallet_is_empty(hass: HomeAssistant, demo_backend: DemoBackend) -> None:
    """A press that cannot be paid says so and charges nothing."""
    demo_backend.wallet = Decimal(0)
    with pytest.raises(HomeAssistantError) as err:
        await press(hass, "button.us_travel_renew")
    assert err.value.translation_key == "insufficient_funds"
    assert demo_backend.ledger == []


@pytest.mark.usefixtures("init_integration")
async def test_button_not_exposed_to_assist(hass: HomeAssistant) -> None:
    """Renew buttons are configuration entities, which Assist does not get by default."""
    entry = er.async_get(hass).async_get("button.us_travel_renew")
    assert entry is not None
    assert entry.entity_category is not None
