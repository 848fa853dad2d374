"""Reading a stored journal: every damaged shape is counted as lost, never trusted.

These drive the journal's own decoder with documents as a damaged or edited file holds
them; the end-to-end tests (test_renewal_journal.py) show what the user sees.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from custom_components.prepaid_sim.journal import (
    STORAGE_VERSION,
    JournalDamage,
    decode_journal,
    salvage_journal_text,
)
from custom_components.prepaid_sim.providers.base import Line, LineStatus, Money
from custom_components.prepaid_sim.records import LineBaseline, RenewalRecord, RenewalState

SENT = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def stored_record(**changes: Any) -> dict[str, Any]:
    """Return a whole stored record, with ``changes`` applied."""
    record = RenewalRecord(
        reference="ps-stored",
        line_key="demo:us-travel",
        line_id="us-travel",
        entry_id="01JDEMOACCOUNTENTRY0000000",
        line_name="US Travel SIM",
        package_id="us-1gb-7d",
        package_name="US 1 GB, 7 days",
        price=Money(Decimal("5.00"), "USD"),
        caller="user",
        created_at=SENT,
        state=RenewalState.SUCCEEDED,
        baseline=LineBaseline(
            expires_at=SENT, data_total_bytes=1, topup_count=0, last_topup_at=None, queued=0
        ),
    )
    return {**record.to_json(), **changes}


def document(*records: object) -> dict[str, Any]:
    """Return a journal document of the current version holding ``records``."""
    return {"version": STORAGE_VERSION, "data": {"records": list(records)}}


def test_whole_record_reads_back() -> None:
    """A record written is read back as it was, with no damage."""
    decoded = decode_journal(document(stored_record()))
    assert decoded.damage is None
    (record,) = decoded.records
    assert (record.reference, record.price, record.state) == (
        "ps-stored",
        Money(Decimal("5.00"), "USD"),
        RenewalState.SUCCEEDED,
    )


@pytest.mark.parametrize(
    "changes",
    [
        {"price": "-5.00"},
        {"price": "NaN"},
        {"price": "five"},
        {"currency": "usd"},
        {"order_id": 5},
        {"answer_lost": "yes"},
        {"attempts": -1},
        {"created_at": 1764158400},
        {"baseline": "the line as it was"},
    ],
)
def test_damaged_field_loses_the_record_and_holds_its_line(changes: dict[str, Any]) -> None:
    """A record with a field that cannot be right is lost, and its line is held."""
    decoded = decode_journal(document(stored_record(), stored_record(**changes)))
    assert len(decoded.records) == 1
    assert decoded.damage is not None
    assert decoded.damage.lost == 1
    assert decoded.damage.concerns("demo:us-travel")
    assert not decoded.damage.concerns("demo:camera-iot")


def test_record_that_is_not_an_object_holds_every_line() -> None:
    """Without a readable line key, any line may be concerned."""
    decoded = decode_journal(document(stored_record(), ["not", "a", "record"]))
    assert decoded.damage is not None
    assert decoded.damage.concerns("demo:camera-iot")


def test_records_that_are_not_a_list_hold_every_line() -> None:
    """A document whose records are not a list is unreadable as a whole."""
    decoded = decode_journal({"version": STORAGE_VERSION, "data": {"records": "lost"}})
    assert decoded.records == []
    assert decoded.damage is not None
    assert decoded.damage.reason == "unreadable"


def test_stored_damage_that_is_unreadable_holds_every_line() -> None:
    """Damage not yet acknowledged, itself damaged, still holds every line."""
    damage = JournalDamage.from_json("damaged")
    assert damage.reason == "unreadable"
    assert damage.concerns("demo:anything")


def test_new_damage_adds_to_stored_damage() -> None:
    """Damage found again joins the unacknowledged damage: both lines stay held."""
    earlier = {
        "reason": "bad_records",
        "lost": 1,
        "line_keys": ["demo:camera-iot"],
        "found_at": SENT.isoformat(),
    }
    data = {"records": [stored_record(price="oops")], "damage": earlier}
    decoded = decode_journal({"version": STORAGE_VERSION, "data": data})
    assert decoded.damage is not None
    assert decoded.damage.lost == 2
    assert decoded.damage.concerns("demo:camera-iot")
    assert decoded.damage.concerns("demo:us-travel")


def test_salvage_reads_whole_records_of_a_cut_file() -> None:
    """From a file cut in the middle, every whole record before the cut is kept."""
    import json

    whole = json.dumps(stored_record())
    cut = json.dumps(stored_record(reference="ps-cut"))[:40]
    text = f'{{"version": {STORAGE_VERSION}, "data": {{"records": [{whole}, {{"x": 1}}, {cut}'
    decoded = salvage_journal_text(text)
    assert [record.reference for record in decoded.records] == ["ps-stored"]
    assert decoded.damage is not None
    assert decoded.damage.lost >= 1


@pytest.mark.parametrize(
    ("line_changes", "shows"),
    [
        ({}, False),
        ({"topup_count": 1}, True),
        ({"last_topup_at": SENT + timedelta(minutes=1)}, True),
        ({"last_topup_at": SENT - timedelta(days=3)}, False),
    ],
)
def test_top_up_evidence(line_changes: dict[str, Any], shows: bool) -> None:
    """One more top-up, or one stamped after the renewal, is evidence it arrived."""
    baseline = LineBaseline.of(
        Line(
            line_id="us-travel",
            name="US Travel SIM",
            status=LineStatus.ACTIVE,
            expires_at=SENT,
            topup_count=0,
        )
    )
    assert baseline is not None
    line = Line(
        line_id="us-travel",
        name="US Travel SIM",
        status=LineStatus.ACTIVE,
        expires_at=SENT,
        topup_count=line_changes.get("topup_count", 0),
        last_topup_at=line_changes.get("last_topup_at"),
    )
    assert baseline.purchase_shows_in(line, SENT) is shows
    assert LineBaseline.of(None) is None
