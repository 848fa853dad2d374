"""Airalo answers, read from recorded JSON files, become the normalized models."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from custom_components.prepaid_sim.providers.airalo.const import MB
from custom_components.prepaid_sim.providers.airalo.parse import (
    Reply,
    listing_rows,
    order_price,
    order_status,
    parse_topup_package,
    parse_usage,
    purchase_error,
    reply_data,
    wallet_from,
)
from custom_components.prepaid_sim.providers.airalo.reconcile import (
    mentions_reference,
    order_iccids,
)
from custom_components.prepaid_sim.providers.base import (
    LineStatus,
    Money,
    OrderRejectedError,
    OrderStatus,
)
from custom_components.prepaid_sim.providers.http import MalformedError

from .fixture_files import fixture_json

ICCID = "8944465400000267221"


def _usage(name: str) -> dict[str, object]:
    data = reply_data(Reply(200, {}, fixture_json("airalo", name)))
    assert data is not None
    return dict(data)


def test_metered_usage_in_binary_megabytes() -> None:
    """total/remaining are MB of 1,048,576 bytes; a zone-less expiry is UTC."""
    line = parse_usage(ICCID, "eSIM 7221", "Change-1 GB", _usage("usage_active.json"))
    assert line is not None
    assert line.status is LineStatus.ACTIVE
    assert line.data_total_bytes == 2048 * MB
    assert line.data_remaining_bytes == 767 * MB
    assert line.data_used_bytes == (2048 - 767) * MB
    assert line.expires_at == datetime(2030, 1, 1, tzinfo=UTC)
    assert line.plan_name == "Change-1 GB"


def test_unlimited_usage_ignores_zero_figures() -> None:
    """For unlimited plans 0/0 "should be ignored": no total, no remaining."""
    line = parse_usage(ICCID, "x", None, _usage("usage_unlimited.json"))
    assert line is not None
    assert line.unlimited
    assert line.data_total_bytes is None
    assert line.data_remaining_bytes is None
    assert line.expires_at == datetime(2030, 3, 15, 12, 30, tzinfo=UTC)


def test_finished_and_recycled() -> None:
    """FINISHED is depleted; a RECYCLED eSIM is no line at all."""
    line = parse_usage(ICCID, "x", None, _usage("usage_finished.json"))
    assert line is not None
    assert line.status is LineStatus.DEPLETED
    assert line.data_remaining_bytes == 0
    assert parse_usage(ICCID, "x", None, _usage("usage_recycled.json")) is None


def test_unreadable_usage_is_refused() -> None:
    """A remaining figure that is not a number is refused, never read as zero."""
    with pytest.raises(MalformedError):
        parse_usage(ICCID, "x", None, _usage("usage_unreadable.json"))


def test_topup_catalogue() -> None:
    """The net price is what the wallet pays; amount is MB; an entry without an id is skipped."""
    rows = listing_rows(Reply(200, {}, fixture_json("airalo", "topups.json")))
    metered, unlimited, no_id = (parse_topup_package(row) for row in rows)
    assert metered is not None
    assert metered.price == Money(Decimal(8), "USD")
    assert metered.data_bytes == 3072 * MB
    assert metered.validity == timedelta(days=30)
    assert unlimited is not None
    assert unlimited.data_bytes is None
    assert unlimited.price == Money(Decimal("19.5"), "USD")
    assert no_id is None


def test_balance() -> None:
    """GET /balance: data.balances.availableBalance{amount, currency}."""
    payload = reply_data(Reply(200, {}, fixture_json("airalo", "balance.json")))
    assert wallet_from(payload) == Money(Decimal("2187.35"), "USD")


def test_topup_order_answer() -> None:
    """POST /orders/topups: the net price is what was charged."""
    data = reply_data(Reply(200, {}, fixture_json("airalo", "order_topup.json")))
    assert data is not None
    assert order_price(data) == Money(Decimal("3.6"), "USD")


def test_order_listing_found_by_reference() -> None:
    """Our reference is a whole word of the description; the order lists its eSIMs."""
    ours, other = listing_rows(Reply(200, {}, fixture_json("airalo", "orders.json")))
    assert mentions_reference(str(ours["description"]), "ps-7c1f0e9a")
    assert not mentions_reference(str(other["description"]), "ps-7c1f0e9a")
    assert not mentions_reference(None, "ps-7c1f0e9a")
    assert order_iccids(ours) == {ICCID}
    assert order_iccids(other) is None
    assert order_status(ours) is OrderStatus.COMPLETED
    assert order_status(other) is OrderStatus.FAILED


def test_insufficient_credit_is_a_refusal() -> None:
    """Business code 11 refuses the order for lack of funds: nothing was charged."""
    error = purchase_error(
        Reply(422, {}, fixture_json("airalo", "error_insufficient_credit.json")), "ref"
    )
    assert isinstance(error, OrderRejectedError)
    assert error.insufficient_funds
    assert error.code == "11"
