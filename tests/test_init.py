"""Setting up, failing, retrying and unloading an account."""

from __future__ import annotations

from datetime import timedelta

from freezegun.api import FrozenDateTimeFactory
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_fire_time_changed
from pytest_homeassistant_custom_component.components.diagnostics import (
    get_diagnostics_for_config_entry,
)
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import STATE_UNAVAILABLE
from homeassistant.core import HomeAssistant
from homeassistant.helpers import issue_registry as ir
from homeassistant.setup import async_setup_component

from custom_components.prepaid_sim.const import DOMAIN
from custom_components.prepaid_sim.providers.base import line_ref
from custom_components.prepaid_sim.providers.demo import DemoBackend

from .helpers import line_issue

pytestmark = pytest.mark.freeze_time("2026-11-26T12:00:00+00:00")


async def test_load_and_unload(hass: HomeAssistant, init_integration: MockConfigEntry) -> None:
    """An account loads, and unloads cleanly."""
    assert init_integration.state is ConfigEntryState.LOADED
    assert await hass.config_entries.async_unload(init_integration.entry_id)
    await hass.async_block_till_done()
    assert init_integration.state is ConfigEntryState.NOT_LOADED
    assert hass.states.get("sensor.us_travel_data_remaining").state == STATE_UNAVAILABLE
    # Actions stay registered: they belong to the integration, not the account.
    assert hass.services.has_service(DOMAIN, "renew")


async def test_setup_retry_has_translated_reason(
    hass: HomeAssistant, mock_config_entry: MockConfigEntry, demo_backend: DemoBackend
) -> None:
    """A provider that is down at start makes setup retry with a translated reason."""
    demo_backend.unavailable = True
    mock_config_entry.add_to_hass(hass)
    await hass.config_entries.async_setup(mock_config_entry.entry_id)
    assert mock_config_entry.state is ConfigEntryState.SETUP_RETRY
    assert mock_config_entry.error_reason_translation_key == "update_failed"
    assert mock_config_entry.reason == (
        "Could not read the account: demo provider switched to unavailable"
    )


async def test_auth_failure_while_polling_starts_reauth(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    demo_backend: DemoBackend,
    freezer: FrozenDateTimeFactory,
) -> None:
    """Credentials refused during a poll open a reauth flow instead of a stack of errors."""
    demo_backend.auth_invalid = True
    freezer.tick(timedelta(minutes=1))
    async_fire_time_changed(hass)
    await hass.async_block_till_done()
    flows = hass.config_entries.flow.async_progress_by_handler(DOMAIN)
    assert [flow["context"]["source"] for flow in flows] == ["reauth"]


async def test_rate_limit_waits_as_asked(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    demo_backend: DemoBackend,
    freezer: FrozenDateTimeFactory,
) -> None:
    """A 429 with Retry-After makes the next poll wait that long."""
    coordinator = init_integration.runtime_data.coordinator
    demo_backend.rate_limited_for = 300
    requests = demo_backend.request_count
    freezer.tick(timedelta(minutes=1))
    async_fire_time_changed(hass)
    await hass.async_block_till_done()
    assert demo_backend.request_count == requests + 1
    assert coordinator.last_exception is not None
    assert coordinator.last_exception.translation_key == "rate_limited"
    # The usual one-minute poll is skipped; the next one comes after five minutes.
    freezer.tick(timedelta(minutes=2))
    async_fire_time_changed(hass)
    await hass.async_block_till_done()
    assert demo_backend.request_count == requests + 1
    demo_backend.rate_limited_for = None
    freezer.tick(timedelta(minutes=3, seconds=1))
    async_fire_time_changed(hass)
    await hass.async_block_till_done()
    assert demo_backend.request_count == requests + 2
    assert coordinator.last_update_success


async def test_missing_line_repair_removes_it(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    init_integration: MockConfigEntry,
    demo_backend: DemoBackend,
    issue_registry: ir.IssueRegistry,
    freezer: FrozenDateTimeFactory,
) -> None:
    """A line gone from the account raises a fixable issue whose fix removes it."""
    assert await async_setup_component(hass, "repairs", {})
    del demo_backend.lines["camera-iot"]
    freezer.tick(timedelta(minutes=1))
    async_fire_time_changed(hass)
    await hass.async_block_till_done()
    issue_id = line_issue(init_integration, "line_missing", "camera-iot")
    issue = issue_registry.async_get_issue(DOMAIN, issue_id)
    assert issue is not None
    assert issue.is_fixable
    assert hass.states.get("sensor.us_travel_data_remaining").state != STATE_UNAVAILABLE

    client = await hass_client()
    response = await client.post(
        "/api/repairs/issues/fix", json={"handler": DOMAIN, "issue_id": issue_id}
    )
    flow = await response.json()
    assert flow["step_id"] == "confirm"
    assert flow["description_placeholders"] == {"line": "Camera Iot", "account": "Demo account"}
    response = await client.post(f"/api/repairs/issues/fix/{flow['flow_id']}", json={})
    assert (await response.json())["type"] == "create_entry"
    await hass.async_block_till_done()

    assert "camera-iot" not in {sub.unique_id for sub in init_integration.subentries.values()}
    assert hass.states.get("sensor.camera_iot_data_remaining") is None
    assert issue_registry.async_get_issue(DOMAIN, issue_id) is None


async def test_diagnostics_redact_secrets(
    hass: HomeAssistant, hass_client: ClientSessionGenerator, init_integration: MockConfigEntry
) -> None:
    """Diagnostics show the account and lines without SIM numbers or names."""
    diagnostics = await get_diagnostics_for_config_entry(hass, hass_client, init_integration)
    text = str(diagnostics)
    assert diagnostics["provider"] == "demo"
    lines = ("us-travel", "camera-iot", "europe-esim")
    # Lines are named by ref, never by their line id (for several providers, the ICCID).
    assert set(diagnostics["snapshot"]["lines"]) == {line_ref(line_id) for line_id in lines}
    line = diagnostics["snapshot"]["lines"][line_ref("us-travel")]
    assert line["iccid"] == "**REDACTED**"
    assert line["phone_number"] == "**REDACTED**"
    assert line["data_total_bytes"] == 10 * 1024**3
    for secret in ("8901260000000000011", "+15550100001", *lines):
        assert secret not in text
