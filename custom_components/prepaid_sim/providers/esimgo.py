"""eSIM Go (API v2.4): read eSIM bundles and top an eSIM up with a new bundle.

Request budget
    ``async_fetch`` sends ``1 + N`` requests for ``N`` tracked lines: one
    ``GET /organisation`` for the wallet, then one ``GET /esims/{iccid}/bundles`` per line,
    because the API has no bulk usage endpoint. ``async_list_lines`` sends one request per
    page of 100 eSIMs. A purchase sends two (compatibility check, then the order).

Units
    Assignment quantities are bytes (v2.3+). Catalogue ``dataAmount`` is MB, converted with
    1 MB = 1,000,000 bytes (see ``MB``).

What a line shows
    eSIM Go keeps a list of bundle *assignments* per eSIM; a top-up queues behind the active
    one. A line reports its current assignment only (the active one, else the latest queued
    or processing one, else the latest used-up one). Queued bundles are not added to the
    remaining data: they are not usable until the current one ends, and the renewal check
    looks at the current assignment's expiry and size.

Idempotency
    eSIM Go has no idempotency key. ``async_purchase`` remembers when it sent each order
    (and the ``orderReference`` it got back); ``async_find_order`` recovers a lost answer
    from ``GET /orders`` and from a new assignment on the eSIM after the send time.

Facts marked [I] are inferences from the docs, not documented; the code is tolerant there.
"""

from __future__ import annotations

import asyncio
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
import hashlib
import itertools
import math
import time
from typing import Final, override
from urllib.parse import quote

import aiohttp
import orjson

from .base import (
    Account,
    AuthenticationError,
    Line,
    LineNotFoundError,
    LineStatus,
    LineSummary,
    Money,
    NotProviderApiError,
    Order,
    OrderOutcomeUnknownError,
    OrderRejectedError,
    OrderStatus,
    Package,
    Provider,
    ProviderError,
    ProviderUnavailableError,
    QueuedTopup,
    RateLimitedError,
    Snapshot,
    pick_refresh_error,
    redact_identifiers,
)
from .http import (
    UNUSABLE_ANSWER_ERRORS,
    MalformedError as _MalformedError,
    TransportError,
    as_str as _as_str,
    describe_for,
    exchange,
    parse_retry_after,
    safe_decimal as _as_decimal,
    to_utc,
)
from .plausible import check_line, check_size, check_time, expect_json
from .ratelimit import RateLimiter
from .urls import with_api_path

ESIMGO_PROVIDER_KEY: Final = "esimgo"
# The API version this client speaks; "the API is fixed" per version, so it is pinned.
API_PATH: Final = "/v2.4"
DEFAULT_BASE_URL: Final = "https://api.esim-go.com" + API_PATH
# Every refresh costs 1 + N requests of a 10 req/s budget shared by everything on this IP,
# and eSIM Go only pushes usage at 1/50/80/100 % steps, so its figures are not live anyway
# [I]. A quarter hour keeps 100 lines cheap; renewals need hours of warning, not minutes.
UPDATE_INTERVAL: Final = timedelta(minutes=15)

# Documented limit: 10 requests per second per IP, in a fixed window.
RATE_LIMIT_PER_SECOND: Final = 10
# Our window is a little longer than theirs so network jitter can never put 11 of our
# requests into one of their fixed windows.
RATE_WINDOW_SECONDS: Final = 1.05
# A read that hits 429 is retried once when the provider asks for at most this long.
_READ_RETRY_MAX_WAIT: Final = 2.0
# Never trust a rate-limit reset header to hold us for longer than this (clock skew).
_MAX_RESET_WAIT: Final = 5.0
DEFAULT_REQUEST_TIMEOUT: Final = 30.0

ESIMS_PER_PAGE: Final = 100
CATALOGUE_PER_PAGE: Final = 100
ORDERS_PER_PAGE: Final = 50
# The docs allow up to 200 bundles per eSIM listing.
_BUNDLES_LIMIT: Final = 200
# Guards against a paging bug looping forever.
_MAX_PAGES: Final = 1000
_MAX_ORDER_PAGES: Final = 10
# Their clock and ours may differ; orders this much before our send time still count.
_CLOCK_SKEW: Final = timedelta(minutes=1)

# [I] Catalogue ``dataAmount`` is MB; decimal MB matches the docs' own example, where
# bundle ``esim_1GB_…`` has an assignment ``initialQuantity`` of 1,000,000,000 bytes.
MB: Final = 1_000_000
DEFAULT_CURRENCY: Final = "USD"

_STATES: Final[Mapping[str, LineStatus]] = {
    "active": LineStatus.ACTIVE,
    "queued": LineStatus.NOT_ACTIVE,
    "processing": LineStatus.NOT_ACTIVE,
    "depleted": LineStatus.DEPLETED,
    "expired": LineStatus.EXPIRED,
    "lapsed": LineStatus.EXPIRED,
    "revoked": LineStatus.SUSPENDED,
}
_WAITING_STATES: Final = frozenset({"queued", "processing"})
_USED_UP_STATES: Final = frozenset({"depleted", "expired", "lapsed"})
_AUTH_WORDS: Final = ("api key", "apikey", "api-key", "token", "unauthori", "authenticat")
_FUNDS_WORDS: Final = ("insufficient", "balance", "funds")
_DESCRIBE: Final = describe_for("eSIM Go")


@dataclass(frozen=True, slots=True)
class _Reply:
    """One HTTP answer: the status, the parsed JSON (``None`` when not JSON) and headers."""

    status: int
    data: object
    is_json: bool

    @property
    def ok(self) -> bool:
        """Return True for a 2xx answer."""
        return 200 <= self.status < 300

    @property
    def message(self) -> str | None:
        """Return eSIM Go's ``{"message": ...}`` error text, if any."""
        if isinstance(self.data, dict):
            message = self.data.get("message")
            if isinstance(message, str) and message.strip():
                return message.strip()
        return None


@dataclass(frozen=True, slots=True)
class _Assignment:
    """One bundle assignment on an eSIM, parsed."""

    bundle: str
    description: str | None
    state: str
    unlimited: bool
    initial: int | None
    remaining: int | None
    assigned_at: datetime | None
    end_time: datetime | None
    reference: str | None


@dataclass(frozen=True, slots=True)
class _SentOrder:
    """An order we sent: enough to recognise it in the order history later."""

    iccid: str
    bundle: str
    sent_at: datetime


# --- small tolerant parsers ------------------------------------------------------------


def _as_dict(value: object) -> dict[str, object] | None:
    """Return ``value`` as a JSON object, or None."""
    if isinstance(value, dict):
        return {str(key): item for key, item in value.items()}
    return None


def _as_list(value: object) -> list[object] | None:
    """Return ``value`` as a JSON array, or None."""
    return list(value) if isinstance(value, list) else None


def _as_int(value: object) -> int | None:
    """Return an integer from an int, an integral float or a numeric string; None if absent.

    Raises ``_MalformedError`` for a value that is present but not a number.
    """
    if value is None:
        return None
    if isinstance(value, bool):
        raise _MalformedError(f"expected a number, got {value!r}")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and math.isfinite(value):
        return round(value)
    if isinstance(value, str):
        try:
            return round(Decimal(value.strip()))
        # InvalidOperation for words, ValueError for "NaN", OverflowError for "Infinity".
        except (ArithmeticError, ValueError) as err:
            raise _MalformedError(f"expected a number, got {value!r}") from err
    raise _MalformedError(f"expected a number, got {value!r}")


def _as_bool(value: object) -> bool | None:
    """Return a JSON boolean (or "true"/"false"), or None."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in {"true", "false"}:
        return value.strip().lower() == "true"
    return None


def _parse_time(value: object) -> datetime | None:
    """Parse an RFC 3339 / ISO-8601 time into an aware UTC datetime; None if unusable."""
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    # [I] A time without an offset is taken as UTC, the zone of every documented example.
    try:
        return to_utc(parsed)
    except OverflowError:  # at the edge of the calendar, the shift to UTC leaves it
        return None


def _currency(value: object) -> str:
    """Return an ISO 4217 code, USD when absent ([I] eSIM Go accounts are billed in USD)."""
    text = _as_str(value)
    return text.upper() if text and len(text) == 3 else DEFAULT_CURRENCY


def _seconds_until_reset(value: str | None) -> float | None:
    """Parse X-Ratelimit-Reset: ISO-8601 per the docs; [I] also epoch or delta seconds."""
    if not value:
        return None
    if (when := _parse_time(value)) is not None:
        return (when - datetime.now(UTC)).total_seconds()
    try:
        number = float(value)
    except ValueError:
        return None
    # Epoch seconds are huge; small numbers can only be a delay.
    return number - time.time() if number > 1e9 else number


def _looks_like_auth(message: str | None) -> bool:
    """Return True when a 403 message is about the API key, not the resource [I: by wording]."""
    lowered = (message or "").lower()
    return any(word in lowered for word in _AUTH_WORDS)


def _looks_like_funds(message: str) -> bool:
    """Return True when a rejection is about the organisation balance."""
    lowered = message.lower()
    return any(word in lowered for word in _FUNDS_WORDS)


def _organisation(body: dict[str, object]) -> dict[str, object]:
    """Return the organisation object from the answer to ``GET /organisation``.

    [I] The response shape is not documented in detail: accept ``{"organisations": [{…}]}``,
    ``{"organisation": {…}}`` and a flat object.
    """
    for key in ("organisations", "organisation"):
        nested = body.get(key)
        if (items := _as_list(nested)) is not None:
            first = _as_dict(items[0]) if items else None
            if first is None:
                raise _MalformedError("organisation list is empty")
            return first
        if (single := _as_dict(nested)) is not None:
            return single
    return body


def _wallet(org: Mapping[str, object]) -> Money | None:
    """Return the organisation balance; [I] the ``balance`` field name is assumed."""
    balance = org.get("balance")
    currency = org.get("currency")
    if (nested := _as_dict(balance)) is not None:
        # [I] Tolerate a ``{"amount": …, "currency": …}`` object too.
        balance = nested.get("amount", nested.get("balance"))
        currency = nested.get("currency", currency)
    amount = _as_decimal(balance)
    return Money(amount, _currency(currency)) if amount is not None else None


def _parse_assignments(data: object) -> list[_Assignment]:
    """Flatten ``GET /esims/{iccid}/bundles`` into assignments; raise on a broken shape."""
    body = _as_dict(data)
    bundles = _as_list(body.get("bundles")) if body is not None else None
    if bundles is None:
        raise _MalformedError("no bundles list")
    result: list[_Assignment] = []
    for raw_bundle in bundles:
        bundle = _as_dict(raw_bundle)
        name = _as_str(bundle.get("name")) if bundle is not None else None
        assignments = _as_list(bundle.get("assignments")) if bundle is not None else None
        if bundle is None or name is None or assignments is None:
            raise _MalformedError("bundle without name or assignments")
        for raw in assignments:
            assignment = _as_dict(raw)
            state = (
                _as_str(expect_json(assignment.get("bundleState"), "bundleState", str))
                if assignment
                else None
            )
            if assignment is None or state is None:
                raise _MalformedError("assignment without bundleState")
            unlimited = _as_bool(assignment.get("unlimited"))
            if unlimited is None:
                unlimited = _as_bool(bundle.get("unlimited")) or False
            result.append(
                _Assignment(
                    bundle=name,
                    description=_as_str(bundle.get("description")),
                    state=state.lower(),
                    unlimited=unlimited,
                    initial=_quantity(assignment, "initialQuantity", unlimited=unlimited),
                    remaining=_quantity(assignment, "remainingQuantity", unlimited=unlimited),
                    assigned_at=_assignment_time(assignment, "assignmentDateTime"),
                    # [I] endTime is documented for the usage callback only; absent -> None.
                    end_time=_assignment_time(assignment, "endTime"),
                    reference=_as_str(assignment.get("assignmentReference"))
                    or _as_str(assignment.get("id")),
                )
            )
    return result


def _quantity(assignment: Mapping[str, object], field: str, *, unlimited: bool) -> int | None:
    """Read an assignment's quantity in bytes; raise for a wrong type or an impossible size.

    [I] An unlimited assignment's quantities mean nothing (some APIs send -1 there): only
    their type is checked.
    """
    value = _as_int(assignment.get(field))
    if value is None or (unlimited and value < 0):
        return value
    return check_size(value, field)


def _assignment_time(assignment: Mapping[str, object], field: str) -> datetime | None:
    """Read an assignment's time: RFC 3339 text or absent, within 2000-2100."""
    return check_time(_parse_time(expect_json(assignment.get(field), field, str)), field)


def _latest(assignments: list[_Assignment]) -> _Assignment | None:
    """Return the most recently assigned one (undated ones count as oldest)."""
    floor = datetime.min.replace(tzinfo=UTC)
    return max(assignments, key=lambda a: a.assigned_at or floor, default=None)


def _current(assignments: list[_Assignment]) -> _Assignment | None:
    """Pick the assignment that describes the line now."""
    for states in (frozenset({"active"}), _WAITING_STATES, _USED_UP_STATES):
        if chosen := _latest([a for a in assignments if a.state in states]):
            return chosen
    return _latest(assignments)


def _line_name(iccid: str, customer_ref: str | None) -> str:
    """Return the eSIM's label: its customerRef, else the ICCID's last digits."""
    return customer_ref or f"eSIM …{iccid[-4:]}"


def _line(iccid: str, name: str, assignments: list[_Assignment]) -> Line:
    """Build the normalized line from its current assignment."""
    current = _current(assignments)
    if current is None:
        # An eSIM with no bundle at all has nothing to use until one is bought.
        return Line(line_id=iccid, name=name, status=LineStatus.NOT_ACTIVE, iccid=iccid)
    total = remaining = used = None
    if not current.unlimited:
        if current.initial is None or current.remaining is None:
            raise _MalformedError("metered assignment without quantities")
        total = current.initial
        remaining = min(current.remaining, total)
        used = total - remaining
    return check_line(
        Line(
            line_id=iccid,
            name=name,
            status=_STATES.get(current.state, LineStatus.UNKNOWN),
            plan_name=current.description or current.bundle,
            package_id=current.bundle,
            unlimited=current.unlimited,
            data_total_bytes=total,
            data_used_bytes=used,
            data_remaining_bytes=remaining,
            expires_at=current.end_time,
            iccid=iccid,
            # A bundle bought while one runs waits behind it: a renewal that has arrived.
            queued=tuple(
                QueuedTopup(
                    package_id=queued.bundle,
                    name=queued.description or queued.bundle,
                    data_bytes=None if queued.unlimited else queued.initial,
                    added_at=queued.assigned_at,
                )
                for queued in assignments
                if queued.state == "queued" and queued is not current
            ),
        )
    )


def _countries(bundle: Mapping[str, object]) -> frozenset[str]:
    """Return a catalogue bundle's ISO country codes (objects with ``iso``, or strings)."""
    codes: set[str] = set()
    for item in _as_list(bundle.get("countries")) or []:
        entry = _as_dict(item)
        code = _as_str(entry.get("iso")) if entry is not None else _as_str(item)
        if code:
            codes.add(code.upper())
    return frozenset(codes)


def _package(bundle: Mapping[str, object]) -> Package | None:
    """Turn a catalogue bundle into a package; None when it lacks what a purchase needs."""
    name = _as_str(bundle.get("name"))
    price = _as_decimal(bundle.get("price"))
    if name is None or price is None:
        return None
    try:
        days = _as_int(bundle.get("duration"))
        validity = timedelta(days=days or 0)
        amount_mb = _as_decimal(bundle.get("dataAmount"))
    except _MalformedError, OverflowError:  # OverflowError: a duration beyond timedelta
        return None
    # [I] A negative or missing dataAmount only occurs on unlimited bundles.
    unlimited = bool(_as_bool(bundle.get("unlimited"))) or amount_mb is None or amount_mb < 0
    return Package(
        package_id=name,
        name=_as_str(bundle.get("description")) or name,
        price=Money(price, _currency(bundle.get("currency"))),
        data_bytes=None if unlimited or amount_mb is None else int(amount_mb * MB),
        validity=validity,
    )


def _order_status(value: object) -> OrderStatus:
    """Map eSIM Go's order status: only "Completed" is final."""
    text = _as_str(value)
    return OrderStatus.COMPLETED if text and text.lower() == "completed" else OrderStatus.PROCESSING


def _order_price(body: Mapping[str, object]) -> Money | None:
    """Return an order's total, if it has one."""
    total = _as_decimal(body.get("total"))
    return Money(total, _currency(body.get("currency"))) if total is not None else None


def _order_iccids(entry: Mapping[str, object], item: Mapping[str, object]) -> set[str] | None:
    """Return the ICCIDs an order line went to; None when the listing does not say [I]."""
    found: set[str] = set()
    seen_any = False
    for source in (item.get("iccids"), entry.get("iccids"), item.get("esims")):
        values = _as_list(source)
        if values is None:
            continue
        seen_any = True
        for value in values:
            nested = _as_dict(value)
            iccid = _as_str(nested.get("iccid")) if nested is not None else _as_str(value)
            if iccid:
                found.add(iccid)
    return found if seen_any else None


def normalize_base_url(url: str) -> str:
    """Check ``url``; a bare host gets the pinned version path (``/v2.4``).

    Raises ``BaseUrlError`` for a URL no client may use.
    """
    return with_api_path(url, API_PATH)


class EsimGoProvider(Provider):
    """A client of the eSIM Go API; a line is an eSIM, keyed by its ICCID."""

    # Assignment is "usually instant but please allow for up to 10 minutes"; the order
    # history is complete well before that, so 15 minutes leaves a margin.
    order_lookup_settles_after = timedelta(minutes=15)
    renewal_visible_within = timedelta(minutes=10)
    validates_with_provider = True

    def __init__(
        self,
        session: aiohttp.ClientSession,
        api_key: str,
        *,
        base_url: str = DEFAULT_BASE_URL,
        request_timeout: float = DEFAULT_REQUEST_TIMEOUT,
        rate_limiter: RateLimiter | None = None,
    ) -> None:
        """Talk to ``base_url`` with ``api_key``.

        Pass one ``rate_limiter`` to every client on the same host: the limit is per IP.
        """
        self._session = session
        self._api_key = api_key
        self._base_url = normalize_base_url(base_url)
        self._timeout = aiohttp.ClientTimeout(total=request_timeout)
        self._limiter = rate_limiter or RateLimiter(
            RATE_LIMIT_PER_SECOND, period=RATE_WINDOW_SECONDS
        )
        # Names from the last listing, so a refresh needs no extra request per line.
        self._names: dict[str, str] = {}
        # Orders this client sent, by our reference, and the orderReferences they got.
        self._sent: dict[str, _SentOrder] = {}
        self._claimed: dict[str, str] = {}

    # --- HTTP ----------------------------------------------------------------------------

    async def _send(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        body: object = None,
    ) -> _Reply:
        """Send one request through the rate limiter and read the whole answer.

        Raises ``TransportError`` when no answer arrived and ``RateLimitedError`` on 429
        (a 429 is refused before processing, so nothing happened).
        """
        await self._limiter.acquire()
        reply = await exchange(
            self._session,
            method,
            f"{self._base_url}{path}",
            params=params,
            json_body=body,
            headers={"X-API-Key": self._api_key, "Accept": "application/json"},
            client_timeout=self._timeout,
            describe=_DESCRIBE,
        )
        self._note_rate_headers(reply.headers)
        if reply.status == 429:
            wait = parse_retry_after(reply.headers.get("retry-after"))
            self._limiter.block_for(wait if wait is not None else 1.0)
            raise RateLimitedError("eSIM Go rate limit exceeded", retry_after=wait)
        try:
            data: object = orjson.loads(reply.body)
        except ValueError:
            return _Reply(reply.status, None, is_json=False)
        return _Reply(reply.status, data, is_json=True)

    def _note_rate_headers(self, headers: Mapping[str, str]) -> None:
        """Pause our own requests when the provider says the window is used up."""
        try:
            remaining = int(headers.get("x-ratelimit-remaining", ""))
        except ValueError:
            return  # [I] headers absent or odd: our own limiter still applies.
        if remaining > 0:
            return
        wait = _seconds_until_reset(headers.get("x-ratelimit-reset"))
        if wait is not None and wait > 0:
            self._limiter.block_for(min(wait, _MAX_RESET_WAIT))

    async def _read(
        self,
        path: str,
        params: Mapping[str, str] | None = None,
        *,
        method: str = "GET",
        body: object = None,
    ) -> _Reply:
        """Send a request that changes nothing; map transport, 401, 429 and 5xx failures.

        Returns 2xx and the remaining 4xx answers for the caller to judge.
        """
        for attempt in range(2):
            try:
                reply = await self._send(method, path, params=params, body=body)
            except RateLimitedError as err:
                # Safe to repeat a read; the limiter already holds us for Retry-After.
                short = err.retry_after is not None and err.retry_after <= _READ_RETRY_MAX_WAIT
                if attempt or not short:
                    raise
                continue
            except TransportError as err:
                raise ProviderUnavailableError(str(err)) from err
            if reply.status == 401:
                raise AuthenticationError(reply.message or "API key refused")
            if reply.status >= 500 or reply.status < 200:
                raise ProviderUnavailableError(
                    f"eSIM Go answered {reply.status}: {reply.message or 'no message'}"
                )
            return reply
        raise AssertionError  # pragma: no cover - the loop always returns or raises

    async def _read_object(
        self, path: str, params: Mapping[str, str] | None = None
    ) -> dict[str, object]:
        """GET a JSON object from an account-wide endpoint; 403 there means a bad key."""
        reply = await self._read(path, params)
        if reply.status == 404:
            # No account-wide endpoint is documented to answer 404: the base URL is wrong.
            raise NotProviderApiError(f"HTTP 404 for {path}")
        if reply.status == 403:
            raise AuthenticationError(reply.message or "API key refused")
        if not reply.ok:
            raise ProviderUnavailableError(
                f"eSIM Go answered {reply.status}: {reply.message or 'no message'}"
            )
        data = _as_dict(reply.data)
        if data is None:
            raise ProviderUnavailableError(f"eSIM Go sent an unreadable answer to {path}")
        return data

    async def _read_pages(
        self, path: str, key: str, per_page: int, params: Mapping[str, str] | None = None
    ) -> list[dict[str, object]]:
        """Read every page of a listing and return all its items."""
        items: list[dict[str, object]] = []
        page = 1
        while page <= _MAX_PAGES:
            data = await self._read_object(
                path, {**(params or {}), "page": str(page), "perPage": str(per_page)}
            )
            rows = _as_list(data.get(key))
            if rows is None:
                raise ProviderUnavailableError(f"eSIM Go listing {path} has no {key!r}")
            items.extend(row for raw in rows if (row := _as_dict(raw)) is not None)
            if (page_count := _page_count(data)) is not None:
                if page >= page_count:
                    break
            # [I] Without pageCount, a short page is the last one.
            elif len(rows) < per_page:
                break
            page += 1
        return items

    # --- reads ---------------------------------------------------------------------------

    @override
    async def async_get_account(self) -> Account:
        """Check the key with ``GET /organisation`` and return the organisation."""
        data = await self._read_object("/organisation")
        try:
            org = _organisation(data)
        except _MalformedError as err:
            raise ProviderUnavailableError(f"unreadable organisation: {err}") from err
        name = _as_str(org.get("name"))
        account_id = _as_str(org.get("id")) or name
        if account_id is None:
            # [I] No id in the answer: a stable id that does not reveal the key.
            digest = hashlib.sha256(self._api_key.encode()).hexdigest()[:16]
            account_id = f"esimgo-{digest}"
        return Account(account_id=account_id, name=name or "eSIM Go", wallet=_wallet(org))

    @override
    async def async_list_lines(self) -> list[LineSummary]:
        """Return every eSIM on the account, reading all pages."""
        rows = await self._read_pages("/esims", "esims", ESIMS_PER_PAGE)
        lines: dict[str, LineSummary] = {}
        for row in rows:
            if (iccid := _as_str(row.get("iccid"))) is None:
                continue
            name = _line_name(iccid, _as_str(row.get("customerRef")))
            self._names[iccid] = name
            lines[iccid] = LineSummary(line_id=iccid, name=name)
        return list(lines.values())

    async def _assignments(self, iccid: str) -> list[_Assignment] | None:
        """Read an eSIM's bundle assignments; None when the eSIM is not on the account.

        Raises ``_MalformedError`` for an answer we cannot read.
        """
        reply = await self._read(
            f"/esims/{quote(iccid, safe='')}/bundles",
            {"includeUsed": "true", "limit": str(_BUNDLES_LIMIT)},
        )
        if reply.status in {403, 404}:
            if reply.status == 403 and _looks_like_auth(reply.message):
                raise AuthenticationError(reply.message or "API key refused")
            # 403 is the documented answer for an ICCID that is not ours.
            return None
        if not reply.ok:
            raise ProviderUnavailableError(
                f"eSIM Go answered {reply.status} for {iccid}: {reply.message or 'no message'}"
            )
        return _parse_assignments(reply.data)

    async def _fetch_line(self, iccid: str) -> Line | _MalformedError | None:
        """Read one line; None if missing, the parse error if unreadable.

        Not logged here: the snapshot says why, and the integration logs it once when the
        line turns unreadable rather than on every refresh.
        """
        try:
            assignments = await self._assignments(iccid)
            if assignments is None:
                return None
            return _line(iccid, self._names.get(iccid) or _line_name(iccid, None), assignments)
        except _MalformedError as err:
            return err

    @override
    async def async_fetch(self, line_ids: Collection[str]) -> Snapshot:
        """Read the wallet, then every tracked line concurrently (1 + N requests)."""
        data = await self._read_object("/organisation")
        try:
            wallet = _wallet(_organisation(data))
        except _MalformedError:
            wallet = None
        iccids = list(dict.fromkeys(line_ids))
        try:
            async with asyncio.TaskGroup() as group:
                tasks = {iccid: group.create_task(self._fetch_line(iccid)) for iccid in iccids}
        except ExceptionGroup as errors:
            # One failed request fails the refresh; a bad key wins over the rest.
            raise _pick_error(errors) from errors
        lines: dict[str, Line] = {}
        missing: set[str] = set()
        unreadable: dict[str, str] = {}
        for iccid, task in tasks.items():
            result = task.result()
            if result is None:
                missing.add(iccid)
            elif isinstance(result, _MalformedError):
                unreadable[iccid] = redact_identifiers(f"bundles: {result}")
            else:
                lines[iccid] = result
        return Snapshot(
            wallet=wallet,
            lines=lines,
            missing_line_ids=frozenset(missing),
            unreadable_line_ids=frozenset(unreadable),
            unreadable_reasons=unreadable,
        )

    @override
    async def async_list_packages(self, line_id: str) -> list[Package]:
        """Return the bundles that cover every country of the line's current bundle.

        [I] eSIM Go has no "bundles for this eSIM" call, and asking ``/compatible`` for each
        bundle would cost one request per bundle; the countries of the current bundle are
        a cheap stand-in, and the purchase still checks compatibility for the one chosen.
        """
        try:
            assignments = await self._assignments(line_id)
        except _MalformedError:
            assignments = []
        if assignments is None:
            raise LineNotFoundError(line_id)
        current = _current(assignments)
        wanted: frozenset[str] = frozenset()
        if current is not None:
            reply = await self._read(f"/catalogue/{quote(current.bundle, safe='')}")
            if reply.ok and (bundle := _as_dict(reply.data)) is not None:
                wanted = _countries(bundle)
        # One country narrows the listing on the server; the full set is checked here.
        params = {"countries": min(wanted)} if wanted else None
        rows = await self._read_pages("/catalogue", "bundles", CATALOGUE_PER_PAGE, params)
        packages: dict[str, Package] = {}
        for row in rows:
            if wanted and not wanted <= _countries(row):
                continue
            if (package := _package(row)) is not None:
                packages.setdefault(package.package_id, package)
        return sorted(packages.values(), key=lambda p: (p.price.amount, p.package_id))

    # --- purchase ------------------------------------------------------------------------

    @staticmethod
    def _order_body(kind: str, iccid: str, bundle: str) -> dict[str, object]:
        """Build a one-bundle order for one eSIM.

        ``allowReassign`` must stay false: true lets eSIM Go put an incompatible bundle on
        a brand-new eSIM, charging for a line the user does not have.
        """
        return {
            "type": kind,
            "assign": True,
            "order": [
                {
                    "type": "bundle",
                    "item": bundle,
                    "quantity": 1,
                    "iccids": [iccid],
                    "allowReassign": False,
                }
            ],
        }

    async def _ensure_compatible(self, iccid: str, bundle: str) -> None:
        """Ask whether ``bundle`` can top ``iccid`` up; refuse the order if it cannot."""
        reply = await self._read(
            f"/esims/{quote(iccid, safe='')}/compatible/{quote(bundle, safe='')}"
        )
        if reply.status in {400, 403, 404}:
            if reply.status == 403 and _looks_like_auth(reply.message):
                raise AuthenticationError(reply.message or "API key refused")
            code = "not_found" if reply.status in {403, 404} else "invalid"
            raise OrderRejectedError(code, reply.message or f"HTTP {reply.status}")
        body = _as_dict(reply.data) if reply.ok else None
        compatible = _as_bool(body.get("compatible")) if body is not None else None
        if compatible is None:
            # Nothing was ordered yet; better no purchase than one that lands elsewhere.
            raise ProviderUnavailableError(
                f"eSIM Go compatibility check answered {reply.status} unreadably"
            )
        if not compatible:
            raise OrderRejectedError(
                "incompatible", f"bundle {bundle} cannot be added to eSIM {iccid}"
            )

    @override
    async def async_validate_purchase(self, line_id: str, package: Package) -> None:
        """Check compatibility, then run eSIM Go's free ``validate`` order."""
        await self._ensure_compatible(line_id, package.package_id)
        # A dry run charges nothing, so every failure of it is merely "unavailable".
        reply = await self._read(
            "/orders", method="POST", body=self._order_body("validate", line_id, package.package_id)
        )
        if reply.ok:
            body = _as_dict(reply.data)
            if body is None:
                raise ProviderUnavailableError("unreadable answer to a validate order")
            if _as_bool(body.get("valid")) is False:
                message = _as_str(body.get("statusMessage")) or reply.message or "not valid"
                raise OrderRejectedError(
                    "invalid", message, insufficient_funds=_looks_like_funds(message)
                )
            return
        if (refusal := reply.message) is not None:
            raise OrderRejectedError(
                f"http_{reply.status}", refusal, insufficient_funds=_looks_like_funds(refusal)
            )
        raise ProviderUnavailableError(f"eSIM Go answered {reply.status} to a validate order")

    @override
    async def async_purchase(self, line_id: str, package: Package, reference: str) -> Order:
        """Add ``package`` to the eSIM, exactly once; see the contract on ``Provider``."""
        await self._ensure_compatible(line_id, package.package_id)
        body = self._order_body("transaction", line_id, package.package_id)
        # No idempotency key exists: the send time is what finds this order again.
        self._sent[reference] = _SentOrder(line_id, package.package_id, datetime.now(UTC))
        try:
            reply = await self._send("POST", "/orders", body=body)
        except RateLimitedError:
            raise  # refused by the rate limiter before processing: nothing ordered
        except TransportError as err:
            if not err.sent:
                raise ProviderUnavailableError(str(err)) from err
            raise OrderOutcomeUnknownError(reference, str(err)) from err
        except UNUSABLE_ANSWER_ERRORS as err:
            raise OrderOutcomeUnknownError(reference, str(err)) from err
        if reply.ok:
            data = _as_dict(reply.data)
            order_ref = _as_str(data.get("orderReference")) if data is not None else None
            if data is None or order_ref is None:
                raise OrderOutcomeUnknownError(reference, "unreadable answer to an order")
            self._claimed[order_ref] = reference
            return Order(
                order_id=order_ref,
                line_id=line_id,
                package_id=package.package_id,
                reference=reference,
                status=_order_status(data.get("status")),
                price=_order_price(data) or package.price,
                created_at=_parse_time(data.get("createdDate")) or datetime.now(UTC),
            )
        message = reply.message
        if reply.status == 401:
            raise AuthenticationError(message or "API key refused")
        # A 4xx that explains itself is a refusal; a bare one may come from a proxy that
        # never said what happened behind it (408 is a timeout, not a refusal).
        if 400 <= reply.status < 500 and reply.status != 408 and message:
            funds = _looks_like_funds(message)
            code = "insufficient_funds" if funds else f"http_{reply.status}"
            raise OrderRejectedError(code, message, insufficient_funds=funds)
        raise OrderOutcomeUnknownError(
            reference, f"eSIM Go answered {reply.status}: {message or 'no message'}"
        )

    # --- reconciliation ------------------------------------------------------------------

    @override
    async def async_find_order(
        self, line_id: str, reference: str, sent_at: datetime
    ) -> Order | None:
        """Find an order sent at ``sent_at`` for this line, from history and assignments."""
        sent = self._sent.get(reference)
        bundle = sent.bundle if sent is not None else None
        cutoff = sent_at - _CLOCK_SKEW
        confirmed, candidates = await self._search_orders(line_id, reference, bundle, cutoff)
        if confirmed is not None:
            return self._order(confirmed, line_id, reference, bundle)
        # The eSIM's assignments show the bundle even when the history is vague.
        try:
            assignments = await self._assignments(line_id) or []
        except _MalformedError:
            assignments = []
        fresh = [
            a
            for a in assignments
            if (bundle is None or a.bundle == bundle)
            and a.assigned_at is not None
            and a.assigned_at >= cutoff
        ]
        if assignment := min(fresh, key=lambda a: a.assigned_at or cutoff, default=None):
            if candidates:
                found = self._order(candidates[0], line_id, reference, assignment.bundle)
                return _with_assignment(found, assignment)
            return Order(
                order_id=assignment.reference or f"assignment-{line_id}",
                line_id=line_id,
                package_id=assignment.bundle,
                reference=reference,
                status=OrderStatus.COMPLETED,
                created_at=assignment.assigned_at,
                new_expires_at=assignment.end_time,
                new_data_total_bytes=None if assignment.unlimited else assignment.initial,
            )
        if candidates:
            # [I] The listing did not say which eSIM these went to. Claiming one is safer
            # than declaring "never placed" and paying a second time.
            return self._order(candidates[0], line_id, reference, bundle)
        return None

    async def _search_orders(
        self, iccid: str, reference: str, bundle: str | None, cutoff: datetime
    ) -> tuple[dict[str, object] | None, list[dict[str, object]]]:
        """Page ``GET /orders`` newest first back to ``cutoff``.

        Returns an order proven to be for this eSIM, and else the oldest-first orders of
        the bundle whose listing did not say which eSIM they went to.
        """
        candidates: list[tuple[datetime, dict[str, object]]] = []
        for page in range(1, _MAX_ORDER_PAGES + 1):
            # [I] direction/orderBy are listed parameters; sorting is re-checked below.
            data = await self._read_object(
                "/orders",
                {
                    "page": str(page),
                    "perPage": str(ORDERS_PER_PAGE),
                    "direction": "desc",
                    "orderBy": "createdDate",
                },
            )
            rows = [row for raw in _as_list(data.get("orders")) or [] if (row := _as_dict(raw))]
            dates: list[datetime] = []
            for entry in rows:
                if (created := _created(entry)) is None:
                    continue
                dates.append(created)
                if created < cutoff or not self._claimable(entry, reference):
                    continue
                match = _match_order(entry, iccid, bundle)
                if match is True:
                    return entry, []
                # An order of unknown eSIM is only a candidate when we know its bundle
                # (after a restart we do not, and any order of the account would match).
                if match is None and bundle is not None:
                    candidates.append((created, entry))
            page_count = _page_count(data)
            if not rows or (page_count is not None and page >= page_count):
                break
            if _past_cutoff(dates, cutoff):
                break
        candidates.sort(key=lambda pair: pair[0])
        return None, [entry for _, entry in candidates]

    def _claimable(self, entry: Mapping[str, object], reference: str) -> bool:
        """Return False for an order another purchase of ours already owns."""
        order_ref = _as_str(entry.get("orderReference"))
        return order_ref is not None and self._claimed.get(order_ref, reference) == reference

    def _order(
        self, entry: Mapping[str, object], line_id: str, reference: str, bundle: str | None
    ) -> Order:
        """Build an Order from an order history entry."""
        order_ref = _as_str(entry.get("orderReference")) or "unknown"
        self._claimed[order_ref] = reference
        return Order(
            order_id=order_ref,
            line_id=line_id,
            package_id=bundle or _first_item(entry) or "unknown",
            reference=reference,
            status=_order_status(entry.get("status")),
            price=_order_price(entry),
            created_at=_created(entry),
        )


def _created(entry: Mapping[str, object]) -> datetime | None:
    """Return when an order was created; [I] both spellings appear in the docs."""
    return _parse_time(entry.get("createdDate") or entry.get("createDate"))


def _page_count(data: Mapping[str, object]) -> int | None:
    """Return a listing's pageCount, or None when it is absent or odd."""
    try:
        return _as_int(data.get("pageCount"))
    except _MalformedError:
        return None


def _past_cutoff(dates: list[datetime], cutoff: datetime) -> bool:
    """Return True when a newest-first page already reached orders older than ``cutoff``.

    [I] The listing is asked for newest first; a page that is not sorted that way proves
    nothing, so paging goes on (up to the page cap).
    """
    newest_first = all(a >= b for a, b in itertools.pairwise(dates))
    return newest_first and bool(dates) and dates[-1] < cutoff


def _first_item(entry: Mapping[str, object]) -> str | None:
    """Return the first bundle name of an order entry."""
    for raw in _as_list(entry.get("order")) or []:
        if (item := _as_dict(raw)) is not None and (name := _as_str(item.get("item"))):
            return name
    return None


def _match_order(entry: Mapping[str, object], iccid: str, bundle: str | None) -> bool | None:
    """Say whether an order entry is ours: True, False, or None when it cannot tell."""
    verdict: bool | None = False
    for raw in _as_list(entry.get("order")) or []:
        item = _as_dict(raw)
        if item is None or _as_str(item.get("type")) not in {None, "bundle"}:
            continue
        if bundle is not None and _as_str(item.get("item")) != bundle:
            continue
        iccids = _order_iccids(entry, item)
        if iccids is None:
            verdict = None
        elif iccid in iccids:
            return True
    return verdict


def _with_assignment(order: Order, assignment: _Assignment) -> Order:
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


def _pick_error(errors: ExceptionGroup[Exception]) -> BaseException:
    """Return the error that should fail a refresh (see ``pick_refresh_error``).

    The TaskGroup's errors may nest; a group with no provider error (a bug) is passed on
    whole, so no failure hides behind another.
    """
    flat: list[Exception] = []
    pending: list[Exception] = [errors]
    while pending:
        error = pending.pop()
        if isinstance(error, ExceptionGroup):
            pending.extend(error.exceptions)
        else:
            flat.append(error)
    if not any(isinstance(error, ProviderError) for error in flat):
        return errors
    return pick_refresh_error(flat)
