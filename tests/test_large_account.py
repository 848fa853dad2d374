"""Large accounts: only the essential entities of each line are enabled by default."""

from __future__ import annotations

from unittest.mock import patch

import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers.entity_platform import MAX_ENABLED_ENTITIES_PER_CONFIG_ENTRY

from custom_components.prepaid_sim.binary_sensor import BINARY_SENSORS
from custom_components.prepaid_sim.button import RENEW_BUTTON
from custom_components.prepaid_sim.const import LARGE_ACCOUNT_LINES
from custom_components.prepaid_sim.select import PACKAGE_SELECT
from custom_components.prepaid_sim.sensor import SENSORS

from .helpers import demo_entry

pytestmark = pytest.mark.freeze_time("2026-11-26T12:00:00+00:00")

DESCRIPTIONS = (*SENSORS, *BINARY_SENSORS, RENEW_BUTTON, PACKAGE_SELECT)
# What the README promises a large account shows for every line.
ESSENTIAL_KEYS = frozenset(
    {
        "data_remaining",
        "data_used",
        "data_total",
        "plan_expiry",
        "status",
        "balance",
        "low_data",
        "expiring_soon",
    }
)


def _enabled_keys(
    entity_registry: er.EntityRegistry, entry: MockConfigEntry, line_id: str
) -> dict[str, bool]:
    """Return each entity of a line by description key, and whether it is enabled."""
    prefix = f"{entry.unique_id}_{line_id}_"
    return {
        item.unique_id.removeprefix(prefix): item.disabled_by is None
        for item in er.async_entries_for_config_entry(entity_registry, entry.entry_id)
        if item.unique_id.startswith(prefix)
    }


@pytest.mark.usefixtures("demo_backend")
async def test_large_account_enables_only_essentials(
    hass: HomeAssistant, entity_registry: er.EntityRegistry
) -> None:
    """Past the threshold every entity is created, and only the essential ones enabled."""
    entry = demo_entry("us-travel", "camera-iot", "europe-esim")
    entry.add_to_hass(hass)
    with patch("custom_components.prepaid_sim.entity.LARGE_ACCOUNT_LINES", 2):
        assert await hass.config_entries.async_setup(entry.entry_id)
        await hass.async_block_till_done()

    for line_id in ("us-travel", "camera-iot", "europe-esim"):
        enabled = _enabled_keys(entity_registry, entry, line_id)
        assert set(enabled) == {description.key for description in DESCRIPTIONS}
        assert {key for key, on in enabled.items() if on} == ESSENTIAL_KEYS
    assert hass.states.get("sensor.us_travel_data_remaining") is not None
    assert hass.states.get("button.us_travel_renew") is None


@pytest.mark.usefixtures("demo_backend")
async def test_small_account_enables_every_default(
    hass: HomeAssistant, entity_registry: er.EntityRegistry
) -> None:
    """Under the threshold each entity follows its own default."""
    entry = demo_entry("us-travel")
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()

    enabled = _enabled_keys(entity_registry, entry, "us-travel")
    assert enabled == {
        description.key: description.entity_registry_enabled_default for description in DESCRIPTIONS
    }


def test_threshold_keeps_accounts_under_the_cap() -> None:
    """The threshold and the essentials fit Home Assistant's cap of enabled entities."""
    assert {d.key for d in DESCRIPTIONS if d.essential} == ESSENTIAL_KEYS
    enabled_per_line = sum(d.entity_registry_enabled_default for d in DESCRIPTIONS)
    assert enabled_per_line * LARGE_ACCOUNT_LINES <= MAX_ENABLED_ENTITIES_PER_CONFIG_ENTRY
    # A 1,000-line account fits with its essentials (up to 1,250 lines).
    assert len(ESSENTIAL_KEYS) * 1250 <= MAX_ENABLED_ENTITIES_PER_CONFIG_ENTRY
