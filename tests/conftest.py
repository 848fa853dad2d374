"""Fixtures shared by the integration's tests."""

from __future__ import annotations

from collections.abc import Generator
from unittest.mock import PropertyMock, patch

import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.syrupy import HomeAssistantSnapshotExtension
from syrupy.assertion import SnapshotAssertion

from homeassistant.const import Platform
from homeassistant.core import HomeAssistant
from homeassistant.util import dt as dt_util

# pytest-homeassistant-custom-component ships its own ``custom_components`` package;
# importing ours first makes Home Assistant find this integration.
from custom_components.prepaid_sim import PLATFORMS
from custom_components.prepaid_sim.providers.demo import DemoBackend, reset_demo_backend

from .helpers import demo_entry

pytest_plugins = ["pytest_homeassistant_custom_component"]


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations(enable_custom_integrations: None) -> None:
    """Let Home Assistant load custom integrations in every test."""


@pytest.fixture
def snapshot(snapshot: SnapshotAssertion) -> SnapshotAssertion:
    """Serialize snapshots the way Home Assistant's own tests do."""
    return snapshot.use_extension(HomeAssistantSnapshotExtension)


@pytest.fixture
def entity_registry_enabled_by_default() -> Generator[None]:
    """Enable every entity, including those disabled by default."""
    with patch(
        "homeassistant.helpers.entity.Entity.entity_registry_enabled_default",
        new_callable=PropertyMock,
        return_value=True,
    ):
        yield


@pytest.fixture
def demo_backend() -> DemoBackend:
    """Start the simulated carrier afresh, on Home Assistant's (freezable) clock."""
    return reset_demo_backend(clock=dt_util.utcnow)


@pytest.fixture
def mock_config_entry() -> MockConfigEntry:
    """Return a demo account tracking the healthy, low-data and expiring lines."""
    return demo_entry("us-travel", "camera-iot", "europe-esim")


@pytest.fixture
def platforms() -> list[Platform]:
    """Return the platforms to set up (all by default; snapshot tests pick one)."""
    return list(PLATFORMS)


@pytest.fixture
async def init_integration(
    hass: HomeAssistant,
    demo_backend: DemoBackend,
    mock_config_entry: MockConfigEntry,
    platforms: list[Platform],
) -> MockConfigEntry:
    """Set up the demo account."""
    mock_config_entry.add_to_hass(hass)
    with patch("custom_components.prepaid_sim.PLATFORMS", platforms):
        assert await hass.config_entries.async_setup(mock_config_entry.entry_id)
        await hass.async_block_till_done()
    return mock_config_entry
