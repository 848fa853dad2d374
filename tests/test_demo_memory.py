"""The demo account continues where it was after Home Assistant restarts (issue #18.2).

A restart starts a new process, so a new demo carrier; Home Assistant's storage carries
its wallet, lines and orders over, as a real carrier would keep them.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.util import dt as dt_util

from custom_components.prepaid_sim.providers.demo import (
    DemoBackend,
    get_demo_backend,
    reset_demo_backend,
)

from .helpers import demo_entry, line_device, line_state, receipts, renew, setup_entry

pytestmark = pytest.mark.freeze_time("2026-11-26T12:00:00+00:00")

STORE_KEY = "prepaid_sim.demo_carrier"


async def restart_process(hass: HomeAssistant, entry_id: str) -> DemoBackend:
    """Stop the account, start a new process's demo carrier, start the account again."""
    assert await hass.config_entries.async_unload(entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    fresh = reset_demo_backend(clock=dt_util.utcnow)
    assert await hass.config_entries.async_setup(entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    return fresh


async def test_wallet_lines_and_orders_survive_a_restart(
    hass: HomeAssistant, demo_backend: DemoBackend, hass_storage: dict[str, Any]
) -> None:
    """After a renewal and a restart: the same wallet, expiry and receipts; new order ids."""
    entry = await setup_entry(hass, demo_entry("us-travel", "camera-iot"))
    wallet = demo_backend.wallet
    order = await renew(hass, line_device(hass, entry, "us-travel"))
    await hass.async_block_till_done(wait_background_tasks=True)
    assert demo_backend.wallet < wallet
    expiry = line_state(hass, entry, "us-travel", "plan_expiry")
    assert STORE_KEY in hass_storage

    carrier = await restart_process(hass, entry.entry_id)

    assert entry.state is ConfigEntryState.LOADED
    assert carrier is get_demo_backend()
    assert carrier.wallet == demo_backend.wallet
    assert [charge.order_id for charge in carrier.ledger] == [order["order_id"]]
    assert line_state(hass, entry, "us-travel", "plan_expiry") == expiry
    (receipt,) = await receipts(hass)
    assert receipt["order_id"] == order["order_id"]
    # The next order has a new number: no receipt ever names two orders.
    second = await renew(hass, line_device(hass, entry, "camera-iot"))
    assert second["order_id"] != order["order_id"]
    assert len(carrier.ledger) == 2


async def test_unreadable_saved_state_starts_afresh(
    hass: HomeAssistant,
    demo_backend: DemoBackend,
    hass_storage: dict[str, Any],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A damaged saved state is reported and ignored; the demo still starts."""
    hass_storage[STORE_KEY] = {
        "version": 1,
        "minor_version": 1,
        "key": STORE_KEY,
        "data": {"version": 1, "wallet": "not money", "order_seq": 3, "lines": []},
    }
    entry = await setup_entry(hass, demo_entry("us-travel"))
    assert entry.state is ConfigEntryState.LOADED
    assert demo_backend.wallet == Decimal("60.00")
    assert "us-travel" in demo_backend.lines
    assert "saved state is unreadable" in caplog.text
