"""Usage rate and forecast from the readings the coordinator has seen.

Readings are kept per line for a few days (and across restarts), so the rate reflects recent
use. A drop in used data (a new allowance after a renewal or a billing rollover) starts the
history afresh: no negative usage and no false spike. With too little history the forecast
is unknown rather than a guess.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

from .providers.base import Line, Package

# Readings older than this do not describe current use.
HISTORY_WINDOW: Final = timedelta(days=3)
# Less history than this is not enough to tell a rate.
MIN_SPAN: Final = timedelta(hours=1)
# Readings kept per line; old ones are thinned out first.
MAX_READINGS: Final = 200


@dataclass(frozen=True, slots=True)
class Reading:
    """Used data at a moment."""

    at: datetime
    used_bytes: int


class UsageHistory:
    """Readings of every tracked line."""

    def __init__(self, stored: Mapping[str, Iterable[Mapping[str, Any]]] | None = None) -> None:
        """Start from stored readings, if any."""
        self._readings: dict[str, list[Reading]] = {
            line_id: [Reading(datetime.fromisoformat(r["at"]), int(r["used"])) for r in readings]
            for line_id, readings in (stored or {}).items()
        }
        # Each line's rate since its readings last changed: the alert, the forecast and the
        # suggestion all ask for it on every refresh that moved the line.
        self._rates: dict[str, float | None] = {}

    def as_dict(self) -> dict[str, list[dict[str, Any]]]:
        """Return the readings in a form the store can keep."""
        return {
            line_id: [{"at": r.at.isoformat(), "used": r.used_bytes} for r in readings]
            for line_id, readings in self._readings.items()
        }

    def add(self, line: Line, at: datetime) -> bool:
        """Record a reading of the line; return True when the history changed."""
        if line.data_used_bytes is None:
            return False
        self._rates.pop(line.line_id, None)
        readings = self._readings.setdefault(line.line_id, [])
        if readings and line.data_used_bytes < readings[-1].used_bytes:
            # A new allowance: what was used before says nothing about the rate now.
            readings.clear()
        if readings and readings[-1].used_bytes == line.data_used_bytes and len(readings) > 1:
            # Unchanged since the last reading: move its time on instead of adding one.
            readings[-1] = Reading(at, line.data_used_bytes)
            return True
        readings.append(Reading(at, line.data_used_bytes))
        cutoff = at - HISTORY_WINDOW
        while len(readings) > 2 and readings[1].at <= cutoff:
            readings.pop(0)
        if len(readings) > MAX_READINGS:
            del readings[1::2]
        return True

    def forget(self, keep: Iterable[str]) -> None:
        """Drop the history of lines no longer tracked."""
        kept = set(keep)
        for line_id in [line_id for line_id in self._readings if line_id not in kept]:
            del self._readings[line_id]
            self._rates.pop(line_id, None)

    def rate(self, line_id: str) -> float | None:
        """Return bytes used per second over the window; None with too little history."""
        try:
            return self._rates[line_id]
        except KeyError:
            rate = self._rates[line_id] = self._rate(line_id)
            return rate

    def _rate(self, line_id: str) -> float | None:
        """Work out the rate from the line's readings."""
        readings = self._readings.get(line_id, [])
        if len(readings) < 2:
            return None
        first, last = readings[0], readings[-1]
        span = last.at - first.at
        if span < MIN_SPAN:
            return None
        return (last.used_bytes - first.used_bytes) / span.total_seconds()

    def runs_out_at(self, line: Line, now: datetime) -> datetime | None:
        """Return when the data runs out at the current rate (None: unknown or never)."""
        rate = self.rate(line.line_id)
        remaining = line.data_remaining_bytes
        if line.unlimited or rate is None or remaining is None:
            return None
        if remaining == 0:
            return now
        if rate <= 0:
            return None
        return now + timedelta(seconds=remaining / rate)

    def suggest(self, line: Line, packages: Iterable[Package], now: datetime) -> Package | None:
        """Return the cheapest package that covers the forecast use until the line expires.

        None when there is no forecast, when the data already lasts, or nothing covers it.
        """
        rate = self.rate(line.line_id)
        if rate is None or line.expires_at is None or line.data_remaining_bytes is None:
            return None
        needed = rate * max((line.expires_at - now).total_seconds(), 0) - line.data_remaining_bytes
        if needed <= 0:
            return None
        covering = [p for p in packages if p.data_bytes is None or p.data_bytes >= needed]
        return min(covering, key=lambda p: p.price.amount, default=None)
