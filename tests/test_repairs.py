"""Repairs: renew an expiring line after confirmation; a wallet that cannot pay."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from decimal import Decimal

import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_fire_time_changed
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from homeassistant.core import HomeAssistant
from homeassistant.helpers import issue_registry as ir
from homeassistant.util import dt as dt_util

from custom_components.prepaid_sim.const import DOMAIN
from custom_components.prepaid_sim.providers.demo import DemoBackend

from .helpers import line_issue, start_fix

pytestmark = pytest.mark.freeze_time("2026-11-26T12:00:00+00:00")


async def test_expiring_line_fix_renews_after_confirmation(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    init_integration: MockConfigEntry,
    demo_backend: DemoBackend,
    issue_registry: ir.IssueRegistry,
) -> None:
    """The fix shows package and price, charges only on confirm, and the issue goes away."""
    issue_id = line_issue(init_integration, "line_expiring", "europe-esim")
    issue = issue_registry.async_get_issue(DOMAIN, issue_id)
    assert issue is not None
    assert issue.translation_placeholders == {"line": "Europe Esim", "days": "3"}

    client, flow = await start_fix(hass, hass_client, issue_id)
    assert flow["step_id"] == "confirm"
    placeholders = flow["description_placeholders"]
    assert (placeholders["package"], placeholders["price"]) == ("Europe 5 GB, 15 days", "12.00 USD")
    assert demo_backend.ledger == []

    response = await client.post(f"/api/repairs/issues/fix/{flow['flow_id']}", json={})
    assert (await response.json())["type"] == "create_entry"
    await hass.async_block_till_done()
    assert [c.package_id for c in demo_backend.ledger] == ["eu-5gb-15d"]
    assert issue_registry.async_get_issue(DOMAIN, issue_id) is None


async def test_expiring_fix_that_cannot_be_paid(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    init_integration: MockConfigEntry,
    demo_backend: DemoBackend,
) -> None:
    """A fix whose renewal fails ends with the reason, and nothing is charged."""
    issue_id = line_issue(init_integration, "line_expiring", "europe-esim")
    client, flow = await start_fix(hass, hass_client, issue_id)
    demo_backend.wallet = Decimal(0)
    response = await client.post(f"/api/repairs/issues/fix/{flow['flow_id']}", json={})
    result = await response.json()
    assert (result["type"], result["reason"]) == ("abort", "renewal_failed")
    assert "cannot pay" in result["description_placeholders"]["error"]
    assert demo_backend.ledger == []


async def test_wallet_low_issue(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    demo_backend: DemoBackend,
    issue_registry: ir.IssueRegistry,
) -> None:
    """A wallet below a line's next renewal raises an issue that clears once funded."""
    issue_id = f"{init_integration.entry_id}_wallet_low"
    assert issue_registry.async_get_issue(DOMAIN, issue_id) is None
    coordinator = init_integration.runtime_data.coordinator
    demo_backend.wallet = Decimal("10.00")
    await coordinator.async_refresh()
    await hass.async_block_till_done()
    issue = issue_registry.async_get_issue(DOMAIN, issue_id)
    assert issue is not None
    assert issue.translation_placeholders["balance"] == "10.00 USD"
    assert "Us Travel (20.00 USD)" in issue.translation_placeholders["lines"]
    assert "Camera Iot" not in issue.translation_placeholders["lines"]
    demo_backend.wallet = Decimal("100.00")
    await coordinator.async_refresh()
    await hass.async_block_till_done()
    assert issue_registry.async_get_issue(DOMAIN, issue_id) is None


async def test_new_line_is_offered_and_added(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    init_integration: MockConfigEntry,
    demo_backend: DemoBackend,
    issue_registry: ir.IssueRegistry,
) -> None:
    """A line that appears on the account later is offered; the fix tracks the chosen one."""
    issue_id = f"{init_integration.entry_id}_new_lines"
    # Lines present at setup (two untracked ones) are not "new".
    assert issue_registry.async_get_issue(DOMAIN, issue_id) is None
    template = demo_backend.lines["camera-iot"]
    demo_backend.lines["doorbell"] = replace(template, line_id="doorbell", name="Doorbell SIM")
    # Fire the twice-daily timer without moving the clock (the API token must stay valid).
    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(hours=12, minutes=1))
    await hass.async_block_till_done()
    issue = issue_registry.async_get_issue(DOMAIN, issue_id)
    assert issue is not None
    assert issue.translation_placeholders == {"account": "Demo account", "lines": "Doorbell SIM"}

    client, flow = await start_fix(hass, hass_client, issue_id)
    assert flow["step_id"] == "pick"
    response = await client.post(
        f"/api/repairs/issues/fix/{flow['flow_id']}", json={"lines": ["doorbell"]}
    )
    assert (await response.json())["type"] == "create_entry"
    await hass.async_block_till_done()
    assert "doorbell" in {s.unique_id for s in init_integration.subentries.values()}
    assert hass.states.get("sensor.doorbell_sim_data_remaining") is not None
    assert issue_registry.async_get_issue(DOMAIN, issue_id) is None
    # Offered once: the next check does not raise it again.
    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(hours=24, minutes=2))
    await hass.async_block_till_done()
    assert issue_registry.async_get_issue(DOMAIN, issue_id) is None
