"""Removing a line or an account takes its stores and repair issues with it."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from homeassistant.core import HomeAssistant
from homeassistant.helpers import issue_registry as ir

from custom_components.prepaid_sim.const import DOMAIN
from custom_components.prepaid_sim.providers.demo import DemoBackend

from .helpers import line_device, renew

pytestmark = pytest.mark.freeze_time("2026-11-26T12:00:00+00:00")


async def test_removing_the_account_deletes_its_stores(
    hass: HomeAssistant, hass_storage: dict[str, Any], init_integration: MockConfigEntry
) -> None:
    """The receipts (with prices and order ids) and known lines do not outlive the account."""
    await renew(hass, line_device(hass, init_integration, "us-travel"))
    entry_id = init_integration.entry_id
    journal = f"{DOMAIN}.{entry_id}.renewals"
    known_lines = f"{DOMAIN}.{entry_id}.known_lines"
    assert hass_storage[journal]["data"]["records"]
    assert "camera-iot" in hass_storage[known_lines]["data"]["known"]

    assert await hass.config_entries.async_remove(entry_id)
    await hass.async_block_till_done()

    assert journal not in hass_storage
    assert known_lines not in hass_storage


async def test_removed_line_leaves_no_repair_behind(
    hass: HomeAssistant, init_integration: MockConfigEntry, issue_registry: ir.IssueRegistry
) -> None:
    """An expiring line's repair goes with the line; the other lines' repairs stay."""
    europe = f"line_expiring_{init_integration.entry_id}_europe-esim"
    assert issue_registry.async_get_issue(DOMAIN, europe) is not None
    subentry = next(s for s in init_integration.subentries.values() if s.unique_id == "us-travel")
    hass.config_entries.async_update_subentry(
        init_integration, subentry, data={**subentry.data, "expiry_warning_days": 30}
    )
    await hass.async_block_till_done()
    travel = f"line_expiring_{init_integration.entry_id}_us-travel"
    assert issue_registry.async_get_issue(DOMAIN, travel) is not None

    europe_line = next(
        s for s in init_integration.subentries.values() if s.unique_id == "europe-esim"
    )
    assert hass.config_entries.async_remove_subentry(init_integration, europe_line.subentry_id)
    await hass.async_block_till_done()

    assert issue_registry.async_get_issue(DOMAIN, europe) is None
    assert issue_registry.async_get_issue(DOMAIN, travel) is not None


async def test_removed_account_leaves_no_repair_behind(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    demo_backend: DemoBackend,
    issue_registry: ir.IssueRegistry,
) -> None:
    """Repairs of a removed account (expiring line, low wallet) go with it."""
    demo_backend.wallet = Decimal("1.00")
    await init_integration.runtime_data.coordinator.async_refresh()
    await hass.async_block_till_done()
    assert {issue_id for _, issue_id in issue_registry.issues} >= {
        f"line_expiring_{init_integration.entry_id}_europe-esim",
        f"wallet_low_{init_integration.entry_id}",
    }
    assert await hass.config_entries.async_remove(init_integration.entry_id)
    await hass.async_block_till_done()
    assert not [issue for domain, issue in issue_registry.issues if domain == DOMAIN]
