"""1NCE: recognising a top-up whose answer was lost, in the order list.

1NCE has no idempotency key: a TOPUP order containing the ICCID, placed at or after the send
time and not already claimed by another of our references, is taken as ours.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
import itertools

from ..http import as_str
from .const import TOPUP_ORDER_TYPES
from .parse import parse_time


def same_iccid(one: str, other: str) -> bool:
    """Compare ICCIDs, allowing one of them to carry the Luhn check digit [I]."""
    if one == other:
        return True
    short, long = sorted((one, other), key=len)
    return len(long) == len(short) + 1 and long.startswith(short)


def order_iccids(entry: Mapping[str, object]) -> list[str]:
    """Return the ICCIDs an order lists (``sims[{iccid}]``, strings tolerated [I])."""
    found: list[str] = []
    sims = entry.get("sims")
    for sim in sims if isinstance(sims, list) else []:
        iccid = as_str(sim.get("iccid")) if isinstance(sim, Mapping) else as_str(sim)
        if iccid:
            found.append(iccid)
    return found


def newest_first(dates: Sequence[datetime]) -> bool:
    """Return True when a page is sorted newest first."""
    return all(a >= b for a, b in itertools.pairwise(dates))


def collect_candidates(
    rows: Sequence[Mapping[str, object]],
    iccid: str,
    reference: str,
    cutoff: datetime,
    *,
    claimed: Mapping[str, str],
    candidates: list[tuple[datetime, Mapping[str, object]]],
) -> list[datetime]:
    """Add this page's matching orders to ``candidates``; return the page's dates.

    ``claimed`` maps order numbers already matched to one of our references.
    """
    dates: list[datetime] = []
    for entry in rows:
        created = parse_time(entry.get("order_date"))
        if created is None:
            continue
        dates.append(created)
        kind = (as_str(entry.get("order_type")) or "").upper()
        number = as_str(entry.get("order_number"))
        if created < cutoff or kind not in TOPUP_ORDER_TYPES or number is None:
            continue
        if claimed.get(number, reference) != reference:
            continue  # another purchase of ours owns it
        if any(same_iccid(iccid, other) for other in order_iccids(entry)):
            candidates.append((created, entry))
    return dates
