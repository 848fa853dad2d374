"""Forecast edge cases: no use, no data left, old readings, long histories."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest

from homeassistant.core import HomeAssistant

from custom_components.prepaid_sim.forecast import HISTORY_WINDOW, MAX_READINGS, UsageHistory

from .helpers import GIB, MIB, START, demo_entry, usage_line as line


def test_no_use_never_runs_out() -> None:
    """A line whose use stands still has no run-out time, and nothing is suggested."""
    history = UsageHistory()
    history.add(line(100 * MIB), START)
    history.add(line(100 * MIB), START + timedelta(hours=2))
    assert history.rate("l1") == 0
    now = START + timedelta(hours=2)
    assert history.runs_out_at(line(100 * MIB), now) is None
    assert history.suggest(line(100 * MIB), [], now) is None


def test_nothing_left_runs_out_now() -> None:
    """With the allowance used up the data runs out now, whatever the rate says."""
    history = UsageHistory()
    history.add(line(GIB - 10 * MIB), START)
    history.add(line(GIB), START + timedelta(hours=1))
    now = START + timedelta(hours=1)
    assert history.runs_out_at(line(GIB), now) == now


def test_line_without_usage_is_not_recorded() -> None:
    """A reading with no used data changes nothing."""
    history = UsageHistory()
    assert history.add(line(0), START)
    assert not history.add(replace(line(0), data_used_bytes=None), START + timedelta(hours=2))
    assert history.as_dict()["l1"] == [{"at": START.isoformat(), "used": 0}]


def test_old_readings_drop_out_of_the_rate() -> None:
    """Heavy use four days ago does not count: the rate covers the last three days."""
    history = UsageHistory()
    history.add(line(0), START)
    # 600 MiB in the first hour, then 1 MiB an hour for four days.
    history.add(line(600 * MIB), START + timedelta(hours=1))
    for hours in range(2, 4 * 24 + 2):
        history.add(line(600 * MIB + (hours - 1) * MIB), START + timedelta(hours=hours))
    assert history.rate("l1") == pytest.approx(MIB / 3600)
    # The oldest reading kept is the one at the window's start.
    last_at = START + timedelta(hours=4 * 24 + 1)
    assert history.as_dict()["l1"][0]["at"] == (last_at - HISTORY_WINDOW).isoformat()


def test_long_history_is_thinned_keeping_its_span() -> None:
    """Readings every minute are thinned to the limit; the oldest and newest stay."""
    history = UsageHistory()
    count = MAX_READINGS * 2
    for minute in range(count):
        history.add(line(minute * MIB), START + timedelta(minutes=minute))
    readings = history.as_dict()["l1"]
    assert len(readings) <= MAX_READINGS
    assert readings[0] == {"at": START.isoformat(), "used": 0}
    assert readings[-1]["used"] == (count - 1) * MIB
    assert history.rate("l1") == pytest.approx(MIB / 60)


@pytest.mark.freeze_time("2026-11-26T12:00:00+00:00")
@pytest.mark.usefixtures("demo_backend")
async def test_readings_of_a_removed_line_are_dropped(
    hass: HomeAssistant, hass_storage: dict[str, Any]
) -> None:
    """Stored readings of a line no longer tracked are dropped at the first refresh."""
    entry = demo_entry("us-travel")
    key = f"prepaid_sim.{entry.entry_id}.usage"
    stored = [{"at": "2026-11-26T10:00:00+00:00", "used": 0}]
    hass_storage[key] = {
        "version": 1,
        "minor_version": 1,
        "key": key,
        "data": {"us-travel": stored, "camera-iot": stored},
    }
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    history = entry.runtime_data.coordinator.history
    assert set(history.as_dict()) == {"us-travel"}
    # The kept line's stored reading still counts: two hours of use give a rate at once.
    assert history.rate("us-travel") is not None
