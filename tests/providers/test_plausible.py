"""Implausible values make only their own line unreadable, the same way for every provider."""

from __future__ import annotations

from datetime import UTC, datetime
import logging

import pytest

from custom_components.prepaid_sim.providers.base import Line, LineStatus, QueuedTopup
from custom_components.prepaid_sim.providers.http import MalformedError
from custom_components.prepaid_sim.providers.plausible import (
    MAX_DATA_BYTES,
    ImplausibleValueError,
    check_line,
    check_size,
    check_time,
    expect_json,
)
from tests.emulators.server import IMPLAUSIBLE_VALUES, ImplausibleValue

from .conftest import FakeClock
from .harness import LINE_ICCID, PROVIDER_KEYS, open_harness


def _line(**values: object) -> Line:
    """Return a line with the given figures."""
    return Line(line_id="line", name="Line", status=LineStatus.ACTIVE, **values)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "values",
    [
        {"data_total_bytes": -1},
        {"data_used_bytes": MAX_DATA_BYTES + 1},
        {"data_remaining_bytes": -5},
        {"daily_data_bytes": 10**18},
        {"expires_at": datetime(1999, 12, 31, 23, 59, tzinfo=UTC)},
        {"expires_at": datetime(2101, 1, 1, tzinfo=UTC)},
        {"last_topup_at": datetime(1970, 1, 1, tzinfo=UTC)},
        {"queued": (QueuedTopup(data_bytes=-1),)},
    ],
)
def test_check_line_refuses_impossible_figures(values: dict[str, object]) -> None:
    """Every size and time a line carries is bounded, whichever provider built it."""
    with pytest.raises(ImplausibleValueError):
        check_line(_line(**values))


def test_check_line_accepts_the_edges() -> None:
    """Zero, a petabyte, 2000 and the last moment of 2100 are possible."""
    line = _line(
        data_total_bytes=MAX_DATA_BYTES,
        data_remaining_bytes=0,
        expires_at=datetime(2100, 12, 31, 23, 59, tzinfo=UTC),
        last_topup_at=datetime(2000, 1, 1, tzinfo=UTC),
    )
    assert check_line(line) is line


def test_bounds_and_types() -> None:
    """Sizes, times and JSON kinds: what passes and what each refusal says."""
    assert check_size(-5, "volume", may_be_negative=True) == -5
    with pytest.raises(ImplausibleValueError, match="volume is more than a petabyte"):
        check_size(-(10**16), "volume", may_be_negative=True)
    with pytest.raises(ImplausibleValueError, match="total is negative"):
        check_size(-1, "total")
    assert check_time(None, "expiry") is None
    with pytest.raises(ImplausibleValueError, match="expiry is 1990-01-01, outside 2000-2100"):
        check_time(datetime(1990, 1, 1, tzinfo=UTC), "expiry")
    assert expect_json(None, "status", str) is None
    assert expect_json(3, "total", int, float) == 3
    # A boolean is not a number, though Python counts it as one.
    with pytest.raises(MalformedError, match="total is a boolean, expected a number"):
        expect_json(True, "total", int, float)
    with pytest.raises(MalformedError, match="expiry is a list, expected text"):
        expect_json([2030], "expiry", str)


@pytest.mark.parametrize("value", IMPLAUSIBLE_VALUES)
@pytest.mark.parametrize("key", PROVIDER_KEYS)
async def test_implausible_value_makes_only_its_line_unreadable(
    key: str,
    value: ImplausibleValue,
    socket_enabled: None,
    clock: FakeClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A negative or petabyte size, a date outside 2000-2100 or a wrong JSON type."""
    caplog.set_level(logging.DEBUG)
    async with open_harness(key, clock) as harness:
        other = harness.add_line()
        harness.serve_implausible(harness.line_id, value)
        snapshot = await harness.provider.async_fetch([harness.line_id, other])
    assert snapshot.unreadable_line_ids == {harness.line_id}
    assert set(snapshot.lines) == {other}
    assert not snapshot.missing_line_ids
    # The snapshot says why (for the one warning the integration logs), with no ICCID.
    reason = snapshot.unreadable_reasons[harness.line_id]
    assert reason
    assert LINE_ICCID not in reason
    # The client itself logs nothing about it: a warning per refresh would flood the log.
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
