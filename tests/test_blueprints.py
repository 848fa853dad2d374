"""The automation blueprints: valid, and working against the demo lines."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
import shutil

import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    MockUser,
    async_mock_service,
)
from pytest_homeassistant_custom_component.typing import WebSocketGenerator

from homeassistant.components.automation.config import AUTOMATION_BLUEPRINT_SCHEMA
from homeassistant.components.blueprint import models
from homeassistant.core import Context, EventOrigin, HomeAssistant
from homeassistant.setup import async_setup_component
from homeassistant.util.yaml import load_yaml_dict

from custom_components.prepaid_sim.providers.demo import DemoBackend

from .helpers import line_device, notifications, receipts

pytestmark = pytest.mark.freeze_time("2026-11-26T12:00:00+00:00")

BLUEPRINTS = Path(__file__).parent.parent / "blueprints" / "automation" / "prepaid_sim"


@pytest.mark.parametrize("name", ["low_data_notification.yaml", "expiry_reminder.yaml"])
def test_blueprint_is_valid(name: str) -> None:
    """Each blueprint passes Home Assistant's blueprint schema."""
    blueprint = models.Blueprint(
        load_yaml_dict(str(BLUEPRINTS / name)),
        expected_domain="automation",
        schema=AUTOMATION_BLUEPRINT_SCHEMA,
    )
    assert blueprint.domain == "automation"
    assert blueprint.inputs


async def until(condition: Callable[[], bool]) -> None:
    """Let the event loop run until ``condition`` holds (bounded)."""
    for _ in range(200):
        if condition():
            return
        await asyncio.sleep(0)
    raise AssertionError("condition not reached")


@pytest.fixture
def blueprint_dir(hass: HomeAssistant, tmp_path: Path) -> None:
    """Install the blueprints into the test instance's config folder."""
    hass.config.config_dir = str(tmp_path)
    shutil.copytree(BLUEPRINTS, tmp_path / "blueprints" / "automation" / "prepaid_sim")


@pytest.mark.usefixtures("blueprint_dir")
async def test_low_data_blueprint_notifies(
    hass: HomeAssistant, hass_ws_client: WebSocketGenerator, init_integration: MockConfigEntry
) -> None:
    """When a line goes low on data, the automation notifies with what is left."""
    assert await async_setup_component(hass, "persistent_notification", {})
    assert await async_setup_component(
        hass,
        "automation",
        {
            "automation": {
                "use_blueprint": {
                    "path": "prepaid_sim/low_data_notification.yaml",
                    "input": {
                        "low_data_sensor": "binary_sensor.us_travel_low_data",
                        "remaining_sensor": "sensor.us_travel_data_remaining",
                    },
                }
            }
        },
    )
    await hass.async_block_till_done()
    subentry = next(s for s in init_integration.subentries.values() if s.unique_id == "us-travel")
    hass.config_entries.async_update_subentry(
        init_integration, subentry, data={**subentry.data, "low_data_percent": 90}
    )
    await hass.async_block_till_done()
    (notification,) = (await notifications(hass, hass_ws_client)).values()
    assert notification["title"] == "Us Travel is low on data"
    assert notification["message"] == "6.8 GiB left."


def tap(hass: HomeAssistant, phone: MockUser, action: str) -> None:
    """Fire the event a tap on a notification action fires, as the mobile app's webhook does:
    remote, in the context of the phone's user, with only what the app sends (the action)."""
    hass.bus.async_fire(
        "mobile_app_notification_action",
        {"action": action},
        EventOrigin.remote,
        context=Context(user_id=phone.id),
    )


@pytest.mark.usefixtures("blueprint_dir")
async def test_expiry_reminder_renews_on_tap(
    hass: HomeAssistant,
    hass_admin_user: MockUser,
    init_integration: MockConfigEntry,
    demo_backend: DemoBackend,
) -> None:
    """The reminder asks on the phone; only a tap on that phone's Renew renews, once.

    The companion apps put no device id in the tap's event, so the Renew action carries a
    token only the notified phone received: another phone (or a stale reminder) taps in vain.
    """
    my_phone = hass_admin_user
    other_phone = MockUser(name="Someone else").add_to_hass(hass)
    phone = async_mock_service(hass, "notify", "mobile_app_my_phone")
    device_id = line_device(hass, init_integration, "us-travel")
    assert await async_setup_component(
        hass,
        "automation",
        {
            "automation": {
                "use_blueprint": {
                    "path": "prepaid_sim/expiry_reminder.yaml",
                    "input": {
                        "expiring_sensor": "binary_sensor.us_travel_expiring_soon",
                        "line_device": device_id,
                        "notify_service": "notify.mobile_app_my_phone",
                    },
                }
            }
        },
    )
    await hass.async_block_till_done()
    subentry = next(s for s in init_integration.subentries.values() if s.unique_id == "us-travel")
    hass.config_entries.async_update_subentry(
        init_integration, subentry, data={**subentry.data, "expiry_warning_days": 30}
    )
    # The automation now waits for the tap, so wait for the notification, not for idle.
    await until(lambda: len(phone) == 1)
    (call,) = phone
    action = call.data["data"]["actions"][0]["action"]
    assert action.startswith("PREPAID_SIM_RENEW_")
    # The token is not anything another device could know or guess.
    assert device_id not in action
    assert len(action.removeprefix("PREPAID_SIM_RENEW_")) >= 16
    assert demo_backend.ledger == []

    # Another phone taps what it can know: the old line-named action, or another token.
    tap(hass, other_phone, f"PREPAID_SIM_RENEW_{device_id}")
    tap(hass, other_phone, "PREPAID_SIM_RENEW_12345678901234567890")
    # The automation still waits for its tap: let the loop turn, not wait for idle.
    for _ in range(50):
        await asyncio.sleep(0)
    assert demo_backend.ledger == []

    tap(hass, my_phone, action)
    await until(lambda: len(demo_backend.ledger) == 1)
    await hass.async_block_till_done()
    assert [c.package_id for c in demo_backend.ledger] == ["us-10gb-30d"]
    (receipt,) = await receipts(hass)
    assert receipt["caller"] == "automation"
    assert receipt["request_id"] == action.replace("PREPAID_SIM_RENEW_", "expiry-reminder-")
    tap(hass, my_phone, action)
    await hass.async_block_till_done()
    assert len(demo_backend.ledger) == 1
