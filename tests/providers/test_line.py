"""The Line value and its cheap usage copy."""

from __future__ import annotations

from dataclasses import fields, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from custom_components.prepaid_sim.providers.base import (
    Line,
    LineStatus,
    Money,
    QueuedTopup,
    with_new_usage,
)

_AT = datetime(2026, 12, 1, tzinfo=UTC)


def _every_field_set() -> Line:
    """Return a line whose every field holds a value other than its default."""
    return Line(
        line_id="L1",
        name="Travel",
        status=LineStatus.ACTIVE,
        plan_name="US 1GB",
        package_id="US_1GB",
        plan_data_bytes=1_000_000_000,
        plan_validity=timedelta(days=30),
        unlimited=True,
        data_total_bytes=1_000_000_000,
        data_used_bytes=100,
        data_remaining_bytes=999_999_900,
        expires_at=_AT + timedelta(days=20),
        balance=Money(Decimal("4.50"), "USD"),
        iccid="8900000000000000001",
        phone_number="+15550100",
        usage_updated_at=_AT,
        daily_data_bytes=500_000_000,
        queued=(QueuedTopup(package_id="US_1GB"),),
        topup_count=2,
        last_topup_at=_AT - timedelta(days=9),
        keep_alive_by=_AT + timedelta(days=60),
        renewal_opens_at=_AT + timedelta(days=15),
    )


def test_the_sample_line_sets_every_field() -> None:
    """A field added to Line must be added to the sample, and so to the copy test below."""
    sample = _every_field_set()
    defaults = Line(line_id="", name="", status=LineStatus.UNKNOWN)
    unset = [
        item.name
        for item in fields(Line)
        if item.name not in ("line_id", "name", "status")
        and getattr(sample, item.name) == getattr(defaults, item.name)
    ]
    assert unset == []


def test_with_new_usage_copies_every_other_field() -> None:
    """The unrolled copy equals dataclasses.replace and leaves the original alone."""
    line = _every_field_set()
    copy = with_new_usage(line, status=LineStatus.DEPLETED, used=1_000_000_000, remaining=0)
    assert copy == replace(
        line,
        status=LineStatus.DEPLETED,
        data_used_bytes=1_000_000_000,
        data_remaining_bytes=0,
    )
    assert copy is not line
    assert line.data_used_bytes == 100
    assert line.status is LineStatus.ACTIVE
    for name in (item.name for item in fields(Line)):
        if name not in ("status", "data_used_bytes", "data_remaining_bytes"):
            assert getattr(copy, name) is getattr(line, name), name
