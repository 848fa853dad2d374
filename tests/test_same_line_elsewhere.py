"""The same account added twice (issue #13.2): a line is tracked by one entry only.

eSIM Access accounts are told apart by their access code, so one account added with two
codes is two entries; each line may still be tracked by one of them only, loaded or not.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from datetime import timedelta
import re

import pytest
from pytest_homeassistant_custom_component.common import async_fire_time_changed
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from homeassistant.config_entries import (
    SOURCE_RECONFIGURE,
    SOURCE_USER,
    ConfigEntry,
    ConfigEntryState,
)
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers import issue_registry as ir
from homeassistant.util import dt as dt_util

from custom_components.prepaid_sim.const import CONF_BASE_URL, CONF_LINE_ID, DOMAIN

from .emulators.esimaccess import DEFAULT_ACCESS_CODE, GIB, EsimAccessEmulator
from .helpers import (
    ESIMACCESS_TRAVEL,
    add_esimaccess_account,
    line_options,
    start_account_flow,
    start_fix,
)

SECOND = "25030000000002"
THIRD = "25030000000003"
# An eSIM bought after both entries were set up.
FOURTH = "25030000000004"
# Two more access codes of the same account (a second key, a colleague's key).
CODE_B = "second-access-code"
CODE_C = "third-access-code"


@pytest.fixture
async def emulator(socket_enabled: None) -> AsyncGenerator[EsimAccessEmulator]:
    """Run an eSIM Access account with three lines that three access codes open."""
    async with EsimAccessEmulator(access_codes=(DEFAULT_ACCESS_CODE, CODE_B, CODE_C)) as emulator:
        for line_id in (ESIMACCESS_TRAVEL, SECOND, THIRD):
            emulator.add_esim(esim_tran_no=line_id, total_volume=3 * GIB, order_usage=GIB)
        yield emulator


def _credentials(emulator: EsimAccessEmulator, code: str) -> dict[str, str]:
    """Return the credentials form for ``code``."""
    return {"access_code": code, CONF_BASE_URL: emulator.base_url}


async def _open_add_line(hass: HomeAssistant, entry: ConfigEntry) -> dict:
    """Open "Add line" on an account."""
    return await hass.config_entries.subentries.async_init(
        (entry.entry_id, "line"), context={"source": SOURCE_USER}
    )


async def test_lines_tracked_elsewhere_are_not_offered(
    hass: HomeAssistant, emulator: EsimAccessEmulator
) -> None:
    """Neither the account flow nor "Add line" offers a line another entry tracks."""
    first = await add_esimaccess_account(hass, emulator)

    # The same account with a second code: only the lines the first entry does not track.
    result = await start_account_flow(hass, "esimaccess", _credentials(emulator, CODE_B))
    assert result["step_id"] == "line"
    assert line_options(result) == [SECOND, THIRD]
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_LINE_ID: SECOND}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    second = result["result"]
    await hass.async_block_till_done(wait_background_tasks=True)
    assert second.state is ConfigEntryState.LOADED

    # "Add line" on the first entry skips the line the second one took.
    result = await _open_add_line(hass, first)
    assert line_options(result) == [THIRD]
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], {CONF_LINE_ID: THIRD}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done(wait_background_tasks=True)

    # Every line is tracked now: "Add line" says where, the account flow refuses a third
    # entry, even while the entry that tracks a line is not loaded.
    result = await _open_add_line(hass, second)
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "all_lines_tracked_elsewhere"
    assert result["description_placeholders"] == {"entry": first.title}
    assert await hass.config_entries.async_unload(second.entry_id)
    await hass.async_block_till_done()
    assert second.state is ConfigEntryState.NOT_LOADED
    result = await start_account_flow(hass, "esimaccess", _credentials(emulator, CODE_C))
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "account_in_other_entry"
    assert len(hass.config_entries.async_entries(DOMAIN)) == 2


async def test_line_taken_while_the_form_was_open(
    hass: HomeAssistant, emulator: EsimAccessEmulator
) -> None:
    """A line another flow took meanwhile is refused, in the account flow and "Add line"."""
    first = await add_esimaccess_account(hass, emulator)
    flow_b = await start_account_flow(hass, "esimaccess", _credentials(emulator, CODE_B))
    flow_c = await start_account_flow(hass, "esimaccess", _credentials(emulator, CODE_C))
    add_line = await _open_add_line(hass, first)
    assert line_options(flow_b) == line_options(flow_c) == line_options(add_line)
    assert line_options(add_line) == [SECOND, THIRD]

    result = await hass.config_entries.flow.async_configure(
        flow_b["flow_id"], {CONF_LINE_ID: SECOND}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    second = result["result"]
    await hass.async_block_till_done(wait_background_tasks=True)

    # The account flow shows the error and offers what is left.
    result = await hass.config_entries.flow.async_configure(
        flow_c["flow_id"], {CONF_LINE_ID: SECOND}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"base": "tracked_elsewhere"}
    assert result["description_placeholders"] == {"entry": second.title}
    assert line_options(result) == [THIRD]

    # "Add line" refuses it.
    result = await hass.config_entries.subentries.async_configure(
        add_line["flow_id"], {CONF_LINE_ID: SECOND}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "tracked_elsewhere"
    await hass.async_block_till_done(wait_background_tasks=True)
    tracked = [
        {sub.unique_id for sub in entry.subentries.values()}
        for entry in hass.config_entries.async_entries(DOMAIN)
    ]
    assert tracked == [{ESIMACCESS_TRAVEL}, {SECOND}]

    # The last free line still goes to the third entry.
    result = await hass.config_entries.flow.async_configure(
        flow_c["flow_id"], {CONF_LINE_ID: THIRD}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY


async def test_reconfigure_onto_the_key_of_another_entry(
    hass: HomeAssistant, emulator: EsimAccessEmulator
) -> None:
    """A key that another entry already uses is refused: two entries, one unique id, no."""
    first = await add_esimaccess_account(hass, emulator)
    result = await start_account_flow(hass, "esimaccess", _credentials(emulator, CODE_B))
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_LINE_ID: SECOND}
    )
    second = result["result"]
    await hass.async_block_till_done(wait_background_tasks=True)

    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_RECONFIGURE, "entry_id": first.entry_id}
    )
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], _credentials(emulator, CODE_B)
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"
    assert first.data["access_code"] == DEFAULT_ACCESS_CODE
    assert first.unique_id != second.unique_id


async def test_new_line_is_offered_to_one_entry_only(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    emulator: EsimAccessEmulator,
    issue_registry: ir.IssueRegistry,
) -> None:
    """A new eSIM is offered by both entries; once one tracks it, the other never adds it."""
    first = await add_esimaccess_account(hass, emulator)
    result = await start_account_flow(hass, "esimaccess", _credentials(emulator, CODE_B))
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_LINE_ID: SECOND}
    )
    second = result["result"]
    await hass.async_block_till_done(wait_background_tasks=True)

    emulator.add_esim(esim_tran_no=FOURTH, total_volume=3 * GIB)
    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(hours=12, minutes=1))
    await hass.async_block_till_done(wait_background_tasks=True)
    first_issue = f"{first.entry_id}_new_lines"
    second_issue = f"{second.entry_id}_new_lines"
    assert issue_registry.async_get_issue(DOMAIN, first_issue) is not None
    assert issue_registry.async_get_issue(DOMAIN, second_issue) is not None

    # Both fixes open; the first entry takes the line.
    client, first_flow = await start_fix(hass, hass_client, first_issue)
    _, second_flow = await start_fix(hass, hass_client, second_issue)
    response = await client.post(
        f"/api/repairs/issues/fix/{first_flow['flow_id']}", json={"lines": [FOURTH]}
    )
    assert (await response.json())["type"] == "create_entry"
    await hass.async_block_till_done(wait_background_tasks=True)

    # The second fix, submitted later, does not track it a second time.
    response = await client.post(
        f"/api/repairs/issues/fix/{second_flow['flow_id']}", json={"lines": [FOURTH]}
    )
    assert (await response.json())["type"] == "create_entry"
    await hass.async_block_till_done(wait_background_tasks=True)
    trackers = [
        entry.title
        for entry in hass.config_entries.async_entries(DOMAIN)
        if FOURTH in {sub.data[CONF_LINE_ID] for sub in entry.subentries.values()}
    ]
    assert trackers == [first.title]

    # Nor is it offered again to the second entry.
    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(hours=24, minutes=2))
    await hass.async_block_till_done(wait_background_tasks=True)
    assert issue_registry.async_get_issue(DOMAIN, second_issue) is None


async def test_add_line_during_a_long_rate_limit_says_until_when(
    hass: HomeAssistant, emulator: EsimAccessEmulator
) -> None:
    """A rate-limited "Add line" says when to try again (not "could not reach")."""
    entry = await add_esimaccess_account(hass, emulator)
    await hass.async_block_till_done(wait_background_tasks=True)
    emulator.retry_after = 600
    emulator.fail_next["esim/query"] = "rate_limit"
    result = await _open_add_line(hass, entry)
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "rate_limited"
    assert re.fullmatch(r"\d\d:\d\d", result["description_placeholders"]["time"])
