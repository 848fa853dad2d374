"""What an account's renewals cost this month (issue #17.6): a sensor that resets monthly."""

from __future__ import annotations

from datetime import timedelta

from freezegun.api import FrozenDateTimeFactory
import pytest
from pytest_homeassistant_custom_component.common import async_fire_time_changed

from homeassistant.core import HomeAssistant
from homeassistant.util import dt as dt_util

from custom_components.prepaid_sim.providers.demo import DemoBackend

from .helpers import demo_entry, line_device, renew, setup_entry

pytestmark = pytest.mark.freeze_time("2026-11-26T12:00:00+00:00")

SPENT = "sensor.spent_this_month_on_demo_account"


async def test_sums_this_months_renewals(hass: HomeAssistant, demo_backend: DemoBackend) -> None:
    """Each paid renewal adds its price; a refused one adds nothing."""
    entry = await setup_entry(hass, demo_entry("us-travel", "europe-esim"))
    state = hass.states.get(SPENT)
    assert state is not None
    assert (state.state, state.attributes["unit_of_measurement"]) == ("0", "USD")
    assert state.attributes["state_class"] == "total"
    assert state.attributes["device_class"] == "monetary"

    await renew(hass, line_device(hass, entry, "us-travel"))
    await renew(hass, line_device(hass, entry, "europe-esim"))
    await hass.async_block_till_done()
    paid = sum(charge.amount.amount for charge in demo_backend.ledger)
    state = hass.states.get(SPENT)
    assert state is not None
    assert float(state.state) == float(paid)
    assert state.attributes["renewals"] == 2
    start = dt_util.start_of_local_day().replace(day=1)
    assert dt_util.parse_datetime(state.attributes["last_reset"]) == start


async def test_starts_from_zero_each_month(
    hass: HomeAssistant, demo_backend: DemoBackend, freezer: FrozenDateTimeFactory
) -> None:
    """At the month's start the sum is zero again, without waiting for a refresh."""
    entry = await setup_entry(hass, demo_entry("europe-esim"))
    await renew(hass, line_device(hass, entry, "europe-esim"))
    await hass.async_block_till_done()
    state = hass.states.get(SPENT)
    assert state is not None
    assert float(state.state) > 0

    next_month = (dt_util.start_of_local_day().replace(day=28) + timedelta(days=4)).replace(day=1)
    freezer.move_to(next_month + timedelta(seconds=1))
    async_fire_time_changed(hass)
    await hass.async_block_till_done()
    state = hass.states.get(SPENT)
    assert state is not None
    assert state.state == "0"
    assert dt_util.parse_datetime(state.attributes["last_reset"]) == next_month
