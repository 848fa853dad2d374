"""No one-click purchase by surprise, and a receipt for whoever renews from the UI (#18.3).

The Renew button charges on one press with no confirmation, so it is opt-in; dashboards
renew through the renew action behind a confirmation. A renewal a signed-in person asked
for ends with a notification that says what was bought; automations get none.
"""

from __future__ import annotations

import pytest
from pytest_homeassistant_custom_component.common import MockUser
from pytest_homeassistant_custom_component.typing import WebSocketGenerator

from homeassistant.core import Context, HomeAssistant
from homeassistant.helpers import entity_registry as er

from custom_components.prepaid_sim.providers.demo import DemoBackend

from .helpers import demo_entry, line_device, notifications, renew, setup_entry

pytestmark = pytest.mark.freeze_time("2026-11-26T12:00:00+00:00")

BUTTON = "button.us_travel_renew"


async def test_renew_button_is_opt_in(
    hass: HomeAssistant, demo_backend: DemoBackend, entity_registry: er.EntityRegistry
) -> None:
    """The button exists, disabled by the integration, until the user enables it."""
    await setup_entry(hass, demo_entry("us-travel"))
    entity = entity_registry.async_get(BUTTON)
    assert entity is not None
    assert entity.disabled_by is er.RegistryEntryDisabler.INTEGRATION
    assert hass.states.get(BUTTON) is None


async def test_enabled_button_press_by_a_person_shows_the_receipt(
    hass: HomeAssistant,
    hass_ws_client: WebSocketGenerator,
    hass_admin_user: MockUser,
    demo_backend: DemoBackend,
    entity_registry: er.EntityRegistry,
) -> None:
    """Enabled in its settings, a press renews once and tells the person what was bought."""
    entry = await setup_entry(hass, demo_entry("us-travel"))
    entity_registry.async_update_entity(BUTTON, disabled_by=None)
    assert await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done()
    assert hass.states.get(BUTTON) is not None

    await hass.services.async_call(
        "button",
        "press",
        {"entity_id": BUTTON},
        blocking=True,
        context=Context(user_id=hass_admin_user.id),
    )
    assert len(demo_backend.ledger) == 1
    (note,) = (await notifications(hass, hass_ws_client)).values()
    assert note["title"] == "Us Travel renewed"
    charge = demo_backend.ledger[0]
    assert str(charge.amount) in note["message"]
    assert charge.order_id in note["message"]


async def test_dashboard_action_shows_the_receipt_automation_does_not(
    hass: HomeAssistant,
    hass_ws_client: WebSocketGenerator,
    hass_admin_user: MockUser,
    demo_backend: DemoBackend,
) -> None:
    """The renew action from a dashboard (a user) notifies; from an automation it does not."""
    entry = await setup_entry(hass, demo_entry("us-travel", "camera-iot"))
    await renew(hass, line_device(hass, entry, "camera-iot"))
    assert await notifications(hass, hass_ws_client) == {}

    order = await renew(
        hass, line_device(hass, entry, "us-travel"), context=Context(user_id=hass_admin_user.id)
    )
    (note,) = (await notifications(hass, hass_ws_client)).values()
    assert note["title"] == "Us Travel renewed"
    assert order["order_id"] in note["message"]
    assert len(demo_backend.ledger) == 2
