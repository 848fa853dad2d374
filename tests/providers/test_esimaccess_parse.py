"""eSIM Access answers, read from recorded JSON files, become the normalized models."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from custom_components.prepaid_sim.providers.base import (
    AuthenticationError,
    LineStatus,
    Money,
    OrderRejectedError,
)
from custom_components.prepaid_sim.providers.esimaccess.parse import (
    as_list,
    as_object,
    by_line_id,
    money_from_units,
    only_usage_moved,
    parse_envelope,
    parse_line,
    parse_package,
    parse_time,
    purchase_error,
    with_usage,
)
from custom_components.prepaid_sim.providers.http import MalformedError

from .fixture_files import fixture_bytes

GIB = 1024**3
MIB = 1024**2


def _records() -> dict[str, dict[str, object]]:
    envelope = parse_envelope(fixture_bytes("esimaccess", "esim_query.json"))
    assert envelope is not None
    assert envelope.success
    records = [as_object(item) for item in as_list(as_object(envelope.obj).get("esimList"))]
    return {key: dict(value) for key, value in by_line_id(records).items()}


def test_esim_in_use_reads_bytes_and_utc() -> None:
    """Sizes stay in bytes, the expiry is an aware UTC time, the plan comes from packageList."""
    line = parse_line(_records()["25030303480009"])
    assert line.status is LineStatus.ACTIVE
    assert line.data_total_bytes == 3 * GIB
    assert line.data_used_bytes == GIB
    assert line.data_remaining_bytes == 2 * GIB
    assert line.expires_at == datetime(2030, 8, 17, 17, 1, 37, tzinfo=UTC)
    assert line.plan_name == "United States 3GB 30Days"
    assert line.package_id == "CKH491"
    assert line.iccid == "8985200012345678901"
    assert line.phone_number is None  # an empty msisdn is no number
    assert line.name == "eSIM 8901"


def test_daily_plan_not_yet_installed() -> None:
    """dataType 2: the volume is one day's allowance; allocated but not enabled is not active."""
    line = parse_line(_records()["25030303480010"])
    assert line.status is LineStatus.NOT_ACTIVE
    assert line.unlimited
    assert line.daily_data_bytes == 500 * MIB
    assert line.data_total_bytes is None
    assert line.data_remaining_bytes is None
    assert line.plan_name == "JC016"  # no packageName: the code names the plan


@pytest.mark.parametrize(
    ("line_id", "status"),
    [("25030303480011", LineStatus.DEPLETED), ("25030303480012", LineStatus.EXPIRED)],
)
def test_documented_states(line_id: str, status: LineStatus) -> None:
    """USED_UP is depleted, USED_EXPIRED expired; an empty packageList names no plan."""
    line = parse_line(_records()[line_id])
    assert line.status is status
    assert line.plan_name is None


def test_unreadable_record_is_refused() -> None:
    """A volume that is not a number is refused, naming the field, not read as zero."""
    with pytest.raises(MalformedError, match="totalVolume"):
        parse_line(_records()["25030303480013"])


def test_balance_is_money_times_ten_thousand() -> None:
    """balance/query: 1234500 is 123.45 in the default currency."""
    envelope = parse_envelope(fixture_bytes("esimaccess", "balance_query.json"))
    assert envelope is not None
    obj = as_object(envelope.obj)
    assert money_from_units(obj.get("balance"), obj.get("currencyCode")) == Money(
        Decimal("123.45"), "USD"
    )


def test_topup_catalogue() -> None:
    """package/list TOPUP: price x10,000, bytes, validity; daily packages; an odd price refused."""
    envelope = parse_envelope(fixture_bytes("esimaccess", "package_list_topup.json"))
    assert envelope is not None
    items = [as_object(item) for item in as_list(as_object(envelope.obj).get("packageList"))]
    fixed, daily = parse_package(items[0]), parse_package(items[1])
    assert fixed.package_id == "TOPUP_CKH491"
    assert fixed.price == Money(Decimal("4.5"), "USD")
    assert fixed.data_bytes == 3 * GIB
    assert fixed.validity == timedelta(days=30)
    assert daily.daily_bytes == 500 * MIB
    assert daily.data_bytes is None
    with pytest.raises(MalformedError):
        parse_package(items[2])


def test_topup_answer_carries_new_expiry_and_volume() -> None:
    """esim/topup: the new expiry and total volume, as the docs list them."""
    envelope = parse_envelope(fixture_bytes("esimaccess", "topup.json"))
    assert envelope is not None
    obj = as_object(envelope.obj)
    assert parse_time(obj.get("expiredTime")) == datetime(2030, 9, 16, 17, 1, 37, tzinfo=UTC)
    assert obj.get("totalVolume") == 6 * GIB


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("error_insufficient_balance.json", OrderRejectedError),
        ("error_signature.json", AuthenticationError),
    ],
)
def test_documented_error_envelopes(name: str, expected: type[Exception]) -> None:
    """Errors inside HTTP 200: 200007 refuses the order for funds, 101003 the credentials."""
    envelope = parse_envelope(fixture_bytes("esimaccess", name))
    assert envelope is not None
    assert not envelope.success
    error = purchase_error(envelope, "ref-1")
    assert type(error) is expected
    if isinstance(error, OrderRejectedError):
        assert error.insufficient_funds


@pytest.mark.parametrize(
    ("line_id", "changes"),
    [
        # In use, data flowing; then the whole allowance used (depleted before USED_UP).
        ("25030303480009", {"orderUsage": 2 * GIB}),
        ("25030303480009", {"orderUsage": 3 * GIB}),
        ("25030303480009", {"orderUsage": 4 * GIB}),
        # In use, but the expiry passed since: expired whatever the usage.
        ("25030303480009", {"orderUsage": 2 * GIB, "expiredTime": "2024-01-01T00:00:00+0000"}),
        # Allocated daily plan, not installed; a daily plan has no remaining.
        ("25030303480010", {"orderUsage": 10 * MIB}),
        ("25030303480011", {"orderUsage": 512 * MIB}),
        ("25030303480012", {"orderUsage": 60 * MIB}),
        # Allocated and enabled: active even with the allowance used.
        ("25030303480010", {"smdpStatus": "ENABLED", "dataType": 1, "orderUsage": GIB}),
    ],
)
def test_a_usage_reading_reads_as_a_full_parse(line_id: str, changes: dict[str, object]) -> None:
    """with_usage (the refresh's shortcut when only usage moved) equals a full parse."""
    before = _records()[line_id]
    usage = changes.pop("orderUsage")
    before.update(changes)
    after = {**before, "orderUsage": usage}
    assert only_usage_moved(before, after)
    assert with_usage(parse_line(before), after) == parse_line(after)
