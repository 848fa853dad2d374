"""The data-counter meter of hand-kept lines: resets, renewals, the carrier's word."""

from __future__ import annotations

from custom_components.prepaid_sim.providers.manual import UsageMeter


def test_counts_growth_across_resets_and_periods() -> None:
    """Growth counts; a drop is a reset to zero; a new period counts from its start."""
    meter = UsageMeter(carried=100)
    assert meter.read(1_000) == 100
    assert meter.read(1_500) == 600
    # Rebooted: the counter starts again; the 500 counted before stay.
    assert meter.read(200) == 800
    assert meter.read(200) == 800
    meter.start_period()
    assert meter.read(250) == 50


def test_rebase_takes_the_carriers_figure() -> None:
    """What the carrier says is used becomes the count; the counter counts on from there."""
    meter = UsageMeter()
    meter.read(5_000)
    meter.read(5_400)
    meter.rebase(1_000)
    assert meter.read(5_400) == 1_000
    assert meter.read(5_500) == 1_100
    # The counter saw traffic the carrier does not count: the count may start below it.
    meter.rebase(50)
    assert meter.read(5_600) == 150
    unread = UsageMeter()
    unread.rebase(300)
    assert unread.read(42) == 300


def test_stored_meters_round_trip_and_damage_starts_afresh() -> None:
    """A saved meter reads back as it was; an unreadable one starts empty."""
    meter = UsageMeter()
    meter.read(10)
    meter.read(30)
    meter.rebase(5)
    restored = UsageMeter.from_json(meter.to_json())
    assert restored == meter
    assert restored.read(40) == 15
    assert UsageMeter.from_json({"base": "x", "last": 3}) == UsageMeter()
    assert UsageMeter.from_json({}) == UsageMeter()
