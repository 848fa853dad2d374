"""When time alone can change a line's expiry repairs."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from custom_components.prepaid_sim.alerts import days_left, expiring_soon, is_expired
from custom_components.prepaid_sim.checks import next_change
from custom_components.prepaid_sim.providers.base import LineStatus
from custom_components.prepaid_sim.settings import LineSettings

from .helpers import usage_line

NOW = datetime(2026, 12, 5, 12, tzinfo=UTC)
DAY = timedelta(days=1)


@pytest.mark.parametrize(
    ("left", "due_left"),
    [
        (10 * DAY, 3 * DAY),  # the warning starts
        (3 * DAY, 2.5 * DAY),  # in the warning: "3 days" turns "2" at 2.5 days left
        (2.9 * DAY, 2.5 * DAY),
        (2.5 * DAY, 1.5 * DAY),  # at a rounding point: the next one
        (0.7 * DAY, 0.5 * DAY),
        (0.3 * DAY, timedelta(0)),  # "0 days" until it expires
    ],
)
def test_next_change(left: timedelta, due_left: timedelta) -> None:
    """The next moment the warning, its countdown or the expiry moves."""
    line = usage_line(0, start=NOW, expires=left)
    assert line.expires_at is not None
    assert next_change(line, LineSettings(), NOW) == line.expires_at - due_left


def test_no_change_for_lines_without_expiry_or_expired() -> None:
    """No expiry, an expired status or a passed expiry: time changes nothing."""
    line = usage_line(0, start=NOW)
    assert next_change(replace(line, expires_at=None), LineSettings(), NOW) is None
    assert next_change(replace(line, status=LineStatus.EXPIRED), LineSettings(), NOW) is None
    assert next_change(line, LineSettings(), NOW + 11 * DAY) is None


@pytest.mark.parametrize("hours_left", [0.5, 5, 11.9, 12.1, 30, 60, 71.9, 72.1, 100, 300])
def test_nothing_changes_before_the_moment_given(hours_left: float) -> None:
    """Between now and the moment given, every check answers as it does now."""
    line = usage_line(0, start=NOW, expires=timedelta(hours=hours_left))
    settings = LineSettings()
    due = next_change(line, settings, NOW)
    assert due is not None

    def verdict(at: datetime) -> tuple[object, ...]:
        soon = expiring_soon(line, settings, at)
        return (soon, soon and days_left(line, at), is_expired(line, at))

    step = (due - NOW) / 50
    assert all(verdict(NOW + step * i) == verdict(NOW) for i in range(50))
    assert verdict(due) != verdict(NOW) or verdict(due + timedelta(seconds=1)) != verdict(NOW)
