"""Balance messages of US prepaid carriers (SMS and USSD answers), read into numbers.

Most US prepaid brands have no API, but answer a text or a USSD code with a short message:
the balance, the data left, when the plan ends. ``parse_message`` reads one such message
into a ``MessageReading``: money as ``Decimal`` plus a currency, data in bytes, the expiry as
an aware UTC datetime. Nothing here talks to a carrier, and no message text makes it raise.

A carrier's rule is data: a few regular expressions per field, each with one named group
(``balance``, ``data`` or ``expires``) whose text is then read by the shared readers below.
Whatever a carrier's rule does not find is looked for by the generic rule.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from decimal import Decimal
from enum import StrEnum
from itertools import islice
import re
from types import MappingProxyType
from typing import Final
import unicodedata

from .base import Money
from .manual import GIB


class DateOrder(StrEnum):
    """How a numeric date such as 01/02 is read when it could be either; 2026-01-02 is y-m-d."""

    MONTH_FIRST = "month_first"  # 01/02 = January 2 (US usage)
    DAY_FIRST = "day_first"  # 01/02 = 1 February


@dataclass(frozen=True, slots=True, kw_only=True)
class MessageReading:
    """What one balance message said; at least one of the four values is set."""

    # The account's (airtime) balance.
    balance: Money | None = None
    data_remaining_bytes: int | None = None
    # The message says the data is unlimited.
    unlimited: bool = False
    # When the plan ends (aware, UTC).
    expires_at: datetime | None = None
    # Key of the first rule that found something: "custom" for the user's own pattern.
    rule: str


@dataclass(frozen=True, slots=True, kw_only=True)
class CarrierRule:
    """How one carrier's messages are read.

    Each pattern of ``balance``, ``data`` and ``expires`` has a named group of the same name
    holding the value's text; the first pattern whose value reads wins. Any pattern of
    ``unlimited`` that matches says the data is unlimited.
    """

    key: str
    name: str
    # True: the wording was inferred from public descriptions, not the carrier's documentation.
    inferred: bool
    balance: tuple[re.Pattern[str], ...] = ()
    data: tuple[re.Pattern[str], ...] = ()
    unlimited: tuple[re.Pattern[str], ...] = ()
    expires: tuple[re.Pattern[str], ...] = ()
    # What to dial for the answer, only where it is widely published (for the README).
    codes: tuple[str, ...] = ()


class PatternError(ValueError):
    """A user's pattern cannot be used; the message says why."""


# Only the start of a message is read: SMS answers are short, and the bound keeps the work
# of every search small whatever arrives.
_SCAN_LIMIT: Final = 2000
# A user's pattern this long is a mistake, not a balance message's shape.
_PATTERN_LIMIT: Final = 1000
# Matches of a user's pattern looked at (one that matches the empty string matches often).
_MATCH_LIMIT: Final = 50
# A year-less date reported up to this long ago is the plan that just ended, not next year's.
_LOOKBACK: Final = timedelta(days=7)
# A carrier's expiry is a day; the plan runs to its end.
_END_OF_DAY: Final = time(23, 59, 59)

_CUSTOM: Final = "custom"
_GENERIC: Final = "generic"
_USER_GROUPS: Final = frozenset({"balance", "data", "expires"})

# ASCII: digits and spaces are what carriers send (NFKC folds the rest first).
_FLAGS: Final = re.IGNORECASE | re.ASCII

# --- Building blocks. Repetitions are bounded or end at a literal, and the few repeated
# groups repeat a handful of times at most, so no search backtracks catastrophically.

# 12, 12.50, 1,024.5; never a piece of a longer number (the guards on both sides).
_NUM: Final = r"(?<![\d.,])(?:\d{1,3}(?:,\d{3}){1,3}|\d{1,9})(?:\.\d{1,6})?(?!\d|[.,]\d)"
_UNIT: Final = r"(?:[gmk]i?b|gigabytes?|megabytes?|kilobytes?)(?![a-z])"
_AMOUNT: Final = _NUM + r"\s{0,3}" + _UNIT
# Currencies a US carrier's message may name; "$" alone is the caller's currency.
_CODES: Final = r"(?:usd|cad|mxn|eur|gbp)"


def _fill(template: str, **fragments: str) -> str:
    """Return ``template`` with each ``{name}`` replaced (regex braces are left alone)."""
    for name, fragment in fragments.items():
        template = template.replace("{" + name + "}", fragment)
    return template


# "$12.50", "US$5", "USD 12.50", "12.50 USD".
_MONEY: Final = _fill(
    r"(?:(?:(?<![a-z])us)?\$\s?{num}|(?<![a-z]){codes}\s?{num}|{num}\s?{codes}(?![a-z]))",
    num=_NUM,
    codes=_CODES,
)
_MONTHS: Final = (
    r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?"
    r"|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)"
)
# A time needs minutes or am/pm, so a bare number after a date (a data amount) is not one.
_TIME: Final = (
    r"(?=\d{1,2}(?::\d{2}|\s?[ap]\.?m\b))(?P<hour>\d{1,2})(?::(?P<minute>\d{2})"
    r"(?::(?P<second>\d{2}))?)?(?:\s?(?P<half>[ap])\.?m\b\.?)?"
)
# 2026-12-31, 12/31/2026, 12/31/26, 12/31, 31 Dec 2026, Dec 31, 2026, December 31; then
# maybe a time: "12/31/2026 11:59 PM", "2026-12-31T23:59". Never inside an amount ("$12.15"),
# and "12.15" needs a year to be a date.
_DATE: Final = _fill(
    r"(?<![\d/$])(?:"
    r"(?P<iso_y>\d{4})[-/.](?P<iso_m>\d{1,2})[-/.](?P<iso_d>\d{1,2})"
    r"|(?!\d{1,2}\.\d{1,2}(?!\d|\.\d))(?P<num_a>\d{1,2})[/.-](?P<num_b>\d{1,2})(?:[/.-](?P<num_y>\d{4}|\d{2}))?"
    r"|(?P<dm_d>\d{1,2})(?:st|nd|rd|th)?(?:\s+|-)(?:of\s+)?(?P<dm_m>{months})\.?"
    r"(?:(?:,?\s+|-)(?P<dm_y>\d{4}))?(?![a-z])"
    r"|(?<![a-z])(?P<md_m>{months})\.?\s+(?P<md_d>\d{1,2})(?:st|nd|rd|th)?"
    r"(?:,?\s+(?P<md_y>\d{4}))?(?![a-z])"
    r")(?!\d|[/.-]\d)(?:(?:\s?,?\s?(?:at\s|@\s?)?|t){time})?",
    months=_MONTHS,
    time=_TIME,
)
_MONTH_NUMBERS: Final = {
    name: number
    for number, name in enumerate(
        ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"),
        start=1,
    )
}
# Words that may stand between a data amount and "data" ("2GB of 4G LTE data left").
_QUALIFIERS: Final = (
    r"(?:(?:high[- ]?speed|full[- ]?speed|4g|5g|lte|mobile|hotspot|cellular|premium)\s+){0,3}"
)
# Not followed by "used" ("Data: 1GB used" is no remaining amount).
_NOT_USED: Final = _fill(
    r"(?!\s{0,3}(?:of\s+(?:your\s+)?{amount}\s{0,3})?(?:data\s+)?(?:used|consumed)\b)",
    amount=_AMOUNT,
)


def _without_names(pattern: str) -> str:
    """Return ``pattern`` with its named groups made anonymous, to embed it in another."""
    return re.sub(r"\(\?P<\w+>", "(?:", pattern)


# Tokens of a rule's template: the field's named group, and the pieces between words.
_TOKENS: Final = {
    "money": "(?P<balance>" + _MONEY + ")",
    "data": "(?P<data>" + _AMOUNT + ")",
    "date": "(?P<expires>" + _without_names(_DATE) + ")",
    "amount": _AMOUNT,
    "qual": _QUALIFIERS,
    "not_used": _NOT_USED,
    # A short stretch of words (no digit) between a keyword and its value.
    "to_money": r"[^\d\n$]{0,20}?",
    "to_data": r"[^\d\n$.;]{0,25}?",
    # Dates may come after an amount: "renews for $15.00 on 12/31".
    "to_date": _fill(r"[^\d\n]{0,25}?(?:{money}[^\d\n]{0,25}?)?", money=_MONEY),
    # "is", ":" or "-" between a label and its value, or nothing.
    "is": r"\s*(?:is\s+|[:=-]\s*)?",
}


def _rx(*templates: str) -> tuple[re.Pattern[str], ...]:
    """Compile a rule's templates (see ``_TOKENS``)."""
    return tuple(re.compile(_fill(template, **_TOKENS), _FLAGS) for template in templates)


_DATE_READER: Final = re.compile(_DATE, _FLAGS)
_AMOUNT_READER: Final = re.compile(
    _fill(r"(?P<num>{num})\s{0,3}(?P<unit>{unit})?", num=_NUM, unit=_UNIT), _FLAGS
)
_NUM_READER: Final = re.compile(_NUM, _FLAGS)
_UNIT_READER: Final = re.compile(_UNIT, _FLAGS)
_CODE_READER: Final = re.compile(
    _fill(r"(?<![a-z])(?:(?P<us>us)\$|(?P<code>{codes})(?![a-z]))", codes=_CODES), _FLAGS
)
_UNLIMITED_WORD: Final = re.compile(r"\bunlimited\b", _FLAGS)
_BYTES_PER_UNIT: Final = {"g": GIB, "m": 1024**2, "k": 1024}

# --- The generic rule: wording common to every carrier. Each field's patterns are tried in
# order, so "remaining" wording comes before looser labels.

_GENERIC_BALANCE: Final = _rx(
    # "Balance: $5", "Acct Bal $0.00", "Your account balance is USD 12.50", "credit: $3"
    r"\b(?:bal(?:ance)?|credit)\b{to_money}{money}",
    # "$5.00 balance", "$3.20 remaining"
    r"{money}\s+(?:(?:account|airtime|wallet)\s+)?(?:balance|credit|remaining|left|available)\b",
)
_GENERIC_DATA: Final = _rx(
    # "2.35GB of high-speed data remaining", "1.5 GB of 5 GB left", "500MB data available"
    r"{data}(?:\s+(?:of|out\s+of)\s+(?:your\s+|the\s+)?{amount})?\s+(?:of\s+)?{qual}"
    r"(?:data\s+)?(?:is\s+|are\s+)?(?:remaining|left|available)\b",
    # "Remaining data: 2GB", "Data left: 300 MB", "Data balance 1.5GB"
    r"\b(?:remaining|left|available|data\s+bal(?:ance)?)\b{to_data}{data}{not_used}",
)
_GENERIC_UNLIMITED: Final = _rx(
    # "Unlimited data", "unlimited high-speed data", "Unlimited talk, text & data"
    r"\bunlimited\s+(?:(?:talk|text|texting|calls?|minutes|messaging|and|&|,|/|\+)\s*){0,6}"
    r"{qual}(?:data|internet)\b",
    # "Data: Unlimited", "Data balance is unlimited"
    r"\b(?:data|internet)\b\s*(?:bal(?:ance)?|remaining|left|plan|allowance)?{is}unlimited\b",
)
_GENERIC_EXPIRES: Final = _rx(
    # "expires on 12/31/2026", "Exp: 12/31/26", "renews on Dec 31", "due 01/05", "valid until
    # 2026-12-31", "Service end date: ...", "next billing date ...", "active until ..."
    r"\b(?:expir(?:es|ed|y|ation)(?:\s+date)?|exp\.?|renew(?:s|al|ed)?(?:\s+date)?"
    r"|due(?:\s+date)?|(?:valid|good|active)\s+(?:until|till|til|thru|through|to)"
    r"|ends?(?:\s+date)?|until|(?:next\s+)?bill(?:ing)?\s+date)(?![a-z]){to_date}{date}",
)

# --- Carrier rules. Their wording is inferred from public descriptions of the carriers'
# answers (none publishes the exact text): each covers the variants we expect, and the
# generic rule reads whatever deviates. A carrier's field without patterns is left to it.

# Short labels several carriers use: "Bal $5.00", "Exp 12/31/26", "Data 1.5GB", "Data Bal: 2GB".
_LABEL_BALANCE: Final = r"\b(?:(?:acct\.?|account|your)\s+)?bal(?:ance)?\b{is}{money}"
_LABEL_DATA: Final = r"\bdata(?:\s+bal(?:ance)?)?\b{is}{data}{not_used}"
_LABEL_EXPIRES: Final = r"\bexp(?:ires|iry|iration)?\.?(?:\s+date)?{is}(?:on\s+)?{date}"
# "Your plan expires on ...", "plan renews 01/15/27", "Your plan ends ..."
_PLAN_ENDS: Final = r"\bplan\s+(?:expires|renews|ends)\s+(?:on\s+)?{date}"

_RULES: Final = (
    CarrierRule(
        key="mint_mobile",
        name="Mint Mobile",
        inferred=True,
        # "You have 2.35GB of high-speed data remaining", "High-speed data left: 850MB"
        data=_rx(
            r"\byou\s+have\s+{data}\s+of\s+{qual}(?:data\s+)?(?:remaining|left)\b",
            r"\b{qual}data\s+(?:remaining|left)\b{is}{data}",
        ),
        expires=_rx(_PLAN_ENDS),
    ),
    CarrierRule(
        key="tello",
        name="Tello",
        inferred=True,
        # "Balance: $3.20. Data: 1.2 GB left. Plan valid until 2026-12-31"
        balance=_rx(r"\b(?:your\s+)?balance\b{is}{money}"),
        data=_rx(r"\bdata\b{is}{data}{not_used}"),
        expires=_rx(r"\b(?:plan\s+)?(?:valid\s+(?:until|till)|expires\s+(?:on\s+)?)\s*{date}"),
    ),
    CarrierRule(
        key="us_mobile",
        name="US Mobile",
        inferred=True,
        # "Data left: 750 MB. Next billing date: 12/31/2026. Wallet balance: $4.00"
        balance=_rx(r"\bwallet\s+balance\b{is}{money}"),
        data=_rx(
            r"\byou\s+have\s+{data}\s+of\s+{qual}(?:data\s+)?(?:remaining|left)\b",
            r"\bdata\s+(?:remaining|left)\b{is}{data}",
        ),
        expires=_rx(
            r"\b(?:next\s+)?(?:billing|renewal|due)\s+date\b{is}{date}",
            _PLAN_ENDS,
        ),
    ),
    CarrierRule(
        key="ultra_mobile",
        name="Ultra Mobile",
        inferred=True,
        # "Ultra: Bal $5.00, Exp 12/31/26, Data 1.5GB"
        balance=_rx(_LABEL_BALANCE),
        data=_rx(_LABEL_DATA),
        expires=_rx(_LABEL_EXPIRES),
    ),
    CarrierRule(
        key="red_pocket",
        name="Red Pocket Mobile",
        inferred=True,
        # "Acct Bal: $2.50 Exp Date: 12/31/26 Data Bal: 3.5GB", "Plan expiration date: ..."
        balance=_rx(_LABEL_BALANCE),
        data=_rx(r"\bdata\s+(?:bal(?:ance)?|remaining|left)\b{is}{data}"),
        expires=_rx(r"\b(?:plan\s+)?exp(?:iration|iry)?\.?\s+date\b{is}{date}", _LABEL_EXPIRES),
    ),
    CarrierRule(
        key="h2o_wireless",
        name="H2O Wireless",
        inferred=True,
        # "H2O: Your balance is $10.00 exp 12/31/2026. Data: 500MB"
        balance=_rx(_LABEL_BALANCE),
        data=_rx(_LABEL_DATA),
        expires=_rx(_LABEL_EXPIRES),
    ),
    CarrierRule(
        key="lyca_mobile",
        name="Lyca Mobile",
        inferred=True,
        # "Your Lyca Mobile balance is $2.50, plan expires 31-12-2026", "Main balance $0.50"
        balance=_rx(r"\b(?:(?:main|account|lyca\s+mobile)\s+)?balance\b{is}{money}"),
        data=_rx(
            r"\bdata\s+(?:bal(?:ance)?|remaining|left)\b{is}{data}",
            r"{data}\s+(?:of\s+)?{qual}(?:national\s+)?data\b{not_used}",
        ),
        expires=_rx(r"\b(?:plan\s+)?(?:expires|valid\s+(?:till|until|to))\s*(?:on\s+)?{date}"),
    ),
    CarrierRule(
        key="tracfone",
        name="Tracfone / Straight Talk / Total Wireless / Walmart Family Mobile",
        inferred=True,
        # "Data: 512.00 MB. Service End Date: 12/31/2026", "Your service end date is ..."
        data=_rx(r"\bdata(?:\s+balance)?\b{is}{data}{not_used}"),
        expires=_rx(
            r"\bservice\s+end\s+date\b{is}{date}",
            r"\bservice\s+(?:ends|expires)\s+(?:on\s+)?{date}",
            r"\bdue\s+date\b{is}{date}",
        ),
    ),
    CarrierRule(
        key="tmobile_prepaid",
        name="T-Mobile Prepaid",
        inferred=True,
        # "#225#": "Your account balance is $12.50. Your plan expires on 12/31/26."
        balance=_rx(r"\baccount\s+balance\s+is\s+{money}", r"\bbal(?:ance)?\s*:\s*{money}"),
        expires=_rx(_PLAN_ENDS),
        codes=("#225#", "#932#"),
    ),
    CarrierRule(
        key="att_prepaid",
        name="AT&T Prepaid",
        inferred=True,
        # "*777#": "Bal: $25.00, exp: 12/31/26", "Your plan renews on 01/15/2027"
        balance=_rx(r"\bbal\b{is}{money}", r"\baccount\s+balance\s+is\s+{money}"),
        expires=_rx(r"\bexp\b{is}{date}", _PLAN_ENDS),
        codes=("*777#",),
    ),
    CarrierRule(
        key="cricket",
        name="Cricket Wireless",
        inferred=True,
        # "Your next payment of $55.00 is due 12/31/2026", "Amount Due $35.00 by 01/05/27"
        balance=_rx(r"\b(?:acct\.?|account)\s+bal(?:ance)?\b{is}{money}"),
        expires=_rx(
            r"\b(?:payment|amount)\b[^\n]{0,40}?\bdue\s+(?:on\s+|by\s+)?{date}",
            r"\bdue\b[^\n]{0,30}?\b(?:on|by)\s+{date}",
            _PLAN_ENDS,
        ),
    ),
    CarrierRule(
        key="boost_mobile",
        name="Boost Mobile",
        inferred=True,
        # "Your account balance is $5.00. Your plan renews on 12/31/2026.", "Bal $0.00."
        balance=_rx(r"\baccount\s+balance\b{is}{money}", r"\bbal\b{is}{money}"),
        data=_rx(r"\bdata\s+left\b{is}{data}"),
        expires=_rx(_PLAN_ENDS, r"\bdue\s+date\b{is}{date}"),
    ),
    CarrierRule(
        key=_GENERIC,
        name="Other carrier (generic)",
        inferred=True,
        balance=_GENERIC_BALANCE,
        data=_GENERIC_DATA,
        unlimited=_GENERIC_UNLIMITED,
        expires=_GENERIC_EXPIRES,
    ),
)

CARRIER_RULES: Final[Mapping[str, CarrierRule]] = MappingProxyType(
    {rule.key: rule for rule in _RULES}
)
"""Every rule by key, in display order; "generic" (any carrier) last."""


def compile_user_pattern(pattern: str) -> re.Pattern[str]:
    """Validate a user's regular expression and return it compiled (case-insensitive).

    It must compile and have at least one of the named groups ``balance``, ``data`` and
    ``expires``. An extra group ``data_unit`` ("GB", "MB", "KB") gives the unit of ``data``;
    without it the unit written in the data group ("2.5GB") is used, else GB. Raises
    ``PatternError`` saying what is wrong.
    """
    if len(pattern) > _PATTERN_LIMIT:
        raise PatternError(f"the pattern is longer than {_PATTERN_LIMIT} characters")
    try:
        compiled = re.compile(pattern, re.IGNORECASE)
    except (re.error, OverflowError, RecursionError) as err:
        # Overflow: a repeat count too large; recursion: groups nested too deep.
        raise PatternError(f"not a valid regular expression: {err}") from err
    groups = set(compiled.groupindex)
    if not groups & _USER_GROUPS:
        raise PatternError(
            "the pattern has none of the named groups (?P<balance>...), (?P<data>...), "
            "(?P<expires>...)"
        )
    if "data_unit" in groups and "data" not in groups:
        raise PatternError("the group data_unit needs a group data")
    return compiled


@dataclass(frozen=True, slots=True)
class _Context:
    """What reading a value needs besides its text."""

    date_order: DateOrder
    # The day it is now where the line is: year-less dates are placed from it.
    today: date
    time_zone: tzinfo
    currency: str


def parse_message(
    text: str,
    *,
    carrier: str | None,
    pattern: str | None = None,
    date_order: DateOrder,
    now: datetime,
    time_zone: tzinfo,
    currency: str = "USD",
) -> MessageReading | None:
    """Read a carrier's balance message; None when it says nothing useful.

    Each value is taken from the first of these that finds it: the user's ``pattern`` (an
    empty one is none), the rule of ``carrier`` (a key of ``CARRIER_RULES``; others are
    ignored), the generic rule. Numeric dates follow ``date_order`` where both readings are
    valid; dates are local to ``time_zone`` and a year-less one is placed from ``now`` (a
    naive ``now`` is UTC). Money without a currency in the text is in ``currency``. Raises
    ``PatternError`` for an invalid ``pattern`` only; never for anything in ``text``.
    """
    scanned = unicodedata.normalize("NFKC", text[: _SCAN_LIMIT * 2])[:_SCAN_LIMIT]
    aware_now = now if now.tzinfo is not None else now.replace(tzinfo=UTC)
    context = _Context(date_order, aware_now.astimezone(time_zone).date(), time_zone, currency)
    readings: list[MessageReading | None] = []
    if pattern and pattern.strip():
        readings.append(_read_custom(compile_user_pattern(pattern), scanned, context))
    rule = CARRIER_RULES.get(carrier) if carrier else None
    if rule is not None and rule.key != _GENERIC:
        readings.append(_read_rule(rule, scanned, context))
    readings.append(_read_rule(CARRIER_RULES[_GENERIC], scanned, context))
    return _merge([reading for reading in readings if reading is not None])


def _read_rule(rule: CarrierRule, text: str, context: _Context) -> MessageReading | None:
    """Read every field ``rule`` has patterns for."""
    return _reading(
        rule.key,
        balance=_first(rule.balance, text, "balance", lambda s: _money(s, context.currency)),
        data=_first(rule.data, text, "data", _data_bytes),
        unlimited=any(pattern.search(text) for pattern in rule.unlimited),
        expires=_first(rule.expires, text, "expires", lambda s: _expiry(s, context)),
    )


def _first[T](
    patterns: Iterable[re.Pattern[str]], text: str, group: str, read: Callable[[str], T | None]
) -> T | None:
    """Return the first value of ``group`` that reads, trying the patterns in order."""
    for pattern in patterns:
        for match in pattern.finditer(text):
            value = read(match.group(group))
            if value is not None:
                return value
    return None


def _read_custom(compiled: re.Pattern[str], text: str, context: _Context) -> MessageReading | None:
    """Read the groups of a user's pattern; a later match fills what an earlier one lacked."""
    balance: Money | None = None
    data: int | None = None
    unlimited = False
    expires: datetime | None = None
    for match in islice(compiled.finditer(text), _MATCH_LIMIT):
        groups = match.groupdict()
        if balance is None and groups.get("balance"):
            balance = _money(groups["balance"], context.currency)
        if groups.get("data"):
            unlimited = unlimited or _UNLIMITED_WORD.search(groups["data"]) is not None
            if data is None:
                data = _data_bytes(groups["data"], groups.get("data_unit"))
        if expires is None and groups.get("expires"):
            expires = _expiry(groups["expires"], context)
    return _reading(_CUSTOM, balance=balance, data=data, unlimited=unlimited, expires=expires)


def _reading(
    rule: str,
    *,
    balance: Money | None,
    data: int | None,
    unlimited: bool,
    expires: datetime | None,
) -> MessageReading | None:
    """Return the values as a reading, or None when none was found."""
    if balance is None and data is None and not unlimited and expires is None:
        return None
    return MessageReading(
        balance=balance,
        data_remaining_bytes=data,
        unlimited=unlimited,
        expires_at=expires,
        rule=rule,
    )


def _merge(readings: list[MessageReading]) -> MessageReading | None:
    """Take each value from the first reading that has it; the rule of the first reading."""
    if not readings:
        return None
    return MessageReading(
        balance=next((r.balance for r in readings if r.balance is not None), None),
        data_remaining_bytes=next(
            (r.data_remaining_bytes for r in readings if r.data_remaining_bytes is not None),
            None,
        ),
        unlimited=any(r.unlimited for r in readings),
        expires_at=next((r.expires_at for r in readings if r.expires_at is not None), None),
        rule=readings[0].rule,
    )


def _money(text: str, currency: str) -> Money | None:
    """Read an amount of money; the currency named in ``text`` wins over ``currency``."""
    number = _NUM_READER.search(text)
    if number is None:
        return None
    code = _CODE_READER.search(text)
    if code is not None:
        currency = "USD" if code.group("us") else code.group("code").upper()
    return Money(Decimal(number.group().replace(",", "")), currency)


def _data_bytes(text: str, unit: str | None = None) -> int | None:
    """Read a data amount in bytes (rounded); ``unit`` wins over the one in ``text``, GB last."""
    match = _AMOUNT_READER.search(text)
    if match is None:
        return None
    unit_text = (unit or match.group("unit") or "GB").strip()
    if not _UNIT_READER.fullmatch(unit_text):
        return None
    size = Decimal(match.group("num").replace(",", "")) * _BYTES_PER_UNIT[unit_text[0].lower()]
    return int(size.to_integral_value())


def _expiry(text: str, context: _Context) -> datetime | None:
    """Read a date (and maybe a time) as the UTC moment the plan ends; None if invalid."""
    match = _DATE_READER.search(text)
    if match is None:
        return None
    try:
        year, month, day = _date_parts(match, context.date_order)
        local = datetime.combine(
            _calendar_day(year, month, day, context.today), _clock(match), context.time_zone
        )
        moment = local.astimezone(UTC)
    except ValueError, OverflowError:
        # 02/30, 13/13, a 25:00 clock; overflow: a year at the end of the calendar.
        return None
    return moment


def _date_parts(match: re.Match[str], order: DateOrder) -> tuple[int | None, int, int]:
    """Return the year (None when not written), the month and the day of a date match."""
    if match.group("iso_y"):
        return int(match.group("iso_y")), int(match.group("iso_m")), int(match.group("iso_d"))
    if match.group("num_a"):
        first, second = int(match.group("num_a")), int(match.group("num_b"))
        # A number above 12 can only be the day; otherwise the configured order decides.
        if first > 12 or (second <= 12 and order is DateOrder.DAY_FIRST):
            first, second = second, first
        return _full_year(match.group("num_y")), first, second
    if match.group("dm_m"):
        month, day, year = match.group("dm_m"), match.group("dm_d"), match.group("dm_y")
    else:
        month, day, year = match.group("md_m"), match.group("md_d"), match.group("md_y")
    return _full_year(year), _MONTH_NUMBERS[month[:3].lower()], int(day)


def _full_year(text: str | None) -> int | None:
    """Return a written year as a full one ("26" is 2026); None when there is none."""
    if text is None:
        return None
    year = int(text)
    return year + 2000 if len(text) == 2 else year


def _calendar_day(year: int | None, month: int, day: int, today: date) -> date:
    """Return the day; a year-less one is its first occurrence from a week before today."""
    if year is not None:
        return date(year, month, day)
    earliest = today - _LOOKBACK
    # Five years ahead reaches the next February 29 too.
    for candidate_year in range(today.year - 1, today.year + 5):
        with suppress(ValueError):
            candidate = date(candidate_year, month, day)
            if candidate >= earliest:
                return candidate
    raise ValueError("no such day")


def _clock(match: re.Match[str]) -> time:
    """Return the time written after a date, local; the end of the day when none is."""
    if match.group("hour") is None:
        return _END_OF_DAY
    hour = int(match.group("hour"))
    minute = int(match.group("minute") or 0)
    second = int(match.group("second") or 0)
    half = match.group("half")
    if half is not None:
        if not 1 <= hour <= 12:
            raise ValueError("not a 12-hour clock time")
        hour = hour % 12 + (12 if half.lower() == "p" else 0)
    return time(hour, minute, second)
