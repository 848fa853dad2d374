"""The provider boundary: one protocol, normalized models and typed errors.

Everything a provider module returns is normalized here: data in bytes (int), money as
``Decimal`` plus an ISO 4217 currency, times as aware UTC datetimes. Quirks of an API stay
inside its own module. Nothing below ``providers/`` imports Home Assistant.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from enum import StrEnum
import hashlib
from operator import attrgetter
import re
from typing import Any, Final
from urllib.parse import urlsplit


class LineStatus(StrEnum):
    """The state of a line, the same words for every provider."""

    ACTIVE = "active"
    NOT_ACTIVE = "not_active"
    DEPLETED = "depleted"
    EXPIRED = "expired"
    SUSPENDED = "suspended"
    UNKNOWN = "unknown"


class OrderStatus(StrEnum):
    """Where an order stands at the provider."""

    COMPLETED = "completed"
    PROCESSING = "processing"
    FAILED = "failed"


# ISO 4217 currencies whose minor unit is not the cent (every other one has 2 decimals).
_ZERO_DECIMALS = ("BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF")
_ZERO_DECIMALS_MORE = ("UGX", "UYI", "VND", "VUV", "XAF", "XOF", "XPF")
_THREE_DECIMALS = ("BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND")
_MINOR_UNITS: Final[dict[str, int]] = {
    **dict.fromkeys((*_ZERO_DECIMALS, *_ZERO_DECIMALS_MORE), 0),
    **dict.fromkeys(_THREE_DECIMALS, 3),
}


def minor_units(currency: str) -> int:
    """Return how many decimals an amount in ``currency`` is written with."""
    return _MINOR_UNITS.get(currency, 2)


@dataclass(frozen=True, slots=True)
class Money:
    """An amount in one currency (ISO 4217 code, upper case)."""

    amount: Decimal
    currency: str

    def __str__(self) -> str:
        """Return a compact human form with the currency's decimals: ``10.00 USD``, ``500 JPY``."""
        return f"{self.amount:.{minor_units(self.currency)}f} {self.currency}"


@dataclass(frozen=True, slots=True, kw_only=True)
class Package:
    """A package a line can be renewed or topped up with."""

    package_id: str
    name: str
    price: Money
    # None means unlimited (or a daily allowance that resets; see ``daily_bytes``).
    data_bytes: int | None
    validity: timedelta
    daily_bytes: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class LineSummary:
    """A line as the account lists it: enough to pick it in a flow."""

    line_id: str
    name: str
    plan_name: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class QueuedTopup:
    """A package bought for a line that starts only when the current one ends.

    eSIM Go queues a bundle behind the active one; any provider may do the same. A queued
    top-up is a renewal that has arrived, even though the expiry and allowance shown are
    still the current plan's.
    """

    package_id: str | None = None
    name: str | None = None
    data_bytes: int | None = None
    validity: timedelta | None = None
    added_at: datetime | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Line:
    """The current state of one tracked line."""

    line_id: str
    name: str
    status: LineStatus
    plan_name: str | None = None
    # The package the line runs on now, used as the default for a renewal.
    package_id: str | None = None
    # That package's allowance and validity, where known: a renewal defaults to the package
    # on offer that matches them when the offer's ids differ from the line's (top-ups).
    plan_data_bytes: int | None = None
    plan_validity: timedelta | None = None
    unlimited: bool = False
    data_total_bytes: int | None = None
    data_used_bytes: int | None = None
    data_remaining_bytes: int | None = None
    expires_at: datetime | None = None
    # The line's own credit, where the carrier keeps one per line.
    balance: Money | None = None
    iccid: str | None = None
    phone_number: str | None = None
    # When the provider last measured usage (usage often lags).
    usage_updated_at: datetime | None = None
    # A daily plan's allowance, which resets every day (the line is then ``unlimited``
    # over the plan: no fixed total to run out of).
    daily_data_bytes: int | None = None
    # Packages bought that start when the current one ends.
    queued: tuple[QueuedTopup, ...] = ()
    # Evidence of purchases, where the provider shows it: how many packages or top-ups the
    # line has had, and when the last one was added. A renewal whose answer was lost is
    # never ruled "not placed" while these moved.
    topup_count: int | None = None
    last_topup_at: datetime | None = None
    # Carrier rules of lines kept by hand: the number is lost unless recharged by this time,
    # and the carrier accepts a renewal only from this time (a window before expiry).
    keep_alive_by: datetime | None = None
    renewal_opens_at: datetime | None = None

    def differs_only_in_usage(self, other: Line) -> bool:
        """Return True when ``other`` reads the same apart from the usage figures.

        The commonest change between two reads: data flowed, nothing else happened.
        """
        return _all_but_usage(self) == _all_but_usage(other)


# The usage figures of a Line, which move with every read of a line in use.
LINE_USAGE_FIELDS: frozenset[str] = frozenset(
    {"data_used_bytes", "data_remaining_bytes", "usage_updated_at"}
)
_all_but_usage = attrgetter(
    *(item.name for item in fields(Line) if item.name not in LINE_USAGE_FIELDS)
)


def with_new_usage(line: Line, *, status: LineStatus, used: int, remaining: int | None) -> Line:
    """Return ``line`` with new usage figures and status, everything else kept.

    The refresh of a large account makes one such copy per line whose usage moved, so the
    copy sets each slot directly, one field per statement: a loop over the fields costs
    twice as much, ``dataclasses.replace`` (keyword arguments, ``__init__``) three times.
    Equal to ``replace(line, status=..., data_used_bytes=..., data_remaining_bytes=...)``;
    a test fails when a field of Line is missing here.
    """
    copy = object.__new__(Line)
    set_field = object.__setattr__
    set_field(copy, "line_id", line.line_id)
    set_field(copy, "name", line.name)
    set_field(copy, "status", status)
    set_field(copy, "plan_name", line.plan_name)
    set_field(copy, "package_id", line.package_id)
    set_field(copy, "plan_data_bytes", line.plan_data_bytes)
    set_field(copy, "plan_validity", line.plan_validity)
    set_field(copy, "unlimited", line.unlimited)
    set_field(copy, "data_total_bytes", line.data_total_bytes)
    set_field(copy, "data_used_bytes", used)
    set_field(copy, "data_remaining_bytes", remaining)
    set_field(copy, "expires_at", line.expires_at)
    set_field(copy, "balance", line.balance)
    set_field(copy, "iccid", line.iccid)
    set_field(copy, "phone_number", line.phone_number)
    set_field(copy, "usage_updated_at", line.usage_updated_at)
    set_field(copy, "daily_data_bytes", line.daily_data_bytes)
    set_field(copy, "queued", line.queued)
    set_field(copy, "topup_count", line.topup_count)
    set_field(copy, "last_topup_at", line.last_topup_at)
    set_field(copy, "keep_alive_by", line.keep_alive_by)
    set_field(copy, "renewal_opens_at", line.renewal_opens_at)
    return copy


@dataclass(frozen=True, slots=True, kw_only=True)
class Account:
    """The account behind a set of credentials."""

    account_id: str
    # The account's own name at the provider; None when its API names no account, and the
    # entry is then titled by the provider and its first line.
    name: str | None = None
    wallet: Money | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Snapshot:
    """One refresh of an account: its wallet and every tracked line it returned."""

    wallet: Money | None
    lines: Mapping[str, Line]
    # Tracked lines the provider no longer returns (removed, recycled).
    missing_line_ids: frozenset[str] = frozenset()
    # Tracked lines the provider returned but that could not be understood.
    unreadable_line_ids: frozenset[str] = frozenset()
    # Why, per unreadable line where the client can say (free of identifiers): for the one
    # log entry the integration writes when a line turns unreadable. Not compared: only
    # whether a line reads decides what entities show.
    unreadable_reasons: Mapping[str, str] = field(default_factory=dict, compare=False)
    # Lines the client made from its earlier reading by new usage figures alone: line id ->
    # that earlier reading. A hint that spares the coordinator comparing them (it checks
    # the earlier reading is the one it holds); not compared.
    usage_moved_from: Mapping[str, Line] = field(default_factory=dict, compare=False)
    # Not compared: an unchanged account must compare equal so no state is rewritten.
    fetched_at: datetime = field(default_factory=lambda: datetime.now(UTC), compare=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class Order:
    """A renewal order as the provider reports it."""

    order_id: str
    line_id: str
    package_id: str
    reference: str
    status: OrderStatus
    price: Money | None = None
    created_at: datetime | None = None
    new_expires_at: datetime | None = None
    new_data_total_bytes: int | None = None


# A run of ten or more digits (optionally after "+", optionally ending in "F"): a phone
# number (10-15), an ICCID (19-22, some printed with a trailing F) or an EID (32). Shorter
# numbers (error codes, amounts, years) are left alone; longer ones are hidden anyway.
_IDENTIFIER: Final = re.compile(r"(?<!\d)\+?\d{10,}[Ff]?(?!\d)")
# How much of an identifier is kept: enough to tell lines apart, as their names do.
_KEPT_CHARS: Final = 4


def redact_identifiers(text: str) -> str:
    """Replace every ICCID, EID and phone number in ``text`` with its last 4 characters.

    ``"SIM 8944500102198304826 refused"`` becomes ``"SIM …4826 refused"``.
    """
    return _IDENTIFIER.sub(lambda match: "…" + match.group()[-_KEPT_CHARS:], text)


class ProviderError(Exception):
    """Base of every error a provider raises; its message never carries an identifier.

    Messages reach logs, repair issues and the UI: ICCIDs, EIDs and phone numbers in them
    are cut to their last 4 characters (see ``redact_identifiers``).
    """

    def __init__(self, *args: object) -> None:
        """Redact every text argument (the message) before keeping it."""
        super().__init__(
            *(redact_identifiers(arg) if isinstance(arg, str) else arg for arg in args)
        )


class AuthenticationError(ProviderError):
    """The credentials were refused."""


class ProviderUnavailableError(ProviderError):
    """The provider could not be reached or answered with something unusable."""


# The longest wait a provider's Retry-After (or reset header) may impose, in seconds. A
# larger one is a provider's bug or a hostile answer; an hour later we simply ask again.
MAX_RETRY_AFTER: Final = 3600.0


class RateLimitedError(ProviderUnavailableError):
    """The provider asked us to slow down."""

    def __init__(self, message: str = "rate limited", retry_after: float | None = None) -> None:
        """Keep how long to wait, in seconds (at most ``MAX_RETRY_AFTER``)."""
        super().__init__(message)
        self.retry_after = None if retry_after is None else min(retry_after, MAX_RETRY_AFTER)


class RedirectedError(ProviderError):
    """The address answered with a redirect, which is never followed.

    A followed redirect would carry the credentials (headers, a signed body) to wherever
    it points. Not a ``ProviderUnavailableError``: the request did arrive somewhere.
    """

    def __init__(self, status: int, location: str | None) -> None:
        """Keep the status and where it pointed; the message names only the host."""
        host = urlsplit(location).netloc if location else ""
        where = f" to {host}" if host else ""
        super().__init__(f"the API address redirects (HTTP {status}){where}; not followed")
        self.status = status
        self.location = location


class NotProviderApiError(ProviderError):
    """The address answered, but it is not the provider's API (a wrong path: HTTP 404).

    Raised for a 404 where the API documents none (its token endpoint, an account-wide
    read): the server is there, the base URL is wrong. Not a connection problem.
    """

    def __init__(self, detail: str = "") -> None:
        """Say so, with what answered (``detail``) when known."""
        message = "this address is not the provider's API"
        super().__init__(f"{message} ({detail})" if detail else message)


class ResponseTooLargeError(ProviderUnavailableError):
    """The answer was larger than any the provider's API sends; it was not read."""


class LineNotFoundError(ProviderError):
    """The line does not exist (any more) on this account."""

    def __init__(self, line_id: str) -> None:
        """Keep the missing line's id."""
        super().__init__(f"line {line_id} not found")
        self.line_id = line_id


class OrderRejectedError(ProviderError):
    """The provider refused the order; nothing was charged."""

    def __init__(self, code: str, message: str, *, insufficient_funds: bool = False) -> None:
        """Keep the provider's own code and message."""
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = redact_identifiers(message)
        self.insufficient_funds = insufficient_funds


class OrderOutcomeUnknownError(ProviderError):
    """The order was (or may have been) sent but its answer was lost.

    This is a state, not an error to retry: the caller must look the order up by its
    reference before anything is sent again.
    """

    def __init__(self, reference: str, message: str = "order outcome unknown") -> None:
        """Keep our reference of the order so it can be found again."""
        super().__init__(message)
        self.reference = reference


def line_ref(line_id: str) -> str:
    """Return a short, stable reference to a line that reveals no identifier.

    Several providers key lines by ICCID: logs, diagnostics and messages use this instead
    of the line id, so no ICCID, EID or phone number leaves the integration.
    """
    return "line-" + hashlib.sha256(line_id.encode()).hexdigest()[:10]


def pick_refresh_error(errors: Sequence[BaseException]) -> BaseException:
    """Return the error that should fail a refresh of several requests.

    A refused key first (it needs the user), then a rate limit (it says when to come back),
    then any provider error; anything else (a bug) as it is.
    """
    for kind in (AuthenticationError, RateLimitedError, ProviderError):
        for error in errors:
            if isinstance(error, kind):
                return error
    return errors[0]


def pick_group_error(errors: BaseExceptionGroup[Exception]) -> BaseException:
    """Return the error that should fail a refresh whose requests ran in a TaskGroup.

    The group's errors may nest; they are flattened and judged by ``pick_refresh_error``.
    A group with no provider error (a bug) is passed on whole, so no failure hides
    behind another.
    """
    flat: list[BaseException] = []
    pending: list[BaseException] = [errors]
    while pending:
        error = pending.pop()
        if isinstance(error, BaseExceptionGroup):
            pending.extend(error.exceptions)
        else:
            flat.append(error)
    if not any(isinstance(error, ProviderError) for error in flat):
        return errors
    return pick_refresh_error(flat)


class Provider(ABC):
    """What the integration needs from a provider.

    Contract for ``async_purchase``: raise ``OrderRejectedError`` only when the provider
    said no (nothing charged) and ``ProviderUnavailableError`` only when the request
    certainly never reached it; anything after the request may have been received must be
    ``OrderOutcomeUnknownError``.
    """

    # How long after sending an order a failed look-up may be trusted to mean "never placed".
    order_lookup_settles_after: timedelta = timedelta(minutes=5)
    # How long a completed renewal may take to show up in the line's data.
    renewal_visible_within: timedelta = timedelta(minutes=15)
    # Whether ``async_validate_purchase`` asks the provider (a free dry run) or only checks locally.
    validates_with_provider: bool = False
    # Whether a look-up that finds no order (after ``order_lookup_settles_after``) proves
    # the order was never placed. False where the provider has no order history to search
    # (eSIM Access top-ups): such a renewal is settled from the line, or by the user.
    lookup_proves_absence: bool = True
    # Whether the provider accepts a renewal of a line whose plan has expired (eSIM Access
    # refuses top-ups "after eSIM expiry"); when False nothing offers one.
    renews_expired_lines: bool = True
    # Whether the line id is the SIM's ICCID (eSIM Go, Airalo, 1NCE): then it is shown
    # nowhere (see ``line_ref``).
    line_id_is_iccid: bool = False

    # Set by the integration: saves changed fields of a line's stored definition.
    line_saver: Callable[[str, dict[str, Any]], None] | None = None

    def save_line(self, line_id: str, changes: dict[str, Any]) -> None:
        """Have the integration save changed fields of a line's stored definition.

        Only providers that keep a line's state with the integration (the manual tracker)
        call it.
        """
        if self.line_saver is not None:
            self.line_saver(line_id, changes)

    @abstractmethod
    async def async_get_account(self) -> Account:
        """Check the credentials and return the account they open."""

    @abstractmethod
    async def async_list_lines(self) -> list[LineSummary]:
        """Return every line on the account (all pages)."""

    def recent_line_list(self) -> list[LineSummary] | None:
        """Return every line on the account from a read of all of them just made, if any.

        A client whose refresh reads the whole account anyway keeps that list for a short
        while, so a check for new lines right after needs no request of its own.
        """
        return None

    @abstractmethod
    async def async_fetch(self, line_ids: Collection[str]) -> Snapshot:
        """Read the wallet and the given lines, with as few requests as the API allows."""

    @abstractmethod
    async def async_list_packages(self, line_id: str) -> list[Package]:
        """Return the packages the line can be renewed with."""

    @abstractmethod
    async def async_purchase(self, line_id: str, package: Package, reference: str) -> Order:
        """Buy ``package`` for the line; ``reference`` is our idempotency key."""

    @abstractmethod
    async def async_find_order(
        self, line_id: str, reference: str, sent_at: datetime
    ) -> Order | None:
        """Find an order placed earlier with ``reference``; None if there is none."""

    async def async_validate_purchase(self, line_id: str, package: Package) -> None:
        """Check that a purchase would be accepted, without charging.

        Providers with a free dry run override this; the default accepts.
        """
        return
