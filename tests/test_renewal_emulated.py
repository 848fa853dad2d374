"""Truthful renewals on the provider emulators (issue #13 items 14 and 15).

These talk to loopback HTTP servers, so they run on the real clock (a frozen one stalls
the client's timeouts); time is moved by firing timers ahead instead.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from datetime import timedelta
from typing import Any

import pytest
from pytest_homeassistant_custom_component.common import async_fire_time_changed

from homeassistant.config_entries import ConfigEntry
from homeassistant.const import STATE_OFF
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er, issue_registry as ir
from homeassistant.util import dt as dt_util

from custom_components.prepaid_sim.const import DOMAIN

from .emulators.esimaccess import GIB, EsimAccessEmulator, TopupPackage
from .emulators.esimgo import DEFAULT_BUNDLE, EsimGoEmulator
from .helpers import (
    ESIMACCESS_TRAVEL,
    ESIMGO_TRAVEL,
    add_esimaccess_account,
    add_esimgo_account,
    device_of,
    line_state,
    receipts,
    renew,
)


def entity_state(hass: HomeAssistant, entry: ConfigEntry, line_id: str, key: str) -> Any:
    """Return the whole state (with attributes) of one entity of a line."""
    entity = next(
        e
        for e in er.async_entries_for_device(er.async_get(hass), device_of(hass, entry, line_id))
        if e.unique_id.endswith(f"_{key}")
    )
    return hass.states.get(entity.entity_id)


# --- item 14: a queued top-up is a renewal that arrived -------------------------------------


@pytest.fixture
async def esimgo(socket_enabled: None) -> AsyncGenerator[EsimGoEmulator]:
    """Run an eSIM Go emulator with one eSIM on an active bundle."""
    async with EsimGoEmulator(timeout_seconds=1) as emulator:
        emulator.add_esim("active", iccid=ESIMGO_TRAVEL, customer_ref="Travel phone")
        yield emulator


async def test_queued_bundle_counts_as_arrived(
    hass: HomeAssistant,
    esimgo: EsimGoEmulator,
    issue_registry: ir.IssueRegistry,
) -> None:
    """eSIM Go queues a bought bundle behind the active one: the expiry and allowance shown
    do not move, yet the renewal arrived. The line shows it queued, and no "has not
    arrived" repair appears after the verification deadline."""
    entry = await add_esimgo_account(hass, esimgo)
    assert line_state(hass, entry, ESIMGO_TRAVEL, "queued_topups") == "0"

    order = await renew(hass, device_of(hass, entry, ESIMGO_TRAVEL), package=DEFAULT_BUNDLE)
    assert order["state"] == "succeeded"
    assert len(esimgo.ledger) == 1

    # Past eSIM Go's verification deadline (ten minutes), with a refresh in between.
    for minutes in (6, 12, 18):
        async_fire_time_changed(hass, dt_util.utcnow() + timedelta(minutes=minutes))
        await hass.async_block_till_done(wait_background_tasks=True)
    assert line_state(hass, entry, ESIMGO_TRAVEL, "queued_topups") == "1"
    queued = entity_state(hass, entry, ESIMGO_TRAVEL, "queued_topups")
    assert queued.attributes["packages"] == ["eSIM, 1GB, 7 Days, United States, V2"]
    (receipt,) = await receipts(hass)
    assert (receipt["state"], receipt["verified"]) == ("succeeded", True)
    assert not [
        issue
        for (domain, _), issue in issue_registry.issues.items()
        if domain == DOMAIN and issue.translation_key == "renewal_not_verified"
    ]
    assert line_state(hass, entry, ESIMGO_TRAVEL, "renewal_problem") == STATE_OFF
    assert len(esimgo.ledger) == 1


# --- item 15: the default top-up is the current plan ---------------------------------------


async def test_default_top_up_matches_the_plan_when_its_id_differs(
    hass: HomeAssistant, socket_enabled: None
) -> None:
    """eSIM Access sells top-ups under other codes than the plan first bought. The default
    is the top-up with the plan's data and validity (3 GB, 30 days), not the cheapest."""
    async with EsimAccessEmulator(timeout_delay=3) as emulator:
        emulator.add_esim(esim_tran_no=ESIMACCESS_TRAVEL, total_volume=3 * GIB)
        emulator.packages["TOPUP_US_3GB_30D"] = TopupPackage(
            package_code="TOPUP_US_3GB_30D",
            name="United States 3GB 30Days",
            price=90_000,
            volume=3 * GIB,
            duration=30,
        )
        entry = await add_esimaccess_account(hass, emulator)
        await hass.async_block_till_done(wait_background_tasks=True)
        device_id = device_of(hass, entry, ESIMACCESS_TRAVEL)
        quote = await renew(hass, device_id, dry_run=True)
        assert (quote["package"]["id"], quote["price"]) == ("TOPUP_US_3GB_30D", 9.0)
        await renew(hass, device_id)
        assert [charge.package_code for charge in emulator.ledger] == ["TOPUP_US_3GB_30D"]
        assert await hass.config_entries.async_unload(entry.entry_id)
