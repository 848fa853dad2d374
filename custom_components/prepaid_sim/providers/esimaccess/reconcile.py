"""eSIM Access: finding a top-up whose answer was lost, from the line as it reads now.

eSIM Access has no top-up order lookup, so the evidence is on the line itself (see
``EsimAccessProvider.async_find_order`` for how strong each sign is).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from ..base import Package
from ..http import MalformedError
from .const import CLOCK_SKEW
from .parse import JsonObject, as_list, parse_time, read_opt_int, safe_time


@dataclass(frozen=True, slots=True)
class PendingTopup:
    """What a line looked like just before we sent a top-up, for reconciliation."""

    line_id: str
    package_id: str
    data_bytes: int | None
    total_before: int | None
    expires_before: datetime | None
    packages_before: int | None


def remember_line(line_id: str, package: Package, record: JsonObject | None) -> PendingTopup:
    """Note the line's last known state before a top-up, so a lost answer can be reconciled."""
    total = expires = count = None
    if record is not None:
        try:
            total = read_opt_int(record.get("totalVolume"))
            expires = parse_time(record.get("expiredTime"))
            count = len(as_list(record.get("packageList")))
        except MalformedError:
            total = expires = count = None
    return PendingTopup(
        line_id=line_id,
        package_id=package.package_id,
        data_bytes=package.data_bytes or package.daily_bytes,
        total_before=total,
        expires_before=expires,
        packages_before=count,
    )


def find_evidence(
    entries: Sequence[JsonObject],
    reference: str,
    pending: PendingTopup | None,
    sent_at: datetime,
    *,
    total: int | None,
    expires: datetime | None,
) -> JsonObject | None:
    """Return the packageList entry (or a stand-in) showing our top-up, if any."""
    for entry in entries:
        if entry.get("transactionId") == reference:
            return entry
    # All entries but the first (the plan the eSIM was bought with) are top-ups. When
    # they carry transactionIds, they say whose each one is; none is ours, so weaker
    # signs (someone else's top-up) must not count.
    topups = entries[1:]
    if any("transactionId" in entry for entry in topups):
        return None
    for entry in topups:
        created = safe_time(entry.get("createTime"))
        if created is None or created < sent_at - CLOCK_SKEW:
            continue
        # After a restart we no longer know the package sent: any new top-up counts.
        if pending is None or entry.get("packageCode") == pending.package_id:
            return entry
    if pending is None:
        return None
    grew = pending.packages_before is not None and len(entries) > pending.packages_before
    more_data = (
        pending.total_before is not None
        and pending.data_bytes is not None
        and total is not None
        and total >= pending.total_before + pending.data_bytes
    )
    later = (
        pending.expires_before is not None
        and expires is not None
        and expires > pending.expires_before
    )
    return {"packageCode": pending.package_id} if grew or more_data or later else None
