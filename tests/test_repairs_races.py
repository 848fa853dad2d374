"""Fixes confirmed after things changed under them: nothing is bought or added by mistake."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from freezegun.api import FrozenDateTimeFactory
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


def remove_line(hass: HomeAssistant, entry: MockConfigEntry, line_id: str) -> None:
    """Stop tracking a line, as the user does from the account's page."""
    subentry = next(s for s in entry.subentries.values() if s.unique_id == line_id)
    assert hass.config_entries.async_remove_subentry(entry, subentry.subentry_id)


async def test_renew_fix_for_a_line_removed_meanwhile(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    init_integration: MockConfigEntry,
    demo_backend: DemoBackend,
) -> None:
    """The quote was shown, then the line was removed: confirming buys nothing."""
    issue_id = line_issue(init_integration, "line_expiring", "europe-esim")
    client, flow = await start_fix(hass, hass_client, issue_id)
    assert flow["step_id"] == "confirm"
    remove_line(hass, init_integration, "europe-esim")
    await hass.async_block_till_done()
    response = await client.post(f"/api/repairs/issues/fix/{flow['flow_id']}", json={})
    result = await response.json()
    assert (result["type"], result["reason"]) == ("abort", "line_already_removed")
    assert demo_backend.ledger == []


async def test_remove_fix_for_a_line_removed_meanwhile(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    init_integration: MockConfigEntry,
    demo_backend: DemoBackend,
    freezer: FrozenDateTimeFactory,
) -> None:
    """A missing line removed another way ends its fix with "already removed"."""
    del demo_backend.lines["camera-iot"]
    freezer.tick(timedelta(minutes=1))
    async_fire_time_changed(hass)
    await hass.async_block_till_done()
    issue_id = line_issue(init_integration, "line_missing", "camera-iot")
    client, flow = await start_fix(hass, hass_client, issue_id)
    remove_line(hass, init_integration, "camera-iot")
    await hass.async_block_till_done()
    response = await client.post(f"/api/repairs/issues/fix/{flow['flow_id']}", json={})
    result = await response.json()
    assert (result["type"], result["reason"]) == ("abort", "line_already_removed")


async def test_new_lines_fix_for_an_account_unloaded_meanwhile(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    init_integration: MockConfigEntry,
    demo_backend: DemoBackend,
) -> None:
    """New lines cannot be added to an account that was unloaded while the user chose."""
    template = demo_backend.lines["camera-iot"]
    demo_backend.lines["doorbell"] = replace(template, line_id="doorbell", name="Doorbell SIM")
    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(hours=12, minutes=1))
    await hass.async_block_till_done()
    issue_id = f"{init_integration.entry_id}_new_lines"
    client, flow = await start_fix(hass, hass_client, issue_id)
    assert flow["step_id"] == "pick"
    assert await hass.config_entries.async_unload(init_integration.entry_id)
    response = await client.post(
        f"/api/repairs/issues/fix/{flow['flow_id']}", json={"lines": ["doorbell"]}
    )
    result = await response.json()
    assert (result["type"], result["reason"]) == ("abort", "account_not_loaded")
    assert "doorbell" not in {s.unique_id for s in init_integration.subentries.values()}


async def test_renew_fix_for_an_account_unloaded_meanwhile(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    init_integration: MockConfigEntry,
    demo_backend: DemoBackend,
) -> None:
    """The quote was shown, then the account was unloaded: confirming buys nothing."""
    issue_id = line_issue(init_integration, "line_expiring", "europe-esim")
    client, flow = await start_fix(hass, hass_client, issue_id)
    assert flow["step_id"] == "confirm"
    assert await hass.config_entries.async_unload(init_integration.entry_id)
    response = await client.post(f"/api/repairs/issues/fix/{flow['flow_id']}", json={})
    result = await response.json()
    assert (result["type"], result["reason"]) == ("abort", "account_not_loaded")
    assert demo_backend.ledger == []


@pytest.mark.parametrize(
    "data",
    [
        {"kind": "renew_everything", "entry_id": "01JDEMOACCOUNTENTRY0000000"},
        {"kind": "line_expiring"},
        None,
    ],
)
async def test_issue_this_version_cannot_fix(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    init_integration: MockConfigEntry,
    demo_backend: DemoBackend,
    data: dict[str, str] | None,
) -> None:
    """An issue an older version left (unknown kind, no account) opens a fix that does nothing."""
    issue_id = f"{init_integration.entry_id}_from_an_older_version"
    ir.async_create_issue(
        hass,
        DOMAIN,
        issue_id,
        is_fixable=True,
        severity=ir.IssueSeverity.WARNING,
        translation_key="line_expiring",
        data=data,
    )
    _, flow = await start_fix(hass, hass_client, issue_id)
    assert (flow["type"], flow["reason"]) == ("abort", "not_fixable")
    assert demo_backend.ledger == []
    assert len(init_integration.subentries) == 3
