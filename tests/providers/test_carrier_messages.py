"""Carriers' balance messages (SMS and USSD answers) read into balance, data and expiry."""

from __future__ import annotations

from datetime import UTC, datetime, tzinfo
from decimal import Decimal
import random
import re
import time
from zoneinfo import ZoneInfo

import pytest

from custom_components.prepaid_sim.providers.base import Money
from custom_components.prepaid_sim.providers.carrier_messages import (
    CARRIER_RULES,
    CarrierRule,
    DateOrder,
    MessageReading,
    PatternError,
    compile_user_pattern,
    parse_message,
)
from custom_components.prepaid_sim.providers.manual import GIB

MIB = 1024**2
NOW = datetime(2026, 6, 15, 12, tzinfo=UTC)
LOS_ANGELES = ZoneInfo("America/Los_Angeles")


def usd(amount: str) -> Money:
    """Return an amount in US dollars."""
    return Money(Decimal(amount), "USD")


def end_of(year: int, month: int, day: int) -> datetime:
    """Return the last second of a UTC day."""
    return datetime(year, month, day, 23, 59, 59, tzinfo=UTC)


def read(
    text: str,
    carrier: str | None = None,
    *,
    pattern: str | None = None,
    date_order: DateOrder = DateOrder.MONTH_FIRST,
    now: datetime = NOW,
    time_zone: tzinfo = UTC,
    currency: str = "USD",
) -> MessageReading | None:
    """Read a message with the defaults of these tests: US dates, UTC, mid-June 2026."""
    return parse_message(
        text,
        carrier=carrier,
        pattern=pattern,
        date_order=date_order,
        now=now,
        time_zone=time_zone,
        currency=currency,
    )


def expiry_of(
    text: str,
    *,
    date_order: DateOrder = DateOrder.MONTH_FIRST,
    now: datetime = NOW,
    time_zone: tzinfo = UTC,
) -> datetime | None:
    """Return only the expiry read from ``text``."""
    reading = read(text, date_order=date_order, now=now, time_zone=time_zone)
    return None if reading is None else reading.expires_at


CARRIER_CASES = [
    (
        "mint_mobile",
        "You have 2.35GB of high-speed data remaining. Your plan expires on 12/31/2026.",
        MessageReading(
            data_remaining_bytes=2523293286, expires_at=end_of(2026, 12, 31), rule="mint_mobile"
        ),
    ),
    (
        "mint_mobile",
        "Mint Mobile: High-speed data left: 850MB. Your plan renews on Jan 15, 2027.",
        MessageReading(
            data_remaining_bytes=850 * MIB, expires_at=end_of(2027, 1, 15), rule="mint_mobile"
        ),
    ),
    (
        "tello",
        "Balance: $3.20. Data: 1.2 GB left. Plan valid until 2026-12-31",
        MessageReading(
            balance=usd("3.20"),
            data_remaining_bytes=1288490189,
            expires_at=end_of(2026, 12, 31),
            rule="tello",
        ),
    ),
    (
        "tello",
        "Tello: Your balance is $10.00. Data: 500 MB. Plan expires on 12/31/2026 11:59 PM.",
        MessageReading(
            balance=usd("10.00"),
            data_remaining_bytes=500 * MIB,
            expires_at=datetime(2026, 12, 31, 23, 59, tzinfo=UTC),
            rule="tello",
        ),
    ),
    (
        "us_mobile",
        "US Mobile: You have 3.5GB of data remaining. Your plan renews on Dec 31, 2026.",
        MessageReading(
            data_remaining_bytes=3584 * MIB, expires_at=end_of(2026, 12, 31), rule="us_mobile"
        ),
    ),
    (
        "us_mobile",
        "US Mobile: Data left: 750 MB. Next billing date: 12/31/2026. Wallet balance: $4.00",
        MessageReading(
            balance=usd("4.00"),
            data_remaining_bytes=750 * MIB,
            expires_at=end_of(2026, 12, 31),
            rule="us_mobile",
        ),
    ),
    (
        "ultra_mobile",
        "Ultra: Bal $5.00, Exp 12/31/26, Data 1.5GB",
        MessageReading(
            balance=usd("5.00"),
            data_remaining_bytes=1536 * MIB,
            expires_at=end_of(2026, 12, 31),
            rule="ultra_mobile",
        ),
    ),
    (
        "ultra_mobile",
        "Ultra Mobile: Balance: $12.00. Data Bal: 850MB. Expires: 01/05/2027",
        MessageReading(
            balance=usd("12.00"),
            data_remaining_bytes=850 * MIB,
            expires_at=end_of(2027, 1, 5),
            rule="ultra_mobile",
        ),
    ),
    (
        "red_pocket",
        "Red Pocket: Your balance is $0.00. Data remaining: 1.8GB. Plan expiration date: 12/31/2026.",
        MessageReading(
            balance=usd("0"),
            data_remaining_bytes=1932735283,
            expires_at=end_of(2026, 12, 31),
            rule="red_pocket",
        ),
    ),
    (
        "red_pocket",
        "RedPocket Acct Bal: $2.50 Exp Date: 12/31/26 Data Bal: 3.5GB",
        MessageReading(
            balance=usd("2.50"),
            data_remaining_bytes=3584 * MIB,
            expires_at=end_of(2026, 12, 31),
            rule="red_pocket",
        ),
    ),
    (
        "h2o_wireless",
        "H2O: Your balance is $10.00 exp 12/31/2026. Data: 500MB",
        MessageReading(
            balance=usd("10"),
            data_remaining_bytes=500 * MIB,
            expires_at=end_of(2026, 12, 31),
            rule="h2o_wireless",
        ),
    ),
    (
        "h2o_wireless",
        "H2O Wireless: Bal $5.50 Exp 12/31/26 Data Bal 1.2GB",
        MessageReading(
            balance=usd("5.50"),
            data_remaining_bytes=1288490189,
            expires_at=end_of(2026, 12, 31),
            rule="h2o_wireless",
        ),
    ),
    (
        "lyca_mobile",
        "Your Lyca Mobile balance is $2.50, plan expires 31-12-2026",
        MessageReading(balance=usd("2.50"), expires_at=end_of(2026, 12, 31), rule="lyca_mobile"),
    ),
    (
        "lyca_mobile",
        "Lyca Mobile: Main balance $0.50. Data balance 1.5GB, valid till 05/01/2027.",
        MessageReading(
            balance=usd("0.50"),
            data_remaining_bytes=1536 * MIB,
            expires_at=end_of(2027, 5, 1),
            rule="lyca_mobile",
        ),
    ),
    (
        "lyca_mobile",
        "Lyca Mobile: 2GB national data, plan valid to 12/31/2026. Balance USD 1.00",
        MessageReading(
            balance=usd("1"),
            data_remaining_bytes=2 * GIB,
            expires_at=end_of(2026, 12, 31),
            rule="lyca_mobile",
        ),
    ),
    (
        "tracfone",
        "TracFone: Minutes: 120, Texts: 300, Data: 512.00 MB. Service End Date: 12/31/2026",
        MessageReading(
            data_remaining_bytes=512 * MIB, expires_at=end_of(2026, 12, 31), rule="tracfone"
        ),
    ),
    (
        "tracfone",
        "Straight Talk: Your service end date is 12/31/2026. Data balance: 2.5GB",
        MessageReading(
            data_remaining_bytes=2560 * MIB, expires_at=end_of(2026, 12, 31), rule="tracfone"
        ),
    ),
    (
        "tracfone",
        "Total Wireless: You have 10GB of high speed data remaining. Due date: 01/05/27.",
        MessageReading(
            data_remaining_bytes=10 * GIB, expires_at=end_of(2027, 1, 5), rule="tracfone"
        ),
    ),
    (
        "tracfone",
        "Walmart Family Mobile: Your service expires on 07/01/2026. Data: 1GB used.",
        MessageReading(expires_at=end_of(2026, 7, 1), rule="tracfone"),
    ),
    (
        "tmobile_prepaid",
        "Your account balance is $12.50. Your plan expires on 12/31/26.",
        MessageReading(
            balance=usd("12.50"), expires_at=end_of(2026, 12, 31), rule="tmobile_prepaid"
        ),
    ),
    (
        "tmobile_prepaid",
        (
            "T-Mobile: Your account balance is $0.00. Your plan renews on 01/05/2027. "
            "You have 3.8GB of high-speed data remaining."
        ),
        MessageReading(
            balance=usd("0"),
            data_remaining_bytes=4080218931,
            expires_at=end_of(2027, 1, 5),
            rule="tmobile_prepaid",
        ),
    ),
    (
        "tmobile_prepaid",
        "Bal: $7.25",
        MessageReading(balance=usd("7.25"), rule="tmobile_prepaid"),
    ),
    (
        "att_prepaid",
        "AT&T PREPAID: Bal: $25.00, exp: 12/31/26",
        MessageReading(balance=usd("25"), expires_at=end_of(2026, 12, 31), rule="att_prepaid"),
    ),
    (
        "att_prepaid",
        (
            "AT&T Prepaid: Your plan renews on 01/15/2027. You have 6.5GB of data remaining. "
            "Data used: 1.5GB."
        ),
        MessageReading(
            data_remaining_bytes=6656 * MIB, expires_at=end_of(2027, 1, 15), rule="att_prepaid"
        ),
    ),
    (
        "att_prepaid",
        "Your account balance is $3.00.",
        MessageReading(balance=usd("3"), rule="att_prepaid"),
    ),
    (
        "cricket",
        "Cricket: Your next payment of $55.00 is due 12/31/2026. Acct Bal $0.00.",
        MessageReading(balance=usd("0"), expires_at=end_of(2026, 12, 31), rule="cricket"),
    ),
    (
        "cricket",
        (
            "Cricket Wireless: Amount Due $35.00 by 01/05/27. "
            "You have 2.9GB of high-speed data remaining."
        ),
        MessageReading(
            data_remaining_bytes=3113851290, expires_at=end_of(2027, 1, 5), rule="cricket"
        ),
    ),
    (
        "cricket",
        "Cricket: Your plan renews 07/20/2026.",
        MessageReading(expires_at=end_of(2026, 7, 20), rule="cricket"),
    ),
    (
        "boost_mobile",
        (
            "Boost Mobile: Your account balance is $5.00. Your plan renews on 12/31/2026. "
            "You have 8.5GB of high-speed data remaining."
        ),
        MessageReading(
            balance=usd("5"),
            data_remaining_bytes=8704 * MIB,
            expires_at=end_of(2026, 12, 31),
            rule="boost_mobile",
        ),
    ),
    (
        "boost_mobile",
        "Boost: Bal $0.00. Due date 12/31/26. Data left: 1.25GB",
        MessageReading(
            balance=usd("0"),
            data_remaining_bytes=1280 * MIB,
            expires_at=end_of(2026, 12, 31),
            rule="boost_mobile",
        ),
    ),
    (
        "generic",
        "Your balance is $8.00. 4GB of data left. Renews 07/01.",
        MessageReading(
            balance=usd("8"),
            data_remaining_bytes=4 * GIB,
            expires_at=end_of(2026, 7, 1),
            rule="generic",
        ),
    ),
    (
        "generic",
        "Unlimited talk, text & data. Service end date: Jul 30, 2026",
        MessageReading(unlimited=True, expires_at=end_of(2026, 7, 30), rule="generic"),
    ),
]


@pytest.mark.parametrize(("carrier", "text", "expected"), CARRIER_CASES)
def test_every_carrier_rule_reads_its_messages(
    carrier: str, text: str, expected: MessageReading
) -> None:
    """Each carrier's wording is read exactly; the rule that found something is named."""
    assert read(text, carrier) == expected


def test_every_carrier_rule_has_cases() -> None:
    """No shipped rule goes untested: at least two messages each."""
    counts = dict.fromkeys(CARRIER_RULES, 0)
    for carrier, _, _ in CARRIER_CASES:
        counts[carrier] += 1
    assert min(counts.values()) >= 2


def test_a_carrier_rule_reads_what_the_generic_rule_does_not() -> None:
    """Ultra's bare "Data 1.5GB" is no remaining amount to the generic rule."""
    text = "Ultra: Bal $5.00, Exp 12/31/26, Data 1.5GB"
    assert read(text) == MessageReading(
        balance=usd("5"), expires_at=end_of(2026, 12, 31), rule="generic"
    )
    assert read(text, "ultra_mobile") == MessageReading(
        balance=usd("5"),
        data_remaining_bytes=1536 * MIB,
        expires_at=end_of(2026, 12, 31),
        rule="ultra_mobile",
    )


def test_the_generic_rule_fills_what_a_carrier_rule_lacks() -> None:
    """Mint's rule has no balance pattern; the generic one reads it, the rule stays Mint's."""
    reading = read("Balance: $1.00. You have 2GB of high-speed data remaining.", "mint_mobile")
    assert reading == MessageReading(
        balance=usd("1"), data_remaining_bytes=2 * GIB, rule="mint_mobile"
    )


def test_a_carrier_rule_that_finds_nothing_leaves_the_generic_rule_named() -> None:
    """The reported rule is the one that found something, not the one asked for."""
    assert read("Your balance is $2.00", "mint_mobile") == MessageReading(
        balance=usd("2"), rule="generic"
    )


@pytest.mark.parametrize("carrier", [None, "", "no_such_carrier", "generic"])
def test_no_or_unknown_carrier_uses_the_generic_rule(carrier: str | None) -> None:
    """An unknown key is ignored rather than refused: the generic rule still reads."""
    assert read("Data remaining: 2GB", carrier) == MessageReading(
        data_remaining_bytes=2 * GIB, rule="generic"
    )


def test_carrier_rules_are_data_in_display_order() -> None:
    """Keyed by their own key, generic last, all marked inferred, each group where it belongs."""
    assert list(CARRIER_RULES) == [
        "mint_mobile",
        "tello",
        "us_mobile",
        "ultra_mobile",
        "red_pocket",
        "h2o_wireless",
        "lyca_mobile",
        "tracfone",
        "tmobile_prepaid",
        "att_prepaid",
        "cricket",
        "boost_mobile",
        "generic",
    ]
    for key, rule in CARRIER_RULES.items():
        assert isinstance(rule, CarrierRule)
        assert rule.key == key
        assert rule.name
        assert rule.inferred is True
        for group in ("balance", "data", "expires"):
            for pattern in getattr(rule, group):
                assert group in pattern.groupindex
    assert CARRIER_RULES["tmobile_prepaid"].codes == ("#225#", "#932#")
    assert CARRIER_RULES["att_prepaid"].codes == ("*777#",)
    with pytest.raises(TypeError):
        CARRIER_RULES["x"] = CARRIER_RULES["generic"]  # type: ignore[index]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Balance: $5", MessageReading(balance=usd("5"), rule="generic")),
        ("Your account balance is USD 12.50", MessageReading(balance=usd("12.50"), rule="generic")),
        ("Acct Bal 12.50 USD", MessageReading(balance=usd("12.50"), rule="generic")),
        ("Credit: $0.00", MessageReading(balance=usd("0.00"), rule="generic")),
        ("$3.20 remaining", MessageReading(balance=usd("3.20"), rule="generic")),
        ("You have $1,234.56 balance", MessageReading(balance=usd("1234.56"), rule="generic")),
        (
            "Balance: CAD 7.25",
            MessageReading(balance=Money(Decimal("7.25"), "CAD"), rule="generic"),
        ),
        ("2.5GB left", MessageReading(data_remaining_bytes=2560 * MIB, rule="generic")),
        ("2.5 GB left", MessageReading(data_remaining_bytes=2560 * MIB, rule="generic")),
        ("512MB remaining", MessageReading(data_remaining_bytes=512 * MIB, rule="generic")),
        ("1,024.5 MB left", MessageReading(data_remaining_bytes=1074266112, rule="generic")),
        ("Remaining: 300 KB", MessageReading(data_remaining_bytes=300 * 1024, rule="generic")),
        ("2 GiB available", MessageReading(data_remaining_bytes=2 * GIB, rule="generic")),
        (
            "1.5 gigabytes of data remaining",
            MessageReading(data_remaining_bytes=1536 * MIB, rule="generic"),
        ),
        ("500mb data available", MessageReading(data_remaining_bytes=500 * MIB, rule="generic")),
        (
            "You have 1.2GB of 4G LTE data left",
            MessageReading(data_remaining_bytes=1288490189, rule="generic"),
        ),
        ("Data balance 750MB", MessageReading(data_remaining_bytes=750 * MIB, rule="generic")),
        ("Data: Unlimited", MessageReading(unlimited=True, rule="generic")),
        ("UNLIMITED DATA plan", MessageReading(unlimited=True, rule="generic")),
        ("Unlimited high-speed data", MessageReading(unlimited=True, rule="generic")),
        ("Payment due 07/01", MessageReading(expires_at=end_of(2026, 7, 1), rule="generic")),
        (
            "Your plan is active until 31 Dec 2026",
            MessageReading(expires_at=end_of(2026, 12, 31), rule="generic"),
        ),
        (
            "Good through December 31",
            MessageReading(expires_at=end_of(2026, 12, 31), rule="generic"),
        ),
        (
            "Your plan expires on the 31st of December.",
            MessageReading(expires_at=end_of(2026, 12, 31), rule="generic"),
        ),
        (
            "Your plan renews for $15.00 on 08/01/2026.",
            MessageReading(expires_at=end_of(2026, 8, 1), rule="generic"),
        ),
        ("Plan expired 06/10", MessageReading(expires_at=end_of(2026, 6, 10), rule="generic")),
        ("exp 31.12.2026", MessageReading(expires_at=end_of(2026, 12, 31), rule="generic")),
        # Full-width digits and a no-break space are folded to what carriers normally send.
        (
            "Balance: \uff04\uff15.\uff10\uff10, 2.5\u00a0GB left",
            MessageReading(balance=usd("5"), data_remaining_bytes=2560 * MIB, rule="generic"),
        ),
    ],
)
def test_generic_rule(text: str, expected: MessageReading) -> None:
    """Balance, remaining data, unlimited and expiry in the wording of any carrier."""
    assert read(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "Your $25 plan",  # a price, not a balance
        "Your next payment of $55.00",
        "Renewal $12.15",  # an amount is never a date
        "exp 12.15",  # nor a number with a dot, without a year
        "12/31/2026",  # a date nobody said ends anything
        "You used 1.5GB of 5GB",
        "Data: 1GB used",
        "2GB data used, 3 days left",
        "Unlimited talk & text",
        "Your plan expires in 5 days",
    ],
)
def test_generic_rule_reads_nothing_it_should_not(text: str) -> None:
    """Prices, used amounts and lone dates are no balance, remaining data or expiry."""
    assert read(text) is None


@pytest.mark.parametrize(
    ("text", "remaining"),
    [
        ("Data used: 1.5GB. Data remaining: 3.5GB", 3584 * MIB),
        ("You have used 1.5GB of 5GB. 3.5GB left.", 3584 * MIB),
        ("3.5GB remaining, 1.5GB used", 3584 * MIB),
        ("Data used: 1GB, remaining: 1,024.5 MB", 1074266112),
        ("1.5 GB of 5 GB left", 1536 * MIB),
        ("You have 2GB of 10GB of high-speed data remaining", 2 * GIB),
        ("Remaining: 2GB of 5GB", 2 * GIB),
    ],
)
def test_remaining_wins_over_used_and_total(text: str, remaining: int) -> None:
    """Of used and remaining, remaining; of "X of Y" remaining, X."""
    assert read(text) == MessageReading(data_remaining_bytes=remaining, rule="generic")


def test_used_is_not_remaining_for_a_carrier_label() -> None:
    """Tello's "Data:" label does not read an amount said to be used."""
    assert read("Data: 1.5GB used of 5GB. Balance: $2", "tello") == MessageReading(
        balance=usd("2"), rule="tello"
    )


def test_unlimited_with_a_high_speed_allowance_keeps_both() -> None:
    """An unlimited plan that counts its priority data says both."""
    assert read("Unlimited data. 35GB of high-speed data remaining") == MessageReading(
        data_remaining_bytes=35 * GIB, unlimited=True, rule="generic"
    )


def test_unlimited_talk_and_text_is_not_unlimited_data() -> None:
    """ "Unlimited" must describe the data."""
    assert read("Unlimited talk & text, 2GB data left") == MessageReading(
        data_remaining_bytes=2 * GIB, rule="generic"
    )


@pytest.mark.parametrize(
    ("text", "currency", "expected"),
    [
        ("Balance: $5", "CAD", Money(Decimal(5), "CAD")),
        ("Balance: US$5", "CAD", Money(Decimal(5), "USD")),
        ("Balance: USD 5", "CAD", Money(Decimal(5), "USD")),
        ("Balance: 5 usd", "CAD", Money(Decimal(5), "USD")),
        ("Balance: MXN 50", "USD", Money(Decimal(50), "MXN")),
    ],
)
def test_currency_from_the_message_else_the_argument(
    text: str, currency: str, expected: Money
) -> None:
    """ "$" is the caller's currency; a named one wins."""
    reading = read(text, currency=currency)
    assert reading is not None
    assert reading.balance == expected


@pytest.mark.parametrize(
    ("text", "order", "expected"),
    [
        ("Exp 01/02/2027", DateOrder.MONTH_FIRST, end_of(2027, 1, 2)),
        ("Exp 01/02/2027", DateOrder.DAY_FIRST, end_of(2027, 2, 1)),
        ("Exp 13/02/2027", DateOrder.MONTH_FIRST, end_of(2027, 2, 13)),
        ("Exp 13/02/2027", DateOrder.DAY_FIRST, end_of(2027, 2, 13)),
        ("Exp 02/13/2027", DateOrder.DAY_FIRST, end_of(2027, 2, 13)),
        ("Exp 01/02/27", DateOrder.DAY_FIRST, end_of(2027, 2, 1)),
        ("Exp 2027-01-02", DateOrder.DAY_FIRST, end_of(2027, 1, 2)),
        ("Exp 2027/01/02", DateOrder.DAY_FIRST, end_of(2027, 1, 2)),
        ("Exp 13/13/2027", DateOrder.MONTH_FIRST, None),
    ],
)
def test_numeric_date_order(text: str, order: DateOrder, expected: datetime | None) -> None:
    """The configured order decides only where both readings are dates; ISO is always y-m-d."""
    assert expiry_of(text, date_order=order) == expected


@pytest.mark.parametrize(
    ("text", "now", "expected"),
    [
        ("Exp 01/05", datetime(2026, 12, 30, 12, tzinfo=UTC), end_of(2027, 1, 5)),
        # Two days back: the plan that just ended, not next year's date.
        ("Exp 12/28", datetime(2026, 12, 30, 12, tzinfo=UTC), end_of(2026, 12, 28)),
        # Eight days back is too long ago: next year.
        ("Exp 12/22", datetime(2026, 12, 30, 12, tzinfo=UTC), end_of(2027, 12, 22)),
        ("Exp 12/28", datetime(2027, 1, 2, 12, tzinfo=UTC), end_of(2026, 12, 28)),
        ("Renews Jan 5", datetime(2026, 12, 30, 12, tzinfo=UTC), end_of(2027, 1, 5)),
        ("Renews 5 January", datetime(2026, 12, 30, 12, tzinfo=UTC), end_of(2027, 1, 5)),
        # The next February 29.
        ("Exp 02/29", datetime(2026, 3, 1, tzinfo=UTC), end_of(2028, 2, 29)),
        # A naive "now" is UTC.
        ("Exp 12/28", datetime(2026, 12, 30, 12), end_of(2026, 12, 28)),
    ],
)
def test_year_less_dates_around_new_year(text: str, now: datetime, expected: datetime) -> None:
    """The first occurrence not more than 7 days before today."""
    assert expiry_of(text, now=now) == expected


def test_year_less_date_is_placed_from_the_local_day() -> None:
    """At 21:00 on December 31 in Los Angeles it is already January 1 in UTC."""
    now = datetime(2027, 1, 1, 5, tzinfo=UTC)
    assert expiry_of("Exp 12/24", now=now, time_zone=LOS_ANGELES) == datetime(
        2026, 12, 25, 7, 59, 59, tzinfo=UTC
    )
    assert expiry_of("Exp 12/24", now=now, time_zone=UTC) == end_of(2027, 12, 24)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # Pacific standard time in winter (UTC-8), daylight time in summer (UTC-7).
        ("Exp 12/31/2026", datetime(2027, 1, 1, 7, 59, 59, tzinfo=UTC)),
        ("Exp 07/04/2026", datetime(2026, 7, 5, 6, 59, 59, tzinfo=UTC)),
        ("Exp 12/31/2026 11:59 PM", datetime(2027, 1, 1, 7, 59, tzinfo=UTC)),
        ("Exp 12/31/2026 at 9am", datetime(2026, 12, 31, 17, 0, tzinfo=UTC)),
    ],
)
def test_expiry_is_local_to_the_time_zone(text: str, expected: datetime) -> None:
    """A day ends at 23:59:59 where the line is, returned in UTC."""
    reading = read(text, time_zone=LOS_ANGELES)
    assert reading is not None
    assert reading.expires_at == expected
    assert reading.expires_at.tzinfo is UTC


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("expires 12/31/2026 11:59 PM", datetime(2026, 12, 31, 23, 59, tzinfo=UTC)),
        ("expires 12/31/2026 at 11:59pm", datetime(2026, 12, 31, 23, 59, tzinfo=UTC)),
        ("expires Dec 31, 2026, 12:00 AM", datetime(2026, 12, 31, 0, 0, tzinfo=UTC)),
        ("expires Dec 31, 2026 12 p.m.", datetime(2026, 12, 31, 12, 0, tzinfo=UTC)),
        ("expires 2026-12-31T08:30", datetime(2026, 12, 31, 8, 30, tzinfo=UTC)),
        ("expires 2026-12-31 23:15:30", datetime(2026, 12, 31, 23, 15, 30, tzinfo=UTC)),
        ("expires 12/31/2026 25:00", None),
        ("expires 12/31/2026 13 PM", None),
        # A data amount after a date is no time.
        ("expires 12/31/2026 5GB", end_of(2026, 12, 31)),
    ],
)
def test_explicit_time(text: str, expected: datetime | None) -> None:
    """A written time is used as local time; an impossible one voids the expiry."""
    assert expiry_of(text) == expected


@pytest.mark.parametrize(
    ("text", "time_zone"),
    [
        ("exp 02/30/2026", UTC),
        ("exp 0000-01-01", UTC),
        # Past the end of the calendar once moved to UTC.
        ("exp 12/31/9999", LOS_ANGELES),
        ("exp 02/30", UTC),
    ],
)
def test_impossible_dates_are_ignored(text: str, time_zone: tzinfo) -> None:
    """Nothing else said: nothing read, and nothing raised."""
    assert read(text, time_zone=time_zone) is None


def test_invalid_date_keeps_the_other_fields() -> None:
    """A bad date loses only the expiry."""
    assert read("Bal $5.00, Exp 02/30/2026, Data 1.5GB", "ultra_mobile") == MessageReading(
        balance=usd("5"), data_remaining_bytes=1536 * MIB, rule="ultra_mobile"
    )


def test_a_later_valid_date_replaces_an_invalid_one() -> None:
    """Every match of a pattern is tried until one reads."""
    assert expiry_of("expired 02/30/2026, renews 03/30/2027") == end_of(2027, 3, 30)


_RANDOM = random.Random(20261231)

GARBAGE = [
    "",
    "   ",
    "hello world",
    "\x00\xff\ufffd",
    "\ud800\udfff",
    "🙂 $ GB exp",
    "Balance: $",
    "Expires on",
    "$5",
    "x" * 10_000,
    "1" * 10_000,
    "1,000," * 2_000,
    "$" * 10_000,
    "balance " * 2_000,
    "exp 1/" * 2_000,
    "1 GB of " * 2_000,
    "unlimited talk, " * 1_000,
    "12/31/ " * 2_000,
    "Dec Dec " * 2_000,
    "remaining " * 2_000,
    "of 1GB " * 2_000 + "used",
    "".join(_RANDOM.choice("0123456789 ,./-$:GBMKexpdatbl") for _ in range(10_000)),
    # Beyond the part of a message that is read.
    "x" * 10_000 + " Balance: $5.00",
]


@pytest.mark.parametrize("text", GARBAGE, ids=range(len(GARBAGE)))
def test_garbage_reads_nothing_quickly(text: str) -> None:
    """Empty, binary, unicode and 10 kB texts: None, for every rule, without a slow search."""
    for carrier in [None, *CARRIER_RULES]:
        started = time.perf_counter()
        assert read(text, carrier) is None
        assert time.perf_counter() - started < 0.5


def test_a_huge_message_is_read_from_its_start() -> None:
    """The start of a long text is still read."""
    assert read("Balance: $5.00 " + "x" * 10_000) == MessageReading(
        balance=usd("5"), rule="generic"
    )


# --- The user's own pattern.


def test_user_pattern_with_every_group() -> None:
    """A user's pattern for a carrier no rule knows; it wins over the rules."""
    pattern = (
        r"Saldo:\s*(?P<balance>[\d.]+).*?Datos:\s*(?P<data>[\d.]+)\s*(?P<data_unit>[GMK]B)"
        r".*?Vence:\s*(?P<expires>\S+)"
    )
    text = "Saldo: 4.50 Datos: 300 MB Vence: 31/12/2026. Balance: $9.00"
    assert read(text, "tello", pattern=pattern) == MessageReading(
        balance=usd("4.50"),
        data_remaining_bytes=300 * MIB,
        expires_at=end_of(2026, 12, 31),
        rule="custom",
    )


@pytest.mark.parametrize(
    ("pattern", "text", "expected"),
    [
        # The unit written inside the data group.
        (r"Quota (?P<data>\S+)", "Quota 2.5GB", 2560 * MIB),
        (r"Quota (?P<data>[\d.]+ ?[a-z]+)", "Quota 300 kb", 300 * 1024),
        # No unit anywhere: GB.
        (r"Quota (?P<data>[\d.]+)", "Quota 2", 2 * GIB),
        # The data_unit group wins over a unit in the data group.
        (r"Quota (?P<data>\S+) in (?P<data_unit>\w+)", "Quota 5GB in MB", 5 * MIB),
        # An empty data_unit group is no unit.
        (r"Quota (?P<data>\d+)(?P<data_unit>[A-Z]*)", "Quota 3", 3 * GIB),
    ],
)
def test_user_pattern_data_units(pattern: str, text: str, expected: int) -> None:
    """data_unit, then the unit in the data group, then GB."""
    assert read(text, pattern=pattern) == MessageReading(
        data_remaining_bytes=expected, rule="custom"
    )


def test_user_pattern_unlimited_data() -> None:
    """A data group that says unlimited."""
    assert read("Quota: UNLIMITED", pattern=r"Quota: (?P<data>\w+)") == MessageReading(
        unlimited=True, rule="custom"
    )


def test_user_pattern_unknown_unit_reads_no_data() -> None:
    """A unit the reader does not know voids the data value, nothing else."""
    reading = read(
        "Quota 5 TB, saldo $1",
        pattern=r"Quota (?P<data>\d+) (?P<data_unit>\w+), saldo (?P<balance>\S+)",
    )
    assert reading == MessageReading(balance=usd("1"), rule="custom")


def test_user_pattern_currency_named_in_the_group() -> None:
    """A currency inside the balance group wins over the argument."""
    reading = read("Saldo 7.00 CAD", pattern=r"Saldo (?P<balance>.+)", currency="USD")
    assert reading == MessageReading(balance=Money(Decimal(7), "CAD"), rule="custom")


def test_user_pattern_alternatives_fill_each_other() -> None:
    """A pattern of alternatives: each match gives what the earlier ones did not."""
    pattern = r"Saldo (?P<balance>\S+)|Vence (?P<expires>\S+)"
    assert read("Saldo $3.00. Vence 08/01/2026", pattern=pattern) == MessageReading(
        balance=usd("3.00"), expires_at=end_of(2026, 8, 1), rule="custom"
    )


def test_user_pattern_is_completed_by_the_rules() -> None:
    """What the pattern lacks comes from the carrier's rule and the generic rule."""
    reading = read(
        "Saldo 2.00 - Data Bal: 1GB - plan expires 12/31/2026",
        "ultra_mobile",
        pattern=r"Saldo (?P<balance>[\d.]+)",
    )
    assert reading == MessageReading(
        balance=usd("2.00"),
        data_remaining_bytes=GIB,
        expires_at=end_of(2026, 12, 31),
        rule="custom",
    )


def test_user_pattern_groups_without_values_read_nothing() -> None:
    """Groups whose text holds no number or date leave their fields to the rules."""
    pattern = r"Saldo (?P<balance>[a-z]+) Datos (?P<data>[a-z]+) Vence (?P<expires>[a-z]+)"
    assert read("Saldo none Datos lots Vence soon", pattern=pattern) is None
    assert read("Saldo none Datos lots Vence soon. Balance $1", pattern=pattern) == (
        MessageReading(balance=usd("1"), rule="generic")
    )


def test_user_pattern_that_does_not_match() -> None:
    """The rules read as if there were no pattern."""
    assert read("Balance: $5", pattern=r"Saldo (?P<balance>\S+)") == MessageReading(
        balance=usd("5"), rule="generic"
    )


@pytest.mark.parametrize("pattern", ["", "   ", None])
def test_empty_user_pattern_is_none(pattern: str | None) -> None:
    """A blank pattern field is no pattern, not an error."""
    assert read("Balance: $5", pattern=pattern) == MessageReading(balance=usd("5"), rule="generic")


def test_compile_user_pattern_is_case_insensitive() -> None:
    """Carriers change case; patterns need not."""
    compiled = compile_user_pattern(r"saldo (?P<balance>\S+)")
    assert isinstance(compiled, re.Pattern)
    assert compiled.search("SALDO 5") is not None


@pytest.mark.parametrize(
    ("pattern", "message"),
    [
        (r"Saldo (?P<balance>[\d.+)", "not a valid regular expression: "),
        (r"a{4294967296}(?P<data>x)", "not a valid regular expression: "),
        (r"Saldo (?P<amount>\S+)", "none of the named groups"),
        (r"Saldo (\S+)", "none of the named groups"),
        (r"(?P<balance>\S+) (?P<data_unit>GB)", "the group data_unit needs a group data"),
        ("(?P<data>x)" + "x" * 1000, "longer than 1000 characters"),
    ],
)
def test_compile_user_pattern_refuses(pattern: str, message: str) -> None:
    """Each refusal says why."""
    with pytest.raises(PatternError, match=re.escape(message)):
        compile_user_pattern(pattern)


def test_deeply_nested_pattern_is_refused_not_crashed() -> None:
    """Recursion in the regex compiler becomes a PatternError."""
    with pytest.raises(PatternError, match="not a valid regular expression"):
        compile_user_pattern("(" * 494 + "(?P<data>x)" + ")" * 494)


def test_parse_message_refuses_an_invalid_pattern() -> None:
    """The only error it raises: the caller's pattern, never the text."""
    with pytest.raises(PatternError):
        read("Balance: $5", pattern="(")
    assert issubclass(PatternError, ValueError)


def test_date_order_values() -> None:
    """Stored in settings by value."""
    assert DateOrder("month_first") is DateOrder.MONTH_FIRST
    assert DateOrder("day_first") is DateOrder.DAY_FIRST


def test_reading_defaults() -> None:
    """Only the rule is required."""
    assert MessageReading(rule="x") == MessageReading(
        balance=None, data_remaining_bytes=None, unlimited=False, expires_at=None, rule="x"
    )
