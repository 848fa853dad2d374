"""eSIM Go through Home Assistant: flow, values, dry run and exactly-once renewals."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator

import pytest

from homeassistant.config_entries import SOURCE_USER, ConfigEntry, ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers import device_registry as dr, entity_registry as er

from custom_components.prepaid_sim.const import CONF_BASE_URL, CONF_LINE_ID, CONF_PROVIDER, DOMAIN

from .emulators.esimgo import DEFAULT_API_KEY, DEFAULT_BUNDLE, EsimGoEmulator


@pytest.fixture
async def emulator(socket_enabled: None) -> AsyncGenerator[EsimGoEmulator]:
    """Run an eSIM Go emulator with an active and a depleted eSIM."""
    async with EsimGoEmulator(timeout_seconds=1) as emulator:
        emulator.add_esim("active", iccid="8944000000000000001", customer_ref="Travel phone")
        emulator.add_esim("depleted", iccid="8944000000000000002")
        yield emulator


async def _add_account(hass: HomeAssistant, emulator: EsimGoEmulator) -> ConfigEntry:
    """Add the emulated account with its first eSIM through the UI flow."""
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_PROVIDER: "esimgo"}
    )
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"api_key": "bad-key", CONF_BASE_URL: emulator.base_url}
    )
    assert result["errors"] == {"base": "invalid_auth"}
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"api_key": DEFAULT_API_KEY, CONF_BASE_URL: emulator.base_url}
    )
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_LINE_ID: "8944000000000000001"}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()
    return result["result"]


def _device_id(hass: HomeAssistant, entry: ConfigEntry) -> str:
    """Return the device of the travel eSIM."""
    device = dr.async_get(hass).async_get_device_by_identifier(
        (DOMAIN, f"{entry.unique_id}_8944000000000000001"), entry.entry_id
    )
    assert device is not None
    return device.id


async def _renew(hass: HomeAssistant, entry: ConfigEntry, **fields: object) -> dict:
    """Renew the travel eSIM through the action."""
    return await hass.services.async_call(
        DOMAIN,
        "renew",
        {"device_id": _device_id(hass, entry), "package": DEFAULT_BUNDLE, **fields},
        blocking=True,
        return_response=True,
    )


async def test_values(hass: HomeAssistant, emulator: EsimGoEmulator) -> None:
    """The eSIM shows its data in bytes and its status; the name comes from customerRef."""
    entry = await _add_account(hass, emulator)
    assert entry.state is ConfigEntryState.LOADED
    assert entry.title == "Emulated Org"  # the organisation's own name
    device = dr.async_get(hass).async_get(_device_id(hass, entry))
    assert device is not None
    assert device.name == "Travel phone"
    entities = er.async_entries_for_device(er.async_get(hass), device.id)
    status = next(e for e in entities if e.unique_id.endswith("_status"))
    assert hass.states.get(status.entity_id).state == "active"
    # eSIM Go sells decimal gigabytes: its 1 GB bundle reads as sold, not as 0.93 GiB.
    total = next(e for e in entities if e.unique_id.endswith("_data_total"))
    shown = hass.states.get(total.entity_id)
    assert (shown.state, shown.attributes["unit_of_measurement"]) == ("1.0", "GB")


async def test_dry_run_uses_validate(hass: HomeAssistant, emulator: EsimGoEmulator) -> None:
    """A dry run asks eSIM Go's free validate order and charges nothing."""
    entry = await _add_account(hass, emulator)
    quote = await _renew(hass, entry, dry_run=True)
    assert quote["dry_run"] is True
    assert emulator.ledger == []
    assert any(body.get("type") == "validate" for body in emulator.last_order_bodies)


async def test_renew_once_even_with_lost_answer(
    hass: HomeAssistant, emulator: EsimGoEmulator
) -> None:
    """A 503 after the order was committed is found in the order history, not resent."""
    entry = await _add_account(hass, emulator)
    emulator.fail_next("/orders", "http_503_after_commit", method="POST")
    order = await _renew(hass, entry)
    assert order["state"] == "succeeded"
    assert len(emulator.ledger) == 1
    transaction = [b for b in emulator.last_order_bodies if b.get("type") == "transaction"]
    assert transaction[0]["order"][0]["allowReassign"] is False


async def test_concurrent_presses(hass: HomeAssistant, emulator: EsimGoEmulator) -> None:
    """Twenty renew calls at once: one order at eSIM Go."""
    entry = await _add_account(hass, emulator)
    results = await asyncio.gather(
        *(_renew(hass, entry) for _ in range(20)), return_exceptions=True
    )
    assert sum(isinstance(r, dict) for r in results) == 1
    assert all(isinstance(r, (dict, ServiceValidationError)) for r in results)
    assert len(emulator.ledger) == 1


async def test_insufficient_balance(hass: HomeAssistant, emulator: EsimGoEmulator) -> None:
    """An empty organisation balance is refused with no charge."""
    entry = await _add_account(hass, emulator)
    emulator.balance = 0
    with pytest.raises(HomeAssistantError) as err:
        await _renew(hass, entry)
    assert err.value.translation_key == "insufficient_funds"
    assert emulator.ledger == []
