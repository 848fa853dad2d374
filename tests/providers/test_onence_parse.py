"""1NCE answers, read from recorded JSON files, become the normalized models."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

import pytest

from custom_components.prepaid_sim.providers.base import LineStatus, OrderRejectedError, OrderStatus
from custom_components.prepaid_sim.providers.http import MalformedError
from custom_components.prepaid_sim.providers.onence.const import MB, TOPUP_PACKAGE_ID
from custom_components.prepaid_sim.providers.onence.parse import (
    Reply,
    expired_line,
    listing_rows,
    order_status,
    parse_line,
    purchase_error,
    sim_not_ours,
)
from custom_components.prepaid_sim.providers.onence.reconcile import (
    collect_candidates,
    order_iccids,
)

from .fixture_files import fixture_json, records_by

ENABLED, NEVER_ACTIVATED, SWITCHED_OFF = (
    "8988228066000000001",
    "8988228066000000002",
    "8988228066000000003",
)


def _sims() -> dict[str, dict[str, object]]:
    rows = listing_rows(Reply(200, {}, fixture_json("onence", "sims.json")), "/v1/sims")
    return {key: dict(value) for key, value in records_by(list(rows), "iccid").items()}


def test_enabled_sim_with_quota_in_binary_megabytes() -> None:
    """volume/total_volume are MB of 1024 KB; the label names the line; expiry is UTC."""
    line = parse_line(ENABLED, _sims()[ENABLED], fixture_json("onence", "quota_data.json"))
    assert line.status is LineStatus.ACTIVE
    assert line.name == "Gate camera"
    assert line.data_total_bytes == 500 * MB
    assert line.data_remaining_bytes == int(312.5 * MB)
    assert line.data_used_bytes == int(187.5 * MB)
    assert line.expires_at == datetime(2039, 1, 15, 9, 30, tzinfo=UTC)
    assert line.package_id == TOPUP_PACKAGE_ID
    assert line.phone_number == "882285100000001"


def test_overdrawn_volume_is_nothing_left() -> None:
    """ "volume ... can be negative": an overdraft reads as 0 left, the line out of data."""
    quota = fixture_json("onence", "quota_data_overdrawn.json")
    line = parse_line(ENABLED, _sims()[ENABLED], quota)
    assert line.data_remaining_bytes == 0
    assert line.status is LineStatus.DEPLETED


@pytest.mark.parametrize(
    ("iccid", "status"),
    [(NEVER_ACTIVATED, LineStatus.NOT_ACTIVE), (SWITCHED_OFF, LineStatus.SUSPENDED)],
)
def test_disabled_sims_told_apart(iccid: str, status: LineStatus) -> None:
    """Disabled and never activated is not active; disabled after activation is switched off."""
    line = parse_line(iccid, _sims()[iccid], fixture_json("onence", "quota_data.json"))
    assert line.status is status
    if iccid == NEVER_ACTIVATED:
        assert line.name == "SIM 0002"  # no label: the ICCID's tail


def test_unreadable_quota_is_refused() -> None:
    """A quota without its volume is refused, never read as zero."""
    with pytest.raises(MalformedError, match="volume"):
        parse_line(ENABLED, _sims()[ENABLED], fixture_json("onence", "quota_data_unreadable.json"))


def test_expired_sim() -> None:
    """A SIM whose quota 1NCE refuses as expired is an expired line without figures."""
    line = expired_line(ENABLED, _sims()[ENABLED])
    assert line.status is LineStatus.EXPIRED
    assert line.data_remaining_bytes is None


def test_order_list_finds_our_topup() -> None:
    """A TOPUP order after the send naming the SIM (with its Luhn digit) is a candidate."""
    orders = listing_rows(Reply(200, {}, fixture_json("onence", "orders.json")), "/v1/orders")
    assert order_iccids(orders[0]) == ["89882280660000000017"]
    assert order_status(orders[0]["order_status"]) is OrderStatus.COMPLETED
    assert order_status(orders[1]["order_status"]) is OrderStatus.COMPLETED
    candidates: list[tuple[datetime, Mapping[str, object]]] = []
    dates = collect_candidates(
        orders,
        ENABLED,
        "ps-1",
        datetime(2029, 3, 2, 18, 0, tzinfo=UTC),
        claimed={},
        candidates=candidates,
    )
    assert dates == [
        datetime(2029, 3, 2, 18, 15, tzinfo=UTC),
        datetime(2029, 1, 10, 8, 0, tzinfo=UTC),
    ]
    assert [entry for _, entry in candidates] == [orders[0]]
    # An order another of our purchases already owns is not ours.
    candidates.clear()
    collect_candidates(
        orders,
        ENABLED,
        "ps-1",
        datetime(2029, 3, 2, 18, 0, tzinfo=UTC),
        claimed={"1002": "ps-0"},
        candidates=candidates,
    )
    assert not candidates


@pytest.mark.parametrize(
    ("name", "status", "code"),
    [("error_sim_not_ours.json", 403, "sim_not_found"), ("error_expired.json", 422, "sim_expired")],
)
def test_documented_refusals(name: str, status: int, code: str) -> None:
    """A SIM that is not ours (403 with that wording) or expired (422) refuses the top-up."""
    reply = Reply(status, {}, fixture_json("onence", name))
    assert sim_not_ours(reply) is (status == 403)
    error = purchase_error(reply, "ref")
    assert isinstance(error, OrderRejectedError)
    assert error.code == code
