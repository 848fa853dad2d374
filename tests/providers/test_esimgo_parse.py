"""eSIM Go answers, read from recorded JSON files, become the normalized models."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from custom_components.prepaid_sim.providers.base import LineStatus, Money, OrderStatus
from custom_components.prepaid_sim.providers.esimgo.parse import (
    countries,
    current_assignment,
    order_created_at,
    order_price,
    order_status,
    organisation,
    parse_assignments,
    parse_line,
    parse_package,
    wallet_of,
)
from custom_components.prepaid_sim.providers.esimgo.reconcile import match_order
from custom_components.prepaid_sim.providers.http import MalformedError

from .fixture_files import fixture_json

ICCID = "8944538532046590109"


def test_active_bundle_describes_the_line() -> None:
    """The active assignment wins over a queued top-up and a used-up one; quantities are bytes."""
    assignments = parse_assignments(fixture_json("esimgo", "esim_bundles.json"))
    assert [a.state for a in assignments] == ["active", "queued", "depleted"]
    line = parse_line(ICCID, "Trip phone", assignments)
    assert line.status is LineStatus.ACTIVE
    assert line.package_id == "esim_1GB_7D_GB_V2"
    assert line.plan_name == "eSIM, 1GB, 7 Days, United Kingdom, V2"
    assert line.data_total_bytes == 1_000_000_000
    assert line.data_remaining_bytes == 750_000_000
    assert line.data_used_bytes == 250_000_000
    # The queued 3 GB is not counted: it is unusable until the active bundle ends.
    assert line.expires_at == datetime(2030, 3, 18, 11, 2, 13, tzinfo=UTC)
    assert line.iccid == ICCID


def test_queued_bundle_once_the_active_one_is_gone() -> None:
    """Without an active assignment, the waiting one describes the line: not active yet."""
    assignments = parse_assignments(fixture_json("esimgo", "esim_bundles.json"))
    waiting = [a for a in assignments if a.state != "active"]
    current = current_assignment(waiting)
    assert current is not None
    assert current.bundle == "esim_3GB_30D_GB_V2"
    assert parse_line(ICCID, "x", waiting).status is LineStatus.NOT_ACTIVE
    used_up = [a for a in assignments if a.state == "depleted"]
    assert parse_line(ICCID, "x", used_up).status is LineStatus.DEPLETED


def test_unlimited_bundle_has_no_totals() -> None:
    """An unlimited assignment's -1 quantities mean nothing: no total, no remaining."""
    line = parse_line(
        ICCID, "x", parse_assignments(fixture_json("esimgo", "esim_bundles_unlimited.json"))
    )
    assert line.unlimited
    assert line.data_total_bytes is None
    assert line.data_remaining_bytes is None
    assert line.status is LineStatus.ACTIVE


def test_unreadable_assignment_is_refused() -> None:
    """A quantity that is not a number makes the line unreadable, never zero."""
    with pytest.raises(MalformedError):
        parse_assignments(fixture_json("esimgo", "esim_bundles_unreadable.json"))


def test_organisation_balance() -> None:
    """GET /organisation: the balance is a decimal amount in the account's currency."""
    assert wallet_of(organisation(fixture_json("esimgo", "organisation.json"))) == Money(
        Decimal("412.37"), "USD"
    )


def test_catalogue_bundles() -> None:
    """dataAmount is decimal MB; -1 is unlimited; a bundle without a price is skipped."""
    bundles = fixture_json("esimgo", "catalogue.json")["bundles"]
    fixed, unlimited, broken = (parse_package(bundle) for bundle in bundles)
    assert fixed is not None
    assert fixed.data_bytes == 1_000_000_000
    assert fixed.validity == timedelta(days=7)
    assert fixed.price == Money(Decimal("1.79"), "USD")
    assert countries(bundles[0]) == {"GB"}
    assert unlimited is not None
    assert unlimited.data_bytes is None
    assert broken is None


def test_order_answer() -> None:
    """POST /orders: "Completed" is final, the total is the price, createdDate is UTC."""
    answer = fixture_json("esimgo", "order_transaction.json")
    assert order_status(answer["status"]) is OrderStatus.COMPLETED
    assert order_price(answer) == Money(Decimal("1.79"), "USD")
    assert order_created_at(answer) == datetime(2030, 3, 11, 10, 46, 58, 412000, tzinfo=UTC)


def test_order_history_tells_whose_order_it_is() -> None:
    """GET /orders: an order naming our eSIM is ours; one that names none cannot tell."""
    ours, vague = fixture_json("esimgo", "orders.json")["orders"]
    assert match_order(ours, ICCID, "esim_1GB_7D_GB_V2") is True
    assert match_order(ours, "8944000000000000000", "esim_1GB_7D_GB_V2") is False
    assert match_order(vague, ICCID, "esim_3GB_30D_GB_V2") is None
    assert order_status(vague["status"]) is OrderStatus.PROCESSING
    # The docs spell the date both ways.
    assert order_created_at(vague) == datetime(2030, 3, 10, 8, 0, tzinfo=UTC)
