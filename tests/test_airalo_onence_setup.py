"""Airalo and 1NCE through Home Assistant: flow, odd lines, tokens and renewals."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from datetime import timedelta
import time

import pytest

from homeassistant.config_entries import SOURCE_USER, ConfigEntry, ConfigEntryState
from homeassistant.const import STATE_UNAVAILABLE
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers import device_registry as dr, entity_registry as er, issue_registry as ir
from homeassistant.util import dt as dt_util

from custom_components.prepaid_sim.const import CONF_BASE_URL, CONF_LINE_ID, CONF_PROVIDER, DOMAIN

from .emulators import airalo as airalo_emulator, onence as onence_emulator
from .helpers import line_issue

AIRALO_LINE = "8910300000000000001"
AIRALO_UNLIMITED = "8910300000000000002"
AIRALO_RECYCLED = "8910300000000000003"
ONENCE_LINE = "8988228066000000001"


@pytest.fixture
async def airalo(socket_enabled: None) -> AsyncGenerator[airalo_emulator.AiraloEmulator]:
    """Run an Airalo emulator with a normal, an unlimited and a soon-recycled eSIM."""
    async with airalo_emulator.AiraloEmulator() as emulator:
        emulator.add_sim(iccid=AIRALO_LINE, total_mb=3072, remaining_mb=1024)
        emulator.add_sim(iccid=AIRALO_UNLIMITED, unlimited=True)
        emulator.add_sim(iccid=AIRALO_RECYCLED)
        yield emulator


@pytest.fixture
async def onence(socket_enabled: None) -> AsyncGenerator[onence_emulator.OnenceEmulator]:
    """Run a 1NCE emulator with one SIM."""
    async with onence_emulator.OnenceEmulator() as emulator:
        emulator.add_sim(iccid=ONENCE_LINE, label="Tracker", volume_mb=350, total_volume_mb=500)
        yield emulator


async def _add(
    hass: HomeAssistant, provider: str, base_url: str, credentials: dict[str, str], line: str
) -> ConfigEntry:
    """Add an account and its first line through the UI flow, after a refused secret."""
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_PROVIDER: provider}
    )
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {**credentials, "client_secret": "wrong", CONF_BASE_URL: base_url}
    )
    assert result["errors"] == {"base": "invalid_auth"}
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {**credentials, CONF_BASE_URL: base_url}
    )
    result = await hass.config_entries.flow.async_configure(result["flow_id"], {CONF_LINE_ID: line})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done(wait_background_tasks=True)
    return result["result"]


async def _add_line(hass: HomeAssistant, entry: ConfigEntry, line_id: str) -> None:
    """Track one more line."""
    result = await hass.config_entries.subentries.async_init(
        (entry.entry_id, "line"), context={"source": SOURCE_USER}
    )
    await hass.config_entries.subentries.async_configure(result["flow_id"], {CONF_LINE_ID: line_id})
    await hass.async_block_till_done(wait_background_tasks=True)


def _state(hass: HomeAssistant, entry: ConfigEntry, line_id: str, key: str) -> str:
    """Return one sensor state of a line."""
    device = dr.async_get(hass).async_get_device_by_identifier(
        (DOMAIN, f"{entry.unique_id}_{line_id}"), entry.entry_id
    )
    assert device is not None
    entity = next(
        e
        for e in er.async_entries_for_device(er.async_get(hass), device.id)
        if e.unique_id.endswith(f"_{key}")
    )
    return hass.states.get(entity.entity_id).state


async def _renew(hass: HomeAssistant, entry: ConfigEntry, line_id: str, **fields: object) -> dict:
    """Renew a line through the action."""
    device = dr.async_get(hass).async_get_device_by_identifier(
        (DOMAIN, f"{entry.unique_id}_{line_id}"), entry.entry_id
    )
    assert device is not None
    return await hass.services.async_call(
        DOMAIN,
        "renew",
        {"device_id": device.id, **fields},
        blocking=True,
        return_response=True,
    )


AIRALO_CREDENTIALS = {
    "client_id": airalo_emulator.DEFAULT_CLIENT_ID,
    "client_secret": airalo_emulator.DEFAULT_CLIENT_SECRET,
}
ONENCE_CREDENTIALS = {
    "client_id": onence_emulator.DEFAULT_CLIENT_ID,
    "client_secret": onence_emulator.DEFAULT_CLIENT_SECRET,
}


async def test_airalo_lines(
    hass: HomeAssistant, airalo: airalo_emulator.AiraloEmulator, issue_registry: ir.IssueRegistry
) -> None:
    """MB become bytes, unlimited shows no "0 left", a recycled SIM is a missing line."""
    entry = await _add(hass, "airalo", airalo.base_url, AIRALO_CREDENTIALS, AIRALO_LINE)
    await _add_line(hass, entry, AIRALO_UNLIMITED)
    await _add_line(hass, entry, AIRALO_RECYCLED)
    assert entry.state is ConfigEntryState.LOADED
    assert entry.title == "Airalo (eSIM 0001)"
    assert float(_state(hass, entry, AIRALO_LINE, "data_remaining")) == pytest.approx(1.0)
    assert _state(hass, entry, AIRALO_UNLIMITED, "data_remaining") == "unknown"
    assert _state(hass, entry, AIRALO_RECYCLED, "status") == "active"

    airalo.sims[AIRALO_RECYCLED].recycled = True
    # Sixteen minutes later every line is due for its next usage read.
    coordinator = entry.runtime_data.coordinator
    entry.runtime_data.provider.clock = lambda: time.monotonic() + 16 * 60
    airalo.clock = lambda: dt_util.utcnow() + timedelta(minutes=16)
    await coordinator.async_refresh()
    await hass.async_block_till_done()
    assert _state(hass, entry, AIRALO_RECYCLED, "status") == STATE_UNAVAILABLE
    assert _state(hass, entry, AIRALO_LINE, "status") == "active"
    assert issue_registry.async_get_issue(
        DOMAIN, line_issue(entry, "line_missing", AIRALO_RECYCLED)
    )


async def test_airalo_token_and_renewal(
    hass: HomeAssistant, airalo: airalo_emulator.AiraloEmulator
) -> None:
    """An expired token is renewed once; a lost top-up answer is found by its reference."""
    entry = await _add(hass, "airalo", airalo.base_url, AIRALO_CREDENTIALS, AIRALO_LINE)
    tokens = airalo.token_calls
    airalo.expire_tokens()
    await entry.runtime_data.coordinator.async_refresh()
    assert entry.runtime_data.coordinator.last_update_success
    assert airalo.token_calls == tokens + 1

    airalo.fail_next["order_topup"] = "drop_after_commit"
    order = await _renew(hass, entry, AIRALO_LINE, package="change-7days-1gb-topup")
    assert order["state"] in ("succeeded", "pending")
    (charge,) = airalo.ledger
    assert order["reference"] in charge.description


async def test_onence_line_and_renewal(
    hass: HomeAssistant, onence: onence_emulator.OnenceEmulator
) -> None:
    """A 1NCE SIM shows its quota; a top-up is charged once."""
    entry = await _add(hass, "onence", onence.base_url, ONENCE_CREDENTIALS, ONENCE_LINE)
    assert entry.state is ConfigEntryState.LOADED
    assert entry.title == "1NCE (Tracker)"
    # A small IoT allowance is shown in MiB.
    assert float(_state(hass, entry, ONENCE_LINE, "data_remaining")) == pytest.approx(350)
    order = await _renew(hass, entry, ONENCE_LINE)
    assert order["state"] in ("succeeded", "pending")
    assert len(onence.ledger) == 1
    onence.fail_next["topup"] = "drop_after_commit"
    with pytest.raises(Exception):  # noqa: B017 - refused as a repeat or pending
        await _renew(hass, entry, ONENCE_LINE)
    assert len(onence.ledger) == 1
