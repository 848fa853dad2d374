"""When a line needs attention: low data, an approaching expiry or keep-alive date."""

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


def deadline(line: Line) -> datetime | None:
    """Return when the line next needs a recharge: its plan's end or its keep-alive date.

    A number kept alive by recharging every N days can be lost before its plan ends.
    """
    moments = [moment for moment in (line.expires_at, line.keep_alive_by) if moment is not None]
    return min(moments, default=None)


def expiring_soon(line: Line, settings: LineSettings, now: datetime) -> bool | None:
    """Return whether the line's next deadline is within its warning period; None: unknown.

    An expired line is not "expiring in 0 days": it is expired, which its status says.
    """
    if (moment := deadline(line)) is None:
        return None
    if is_expired(line, now):
        return False
    return moment - now <= timedelta(days=settings.expiry_warning_days)


def plan_expiring_soon(line: Line, settings: LineSettings, now: datetime) -> bool:
    """Return whether the plan itself ends within the warning period (not yet ended)."""
    if line.expires_at is None or is_expired(line, now):
        return False
    return line.expires_at - now <= timedelta(days=settings.expiry_warning_days)


def keep_alive_due(line: Line, settings: LineSettings, now: datetime) -> bool:
    """Return whether the number must be recharged within the warning period (or is late)."""
    if line.keep_alive_by is None or is_expired(line, now):
        return False
    return line.keep_alive_by - now <= timedelta(days=settings.expiry_warning_days)


def days_left(line: Line, now: datetime) -> int | None:
    """Return days until expiry, rounded as the frontend does ("in 3 days"); 0 once expired."""
    if line.expires_at is None:
        return None
    return max(round((line.expires_at - now).total_seconds() / 86400), 0)
