"""Usage rate, the "data runs out" forecast and the package suggestion."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from freezegun.api import FrozenDateTimeFactory
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_fire_time_changed

from homeassistant.core import HomeAssistant
from homeassistant.util import dt as dt_util

from custom_components.prepaid_sim.forecast import UsageHistory
from custom_components.prepaid_sim.providers.base import Money, Package
from custom_components.prepaid_sim.providers.demo import DemoBackend

from .helpers import GIB, MIB, START, line_device, renew, usage_line

line = usage_line


def package(package_id: str, data: int | None, price: str) -> Package:
    """Return a package."""
    return Package(
        package_id=package_id,
        name=package_id,
        price=Money(Decimal(price), "USD"),
        data_bytes=data,
        validity=timedelta(days=30),
    )


def test_too_little_history_is_unknown() -> None:
    """One reading, or readings closer than an hour, give no rate."""
    history = UsageHistory()
    history.add(line(0), START)
    assert history.rate("l1") is None
    history.add(line(10 * MIB), START + timedelta(minutes=30))
    assert history.rate("l1") is None
    assert history.runs_out_at(line(10 * MIB), START) is None


def test_rate_and_runs_out() -> None:
    """100 MiB an hour with 500 MiB left runs out in five hours."""
    history = UsageHistory()
    history.add(line(0), START)
    history.add(line(100 * MIB), START + timedelta(hours=1))
    assert history.rate("l1") == pytest.approx(100 * MIB / 3600)
    now = START + timedelta(hours=1)
    current = line(GIB - 500 * MIB)
    history.add(current, now)
    # The last reading moved the rate: (GIB - 500 MiB) over one hour.
    rate = history.rate("l1")
    assert rate is not None
    assert history.runs_out_at(current, now) == now + timedelta(seconds=500 * MIB / rate)


def test_renewal_reset_starts_afresh() -> None:
    """A drop in used data (new allowance) clears the history: no negative rate."""
    history = UsageHistory()
    history.add(line(0), START)
    history.add(line(900 * MIB), START + timedelta(hours=2))
    history.add(line(5 * MIB), START + timedelta(hours=3))
    assert history.rate("l1") is None
    history.add(line(65 * MIB), START + timedelta(hours=4))
    assert history.rate("l1") == pytest.approx(60 * MIB / 3600)


def test_unchanged_readings_lower_the_rate() -> None:
    """Flat use lowers the rate instead of being ignored."""
    history = UsageHistory()
    history.add(line(0), START)
    history.add(line(60 * MIB), START + timedelta(hours=1))
    history.add(line(60 * MIB), START + timedelta(hours=2))
    history.add(line(60 * MIB), START + timedelta(hours=3))
    assert history.rate("l1") == pytest.approx(20 * MIB / 3600)


def test_suggestion_covers_the_forecast() -> None:
    """The cheapest package with enough data for the use until expiry is suggested."""
    history = UsageHistory()
    history.add(line(0), START)
    # 10 MiB an hour: 2,400 MiB over ten days, 1,024 MiB left -> about 1.35 GiB short.
    history.add(line(10 * MIB), START + timedelta(hours=1))
    current = line(10 * MIB, expires=timedelta(days=10, hours=1))
    packages = [
        package("small", GIB, "3"),
        package("medium", 2 * GIB, "5"),
        package("big", 10 * GIB, "9"),
    ]
    suggested = history.suggest(current, packages, START + timedelta(hours=1))
    assert suggested is not None
    assert suggested.package_id == "medium"
    # Enough data already: nothing to suggest.
    assert history.suggest(line(10 * MIB, total=100 * GIB), packages, START) is None


def test_history_round_trip() -> None:
    """The stored form restores the same rate."""
    history = UsageHistory()
    history.add(line(0), START)
    history.add(line(50 * MIB), START + timedelta(hours=2))
    restored = UsageHistory(history.as_dict())
    assert restored.rate("l1") == history.rate("l1")
    restored.forget([])
    assert restored.rate("l1") is None


@pytest.mark.freeze_time("2026-11-26T12:00:00+00:00")
async def test_forecast_sensors_in_home_assistant(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    demo_backend: DemoBackend,
    freezer: FrozenDateTimeFactory,
) -> None:
    """After an hour of polls the line shows when its data runs out and what to buy."""
    assert hass.states.get("sensor.camera_iot_estimated_data_run_out").state == "unknown"
    for _ in range(61):
        freezer.tick(timedelta(minutes=1))
        async_fire_time_changed(hass)
        await hass.async_block_till_done()
    runs_out = dt_util.parse_datetime(
        hass.states.get("sensor.camera_iot_estimated_data_run_out").state
    )
    assert runs_out is not None
    # 4 MiB an hour with about 90 MiB left: roughly 22.5 hours from now.
    expected = dt_util.utcnow() + timedelta(hours=(94 - 4) / 4)
    assert abs((runs_out - expected).total_seconds()) < 600
    # 4 MiB/h until expiry in ~17 days needs ~1.5 GiB more: the 5 GB IoT package covers it.
    assert hass.states.get("sensor.camera_iot_suggested_package").state == "IoT 5 GB, 365 days"

    # A renewal that adds data does not show as a spike.
    await renew(hass, line_device(hass, init_integration, "camera-iot"))
    freezer.tick(timedelta(minutes=1))
    async_fire_time_changed(hass)
    await hass.async_block_till_done()
    rate = init_integration.runtime_data.coordinator.history.rate("camera-iot")
    assert rate == pytest.approx(4 * MIB / 3600, rel=0.05)


@pytest.mark.freeze_time("2026-11-26T12:00:00+00:00")
async def test_history_is_written_while_polling_and_removed_with_the_account(
    hass: HomeAssistant,
    hass_storage: dict,
    init_integration: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
) -> None:
    """Readings reach the disk every few minutes despite 1-minute polls; removal deletes them."""
    key = f"prepaid_sim.{init_integration.entry_id}.usage"
    for _ in range(6):
        freezer.tick(timedelta(minutes=1))
        async_fire_time_changed(hass)
        await hass.async_block_till_done()
    assert len(hass_storage[key]["data"]["camera-iot"]) >= 2
    assert await hass.config_entries.async_remove(init_integration.entry_id)
    await hass.async_block_till_done()
    assert key not in hass_storage
