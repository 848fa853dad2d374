"""When a line needs attention: low data and an approaching expiry."""

from __future__ import annotations

from datetime import datetime, timedelta

from .providers.base import Line, LineStatus
from .settings import LineSettings

MIB = 1024**2


def is_low_data(line: Line, settings: LineSettings) -> bool | None:
    """Return whether the line's data is below its threshold; None when unknown.

    Unlimited plans never run low. An absolute threshold (MiB) wins over the percentage.
    """
    if line.unlimited:
        return False
    remaining, total = line.data_remaining_bytes, line.data_total_bytes
    if remaining is None:
        return None
    if settings.low_data_mb is not None:
        return remaining < settings.low_data_mb * MIB
    if not total:
        return None
    return remaining * 100 < settings.low_data_percent * total


def is_expired(line: Line, now: datetime) -> bool:
    """Return True when the line's plan has ended (by its status or its expiry)."""
    if line.status is LineStatus.EXPIRED:
        return True
    return line.expires_at is not None and line.expires_at <= now


def expiring_soon(line: Line, settings: LineSettings, now: datetime) -> bool | None:
    """Return whether the line expires within its warning period; None when unknown.

    An expired line is not "expiring in 0 days": it is expired, which its status says.
    """
    if line.expires_at is None:
        return None
    if is_expired(line, now):
        return False
    return line.expires_at - now <= timedelta(days=settings.expiry_warning_days)


def days_left(line: Line, now: datetime) -> int | None:
    """Return days until expiry, rounded as the frontend does ("in 3 days"); 0 once expired."""
    if line.expires_at is None:
        return None
    return max(round((line.expires_at - now).total_seconds() / 86400), 0)
