"""The shared HTTP helpers of the provider clients."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from custom_components.prepaid_sim.providers.http import parse_retry_after


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("5", 5.0),
        ("0.5", 0.5),
        ("-3", 0.0),
        ("inf", None),
        ("nan", None),
        ("soon", None),
        (None, None),
    ],
)
def test_retry_after_seconds(raw: str | None, expected: float | None) -> None:
    """Seconds are read; values that would hold requests forever are refused."""
    assert parse_retry_after(raw) == expected


def test_retry_after_http_date() -> None:
    """An HTTP date becomes the seconds left until it."""
    raw = format_datetime(datetime.now(UTC) + timedelta(seconds=120), usegmt=True)
    seconds = parse_retry_after(raw)
    assert seconds is not None
    assert 100 < seconds <= 120
