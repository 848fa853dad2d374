"""eSIM Go: recognising an order whose answer was lost, in the order history.

eSIM Go has no idempotency key: an order is recognised by its eSIM, its bundle and a
creation time after the send (see ``EsimGoProvider.async_find_order``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
import itertools

from ..base import Order, OrderStatus
from ..http import as_str
from .parse import Assignment, as_dict, as_list


@dataclass(frozen=True, slots=True)
class SentOrder:
    """An order we sent: enough to recognise it in the order history later."""

    iccid: str
    bundle: str
    sent_at: datetime


def order_iccids(entry: Mapping[str, object], item: Mapping[str, object]) -> set[str] | None:
    """Return the ICCIDs an order line went to; None when the listing does not say [I]."""
    found: set[str] = set()
    seen_any = False
    for source in (item.get("iccids"), entry.get("iccids"), item.get("esims")):
        values = as_list(source)
        if values is None:
            continue
        seen_any = True
        for value in values:
            nested = as_dict(value)
            iccid = as_str(nested.get("iccid")) if nested is not None else as_str(value)
            if iccid:
                found.add(iccid)
    return found if seen_any else None


def past_cutoff(dates: list[datetime], cutoff: datetime) -> bool:
    """Return True when a newest-first page already reached orders older than ``cutoff``.

    [I] The listing is asked for newest first; a page that is not sorted that way proves
    nothing, so paging goes on (up to the page cap).
    """
    newest_first = all(a >= b for a, b in itertools.pairwise(dates))
    return newest_first and bool(dates) and dates[-1] < cutoff


def first_item(entry: Mapping[str, object]) -> str | None:
    """Return the first bundle name of an order entry."""
    for raw in as_list(entry.get("order")) or []:
        if (item := as_dict(raw)) is not None and (name := as_str(item.get("item"))):
            return name
    return None


def match_order(entry: Mapping[str, object], iccid: str, bundle: str | None) -> bool | None:
    """Say whether an order entry is ours: True, False, or None when it cannot tell."""
    verdict: bool | None = False
    for raw in as_list(entry.get("order")) or []:
        item = as_dict(raw)
        if item is None or as_str(item.get("type")) not in {None, "bundle"}:
            continue
        if bundle is not None and as_str(item.get("item")) != bundle:
            continue
        iccids = order_iccids(entry, item)
        if iccids is None:
            verdict = None
        elif iccid in iccids:
            return True
    return verdict


def with_assignment(order: Order, assignment: Assignment) -> Order:
    """Add what a found assignment says about the renewal to an order."""
    return Order(
        order_id=order.order_id,
        line_id=order.line_id,
        package_id=order.package_id,
        reference=order.reference,
        status=OrderStatus.COMPLETED,
        price=order.price,
        created_at=order.created_at,
        new_expires_at=assignment.end_time,
        new_data_total_bytes=None if assignment.unlimited else assignment.initial,
    )
