"""HTTP dates for Retry-After cases, made when a test runs rather than when it is collected.

A date built at collection time goes stale when the suite runs long: a "ten minutes ahead"
header is only five ahead after five minutes of other tests.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
import email.utils


def http_date(when: datetime) -> str:
    """Format an HTTP date; a naive time gets the ``-0000`` zone (no zone information)."""
    return email.utils.format_datetime(when, usegmt=when.tzinfo is not None)


@dataclass(frozen=True)
class HttpDateIn:
    """An HTTP date some minutes from the moment ``render`` is called."""

    minutes: float
    zone: bool = True

    def render(self) -> str:
        """Return the date as a Retry-After header value."""
        when = datetime.now(UTC) + timedelta(minutes=self.minutes)
        return http_date(when if self.zone else when.replace(tzinfo=None))
