"""Airalo: recognising a top-up whose answer was lost, by our reference.

Airalo has no idempotency key; our reference travels in the order's free-text
``description`` and is searched for with ``filter[description]``.
"""

from __future__ import annotations

from collections.abc import Mapping
import re

from ..http import as_str


def mentions_reference(text: str | None, reference: str) -> bool:
    """Return True when ``text`` carries ``reference`` as a whole word."""
    if not text:
        return False
    return re.search(rf"(?<![\w-]){re.escape(reference)}(?![\w-])", text) is not None


def order_iccids(entry: Mapping[str, object]) -> set[str] | None:
    """Return the ICCIDs an order went to; None when the entry does not say [I]."""
    sims = entry.get("sims")
    found: set[str] = set()
    if isinstance(sims, list):
        for sim in sims:
            iccid = as_str(sim.get("iccid")) if isinstance(sim, Mapping) else as_str(sim)
            if iccid:
                found.add(iccid)
    if iccid := as_str(entry.get("iccid")):
        found.add(iccid)
    return found or None
