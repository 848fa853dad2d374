"""Removing a line or an account takes its stores and repair issues with it."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import issue_registry as ir

from custom_components.prepaid_sim.const import DOMAIN
from custom_components.prepaid_sim.providers.demo import DemoBackend

from .helpers import line_device, line_issue, renew

pytestmark = pytest.mark.freeze_time("2026-11-26T12:00:00+00:00")


async def test_removing_the_account_deletes_its_stores(
    hass: HomeAssistant,
    hass_storage: dict[str, Any],
    init_integration: MockConfigEntry,
    demo_backend: DemoBackend,
) -> None:
    """Receipts and known lines go with the account, except this month's charges.

    A paid renewal of this month still guards the line's spend cap and repeat window if
    the account is added again, so it stays (keyed by the line) until the month ends.
    """
    await renew(hass, line_device(hass, init_integration, "us-travel"))
    demo_backend.reject_orders_with = "package_unavailable"
    with pytest.raises(HomeAssistantError):
        await renew(hass, line_device(hass, init_integration, "camera-iot"))
    entry_id = init_integration.entry_id
    journal = f"{DOMAIN}.renewals"
    known_lines = f"{DOMAIN}.{entry_id}.known_lines"
    await hass.async_block_till_done()
    stored = hass_storage[journal]["data"]["records"]
    assert sorted(record["state"] for record in stored) == ["failed", "succeeded"]
    assert "camera-iot" in hass_storage[known_lines]["data"]["known"]

    assert await hass.config_entries.async_remove(entry_id)
    await hass.async_block_till_done()

    (kept,) = hass_storage[journal]["data"]["records"]
    assert (kept["state"], kept["line_id"]) == ("succeeded", "us-travel")
    assert known_lines not in hass_storage


async def test_removed_line_leaves_no_repair_behind(
    hass: HomeAssistant, init_integration: MockConfigEntry, issue_registry: ir.IssueRegistry
) -> None:
    """An expiring line's repair goes with the line; the other lines' repairs stay."""
    europe = line_issue(init_integration, "line_expiring", "europe-esim")
    assert issue_registry.async_get_issue(DOMAIN, europe) is not None
    subentry = next(s for s in init_integration.subentries.values() if s.unique_id == "us-travel")
    hass.config_entries.async_update_subentry(
        init_integration, subentry, data={**subentry.data, "expiry_warning_days": 30}
    )
    await hass.async_block_till_done()
    travel = line_issue(init_integration, "line_expiring", "us-travel")
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
        line_issue(init_integration, "line_expiring", "europe-esim"),
        f"{init_integration.entry_id}_wallet_low",
    }
    assert await hass.config_entries.async_remove(init_integration.entry_id)
    await hass.async_block_till_done()
    assert not [issue for domain, issue in issue_registry.issues if domain == DOMAIN]
