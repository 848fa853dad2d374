"""eSIM Access through Home Assistant: flow, polling, errors and renewals, on the emulator."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from datetime import timedelta

import aiohttp
import pytest
from pytest_homeassistant_custom_component.common import async_fire_time_changed

from homeassistant.config_entries import (
    SOURCE_RECONFIGURE,
    SOURCE_USER,
    ConfigEntry,
    ConfigEntryState,
)
from homeassistant.const import STATE_UNAVAILABLE
from homeassistant.core import HomeAssistant, State
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers import device_registry as dr, entity_registry as er, issue_registry as ir
from homeassistant.util import dt as dt_util

from custom_components.prepaid_sim.const import CONF_BASE_URL, CONF_LINE_ID, CONF_PROVIDER, DOMAIN

from .emulators.esimaccess import API_PREFIX, DEFAULT_ACCESS_CODE, GIB, EsimAccessEmulator

TRAVEL = "25030000000001"
DEPLETED = "25030000000002"
EXPIRED = "25030000000003"
FRESH = "25030000000004"
DAILY = "25030000000005"


@pytest.fixture
async def emulator(socket_enabled: None) -> AsyncGenerator[EsimAccessEmulator]:
    """Run an eSIM Access emulator with lines in different states."""
    async with EsimAccessEmulator(timeout_delay=3) as emulator:
        emulator.add_esim(
            esim_tran_no=TRAVEL, total_volume=3 * GIB, order_usage=GIB, msisdn="+15550101"
        )
        emulator.add_esim(esim_tran_no=DEPLETED, total_volume=GIB, order_usage=GIB)
        emulator.add_esim(
            esim_tran_no=EXPIRED, expires_in=timedelta(days=-2), esim_status="USED_EXPIRED"
        )
        emulator.add_esim(esim_tran_no=FRESH, esim_status="GOT_RESOURCE", smdp_status="RELEASED")
        emulator.add_esim(esim_tran_no=DAILY, data_type=2, total_volume=GIB // 2)
        yield emulator


async def _sign_in(hass: HomeAssistant, emulator: EsimAccessEmulator) -> str:
    """Start adding the emulated account and sign in; return the flow at its line step."""
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_PROVIDER: "esimaccess"}
    )
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        {"access_code": DEFAULT_ACCESS_CODE, CONF_BASE_URL: emulator.base_url},
    )
    assert result["step_id"] == "line"
    return str(result["flow_id"])


async def _add_account(hass: HomeAssistant, emulator: EsimAccessEmulator) -> ConfigEntry:
    """Add the emulated account with the travel line through the UI flow."""
    flow_id = await _sign_in(hass, emulator)
    result = await hass.config_entries.flow.async_configure(flow_id, {CONF_LINE_ID: TRAVEL})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()
    return result["result"]


async def _add_lines(hass: HomeAssistant, entry: ConfigEntry, *line_ids: str) -> None:
    """Track more lines through "Add line"."""
    for line_id in line_ids:
        result = await hass.config_entries.subentries.async_init(
            (entry.entry_id, "line"), context={"source": SOURCE_USER}
        )
        assert result["type"] is FlowResultType.FORM, (result, entry.state, entry.reason)
        await hass.config_entries.subentries.async_configure(
            result["flow_id"], {CONF_LINE_ID: line_id}
        )
        await hass.async_block_till_done()


def _device_id(hass: HomeAssistant, line_id: str) -> str:
    """Return the device id of a line of the (only) eSIM Access account."""
    entry = hass.config_entries.async_entries(DOMAIN)[0]
    device = dr.async_get(hass).async_get_device_by_identifier(
        (DOMAIN, f"{entry.unique_id}_{line_id}"), entry.entry_id
    )
    assert device is not None
    return device.id


def _full_state(hass: HomeAssistant, line_id: str, key: str) -> State:
    """Return one sensor of a line, attributes and all."""
    entity = next(
        e
        for e in er.async_entries_for_device(er.async_get(hass), _device_id(hass, line_id))
        if e.unique_id.endswith(f"_{key}")
    )
    state = hass.states.get(entity.entity_id)
    assert state is not None
    return state


def _state(hass: HomeAssistant, line_id: str, key: str) -> str:
    """Return the state of one sensor of a line (entity ids follow the line's name)."""
    return _full_state(hass, line_id, key).state


async def test_credentials_errors_then_success(
    hass: HomeAssistant, emulator: EsimAccessEmulator
) -> None:
    """A wrong code and an unreachable address are distinct errors; then it works."""
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_PROVIDER: "esimaccess"}
    )
    assert result["step_id"] == "credentials"
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"access_code": "wrong", CONF_BASE_URL: emulator.base_url}
    )
    assert result["errors"] == {"base": "invalid_auth"}
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        {"access_code": DEFAULT_ACCESS_CODE, CONF_BASE_URL: "http://127.0.0.1:9"},
    )
    assert result["errors"] == {"base": "cannot_connect"}
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        {"access_code": DEFAULT_ACCESS_CODE, CONF_BASE_URL: emulator.base_url},
    )
    assert result["step_id"] == "line"
    options = {o["value"] for o in result["data_schema"].schema[CONF_LINE_ID].config["options"]}
    assert options == {TRAVEL, DEPLETED, EXPIRED, FRESH, DAILY}
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_LINE_ID: TRAVEL}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    # eSIM Access names no account: the title tells keys apart by their first line.
    assert result["title"] == "eSIM Access (eSIM 0001)"
    assert result["result"].data == {
        CONF_PROVIDER: "esimaccess",
        "access_code": DEFAULT_ACCESS_CODE,
        CONF_BASE_URL: emulator.base_url,
    }


async def test_values_of_lines_in_odd_states(
    hass: HomeAssistant, emulator: EsimAccessEmulator
) -> None:
    """Bytes, expiry and status come through for healthy, depleted, expired, new, daily."""
    entry = await _add_account(hass, emulator)
    await _add_lines(hass, entry, DEPLETED, EXPIRED, FRESH, DAILY)
    assert entry.state is ConfigEntryState.LOADED
    assert float(_state(hass, TRAVEL, "data_remaining")) == pytest.approx(2.0)
    assert _state(hass, TRAVEL, "status") == "active"
    assert float(_state(hass, TRAVEL, "balance")) == 500
    assert _state(hass, DEPLETED, "status") == "depleted"
    assert float(_state(hass, DEPLETED, "data_remaining")) == 0
    assert _state(hass, EXPIRED, "status") == "expired"
    assert _state(hass, FRESH, "status") == "not_active"
    expiry = dt_util.parse_datetime(_state(hass, TRAVEL, "plan_expiry"))
    assert expiry is not None
    assert expiry.tzinfo is not None


async def test_daily_plan_shows_its_allowance_per_day(
    hass: HomeAssistant, emulator: EsimAccessEmulator
) -> None:
    """A dataType 2 plan reads as a daily plan: no total or "left", an allowance per day."""
    entry = await _add_account(hass, emulator)
    await _add_lines(hass, entry, DAILY)
    emulator.esims[DAILY].order_usage = GIB
    await entry.runtime_data.coordinator.async_refresh()
    # 1 GiB used of a 0.5 GiB-a-day plan: nothing is "out of data" over the plan.
    assert _state(hass, DAILY, "status") == "active"
    assert _state(hass, DAILY, "data_remaining") == "unknown"
    assert float(_state(hass, DAILY, "data_used")) == pytest.approx(1.0)
    allowance = _full_state(hass, DAILY, "data_total")
    assert allowance.state == "unknown"
    assert allowance.attributes["daily_data_bytes"] == GIB // 2
    # A line with a fixed allowance carries no daily figure.
    assert "daily_data_bytes" not in _full_state(hass, TRAVEL, "data_total").attributes


async def test_few_lines_of_a_large_account_cost_few_requests(
    hass: HomeAssistant, socket_enabled: None
) -> None:
    """3 tracked of 5,000 eSIMs: a refresh is 1 balance + 3 eSIM reads, not 1 + 10 pages."""
    async with EsimAccessEmulator() as large:
        esims = [large.add_esim() for _ in range(5000)]
        tracked = [esims[index].esim_tran_no for index in (0, 2600, 4999)]
        result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"], {CONF_PROVIDER: "esimaccess"}
        )
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"], {"access_code": DEFAULT_ACCESS_CODE, CONF_BASE_URL: large.base_url}
        )
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"], {CONF_LINE_ID: tracked[0]}
        )
        entry = result["result"]
        await hass.async_block_till_done()
        await _add_lines(hass, entry, *tracked[1:])
        # Package lists are read once in the background after setup; not part of a refresh.
        await hass.async_block_till_done(wait_background_tasks=True)
        large.request_log.clear()
        await entry.runtime_data.coordinator.async_refresh()
        requests = list(large.request_log)
        states = [_state(hass, line_id, "status") for line_id in tracked]
    assert states == ["active"] * 3
    assert sorted(requests) == sorted(
        [API_PREFIX + "balance/query", *[API_PREFIX + "esim/query"] * 3]
    )


async def test_polling_errors_and_recovery(
    hass: HomeAssistant, emulator: EsimAccessEmulator
) -> None:
    """A 5xx makes entities unavailable; the next good poll brings them back."""
    entry = await _add_account(hass, emulator)
    coordinator = entry.runtime_data.coordinator
    emulator.fail_next["balance/query"] = "http_500"
    await coordinator.async_refresh()
    assert _state(hass, TRAVEL, "data_remaining") == STATE_UNAVAILABLE
    assert coordinator.last_exception.translation_key == "update_failed"
    await coordinator.async_refresh()
    assert _state(hass, TRAVEL, "data_remaining") != STATE_UNAVAILABLE


async def test_malformed_line_does_not_break_others(
    hass: HomeAssistant, emulator: EsimAccessEmulator
) -> None:
    """One unreadable record leaves that line without values and the rest intact."""
    entry = await _add_account(hass, emulator)
    await _add_lines(hass, entry, DEPLETED)
    emulator.esims[DEPLETED].overrides = {"totalVolume": "lots"}
    await entry.runtime_data.coordinator.async_refresh()
    assert _state(hass, DEPLETED, "data_remaining") == STATE_UNAVAILABLE
    assert _state(hass, TRAVEL, "data_remaining") != STATE_UNAVAILABLE


async def test_key_revoked_then_reauth_with_new_key(
    hass: HomeAssistant, emulator: EsimAccessEmulator
) -> None:
    """A revoked key opens reauth; a new key for the same account brings it back."""
    entry = await _add_account(hass, emulator)
    emulator.valid_access_codes = {"rotated-code"}
    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(minutes=31))
    await hass.async_block_till_done(wait_background_tasks=True)
    (flow,) = hass.config_entries.flow.async_progress_by_handler(DOMAIN)
    assert flow["context"]["source"] == "reauth"
    result = await hass.config_entries.flow.async_configure(
        flow["flow_id"], {"access_code": "rotated-code", CONF_BASE_URL: emulator.base_url}
    )
    assert result["reason"] == "reauth_successful"
    await hass.async_block_till_done()
    assert entry.data["access_code"] == "rotated-code"
    assert entry.state is ConfigEntryState.LOADED, entry.reason
    assert _state(hass, TRAVEL, "data_remaining") != STATE_UNAVAILABLE


async def test_reconfigure_to_another_account_is_refused(
    hass: HomeAssistant, emulator: EsimAccessEmulator, socket_enabled: None
) -> None:
    """Credentials of another account (without the tracked lines) are refused."""
    entry = await _add_account(hass, emulator)
    async with EsimAccessEmulator(access_codes=("other",)) as other:
        other.add_esim(esim_tran_no="26010000000042")
        result = await hass.config_entries.flow.async_init(
            DOMAIN, context={"source": SOURCE_RECONFIGURE, "entry_id": entry.entry_id}
        )
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"], {"access_code": "other", CONF_BASE_URL: other.base_url}
        )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "wrong_account"
    assert entry.data[CONF_BASE_URL] == emulator.base_url


async def _renew(hass: HomeAssistant, **fields: object) -> dict:
    """Renew the travel line through the action."""
    return await hass.services.async_call(
        DOMAIN,
        "renew",
        {"device_id": _device_id(hass, TRAVEL), **fields},
        blocking=True,
        return_response=True,
    )


async def test_renew_charges_once(hass: HomeAssistant, emulator: EsimAccessEmulator) -> None:
    """A renewal is one charge at the provider, with our reference as transactionId."""
    await _add_account(hass, emulator)
    balance = emulator.balance
    order = await _renew(hass, package="TOPUP_US_1GB_7D")
    (charge,) = emulator.ledger
    assert charge.transaction_id == order["reference"]
    assert emulator.balance == balance - charge.amount
    assert order["state"] == "succeeded"


async def test_lost_answer_after_commit(hass: HomeAssistant, emulator: EsimAccessEmulator) -> None:
    """The connection drops after the top-up was applied: found, not resent."""
    await _add_account(hass, emulator)
    emulator.fail_next["esim/topup"] = "drop_after_commit"
    order = await _renew(hass, package="TOPUP_US_1GB_7D")
    assert order["state"] == "succeeded"
    assert len(emulator.ledger) == 1


async def test_5xx_after_commit(hass: HomeAssistant, emulator: EsimAccessEmulator) -> None:
    """A 500 after the top-up was applied is an unknown outcome resolved by look-up."""
    await _add_account(hass, emulator)
    emulator.fail_next["esim/topup"] = "http_500_after_commit"
    order = await _renew(hass, package="TOPUP_US_1GB_7D")
    assert order["state"] == "succeeded"
    assert len(emulator.ledger) == 1


async def test_timeout_keeps_renewal_pending(
    hass: HomeAssistant, emulator: EsimAccessEmulator
) -> None:
    """A timeout before processing stays pending and blocks a second charge."""
    entry = await _add_account(hass, emulator)
    entry.runtime_data.provider.timeout = aiohttp.ClientTimeout(total=0.5)
    emulator.fail_next["esim/topup"] = "timeout"
    with pytest.raises(HomeAssistantError) as err:
        await _renew(hass, package="TOPUP_US_1GB_7D")
    assert err.value.translation_key == "outcome_unknown"
    with pytest.raises(HomeAssistantError) as err:
        await _renew(hass, package="TOPUP_US_1GB_7D", allow_repeat=True)
    assert err.value.translation_key == "renewal_pending"
    assert emulator.ledger == []


async def test_concurrent_renewals_and_insufficient_funds(
    hass: HomeAssistant, emulator: EsimAccessEmulator
) -> None:
    """Twenty calls at once charge once; an empty wallet is refused with no charge."""
    await _add_account(hass, emulator)
    results = await asyncio.gather(
        *(_renew(hass, package="TOPUP_US_1GB_7D") for _ in range(20)), return_exceptions=True
    )
    assert sum(isinstance(r, dict) for r in results) == 1
    assert all(isinstance(r, (dict, ServiceValidationError)) for r in results)
    assert len(emulator.ledger) == 1
    emulator.balance = 0
    with pytest.raises(HomeAssistantError) as err:
        await _renew(hass, package="TOPUP_US_1GB_7D", allow_repeat=True)
    assert err.value.translation_key == "insufficient_funds"
    assert len(emulator.ledger) == 1


async def test_setup_reads_the_account_once(
    hass: HomeAssistant, emulator: EsimAccessEmulator, issue_registry: ir.IssueRegistry
) -> None:
    """The first refresh's read of every page also answers the check for new lines."""
    flow_id = await _sign_in(hass, emulator)
    emulator.request_log.clear()
    result = await hass.config_entries.flow.async_configure(flow_id, {CONF_LINE_ID: TRAVEL})
    await hass.async_block_till_done(wait_background_tasks=True)
    entry = result["result"]

    assert emulator.requests_to("esim/query") == 1
    # The check for new lines did run, from that read: it remembered the account's eSIMs,
    # so the next check offers only one added since.
    emulator.add_esim(esim_tran_no="25030000000009", total_volume=GIB)
    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(hours=12, minutes=1))
    await hass.async_block_till_done(wait_background_tasks=True)
    issue = issue_registry.async_get_issue(DOMAIN, f"{entry.entry_id}_new_lines")
    assert issue is not None
    assert [line.line_id for line in entry.runtime_data.new_lines.offered] == ["25030000000009"]


async def test_new_lines_check_waits_out_an_unreachable_provider(
    hass: HomeAssistant, emulator: EsimAccessEmulator, issue_registry: ir.IssueRegistry
) -> None:
    """A later check that cannot list the account offers nothing and tries again later."""
    entry = await _add_account(hass, emulator)
    emulator.add_esim(esim_tran_no="25030000000009", total_volume=GIB)
    emulator.fail_next["esim/query"] = "http_500"
    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(hours=12, minutes=1))
    await hass.async_block_till_done(wait_background_tasks=True)
    assert issue_registry.async_get_issue(DOMAIN, f"{entry.entry_id}_new_lines") is None

    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(hours=24, minutes=2))
    await hass.async_block_till_done(wait_background_tasks=True)
    assert issue_registry.async_get_issue(DOMAIN, f"{entry.entry_id}_new_lines") is not None


async def test_data_flowing_reads_as_a_usage_move_without_a_full_comparison(
    hass: HomeAssistant, emulator: EsimAccessEmulator
) -> None:
    """A record whose usage alone moved reaches the entities as a usage move; using the
    allowance up turns the status, which is more than a usage move."""
    entry = await _add_account(hass, emulator)
    coordinator = entry.runtime_data.coordinator
    emulator.esims[TRAVEL].order_usage = GIB + GIB // 2
    await coordinator.async_refresh()
    first = coordinator.data.lines[TRAVEL]
    assert coordinator.usage_only_lines == {TRAVEL}
    assert float(_state(hass, TRAVEL, "data_remaining")) == pytest.approx(1.5)

    emulator.esims[TRAVEL].order_usage = 2 * GIB
    await coordinator.async_refresh()
    # The client said which earlier reading the line came from: the one held here.
    assert coordinator.data.usage_moved_from[TRAVEL] is first
    assert coordinator.usage_only_lines == {TRAVEL}
    assert float(_state(hass, TRAVEL, "data_remaining")) == pytest.approx(1.0)

    # The same figure written as a digit string: another record, the same line.
    held = coordinator.data.lines[TRAVEL]
    emulator.esims[TRAVEL].order_usage = str(2 * GIB)  # type: ignore[assignment]
    await coordinator.async_refresh()
    assert coordinator.data.lines[TRAVEL] is held

    emulator.esims[TRAVEL].order_usage = 3 * GIB
    await coordinator.async_refresh()
    assert TRAVEL not in coordinator.data.usage_moved_from
    assert coordinator.usage_only_lines == frozenset()
    assert coordinator.changed_lines == {TRAVEL}
    assert _state(hass, TRAVEL, "status") == "depleted"
