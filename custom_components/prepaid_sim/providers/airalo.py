"""Airalo Partner API (v2): read eSIM usage and buy top-up packages from the Airalo wallet.

Auth is OAuth client credentials (``POST /token``); the bearer token is cached and renewed
before it ages out and once on a 401, never per request: the token endpoint allows only a
few calls a minute. Usage is in megabytes (1 MB = 1,048,576 bytes, see ``MB``); times come
without a zone and are read as UTC. Lines are keyed by ICCID.

Request budget
    ``async_fetch`` with N tracked lines sends::

        requests = 1 (GET /balance) + F + min(D, B)    (GET /sims/{iccid}/usage each)
                   + 1 (POST /token, only when no fresh token is cached)

    F: tracked lines this client has never read (always read, they have nothing cached);
    D: lines whose last read is at least ``USAGE_READ_INTERVAL`` (15 min) old; every other
    line returns its cached reading without a request; B = max(1, ceil(N * dt / 15 min)),
    dt being the time since the previous ``async_fetch`` (B = D on the first one). Due lines
    are read oldest first, so after the first refresh the reads spread evenly over the
    refreshes instead of bursting every 15 minutes: at ``UPDATE_INTERVAL`` (5 min) a steady
    refresh costs ``1 + ceil(N / 3)`` and each line is read at most once per 15 minutes.
    Recycled eSIMs are never read again, and a line Airalo answered 429 for is not asked
    again before its ``Retry-After``.

    ``async_list_lines`` sends ``ceil(T / 100)`` requests (T = every eSIM on the account);
    ``async_list_packages`` one; ``async_purchase`` one (two when a 401 makes it renew the
    token); ``async_find_order`` one per page of 50 matching orders (normally one, at most
    ``MAX_ORDER_PAGES``).

Idempotency
    Airalo has no idempotency key. Our reference goes into the order's free-text
    ``description``; ``async_find_order`` finds a lost order with
    ``GET /orders?filter[description]=<reference>``.

Facts marked [I] are inferences from the docs, not documented; the code is tolerant there.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from enum import Enum
import hashlib
import logging
import math
import re
import time
from typing import Final, override
from urllib.parse import quote

import aiohttp

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
    RateLimitedError,
    Snapshot,
    pick_refresh_error as _pick_error,
    redact_identifiers,
)
from .http import (
    UNUSABLE_ANSWER_ERRORS,
    JsonReply,
    MalformedError as _MalformedError,
    TransportError,
    as_decimal as _as_decimal,
    as_str as _as_str,
    describe_for,
    exchange,
    from_epoch,
    json_or_none,
    parse_retry_after,
    safe_decimal as _safe_decimal,
    to_utc,
)
from .oauth import BearerToken
from .plausible import check_line, check_size, expect_json
from .ratelimit import RateLimiter
from .urls import with_api_path

_LOGGER = logging.getLogger(__name__)

AIRALO_PROVIDER_KEY: Final = "airalo"
API_PATH: Final = "/v2"
PRODUCTION_BASE_URL: Final = "https://partners-api.airalo.com" + API_PATH
SANDBOX_BASE_URL: Final = "https://sandbox-partners-api.airalo.com" + API_PATH
DEFAULT_BASE_URL: Final = PRODUCTION_BASE_URL

# Each line is read at most once per USAGE_READ_INTERVAL anyway; refreshing every 5 minutes
# lets those reads spread over three refreshes (a third of the lines each) rather than all
# lines at once, and keeps the wallet fresh. Airalo caches usage for 20 min itself [R2].
UPDATE_INTERVAL: Final = timedelta(minutes=5)
# The strictest published rule: one usage call per ICCID per 15 minutes (2024-12-16 page);
# later pages allow 10/min per ICCID with a 20-minute cache, so this is safe under both.
USAGE_READ_INTERVAL: Final = timedelta(minutes=15)
# How long Airalo may keep serving a cached usage figure (later docs say 20 min) [R2].
PROVIDER_USAGE_CACHE: Final = timedelta(minutes=20)
# "5 requests per second per company" on usage; used for every endpoint to be safe [I].
REQUESTS_PER_SECOND: Final = 5
# Our window is a little longer than a second so network jitter (a slow first connection
# delaying an early request) can never put 6 of our requests into one of theirs.
RATE_WINDOW_SECONDS: Final = 1.1
# The token endpoint: 5/min (2024-12-16), 3/min later; keep to the lower one.
TOKEN_REQUESTS_PER_MINUTE: Final = 3
# The token says it lives a year, the docs say to treat it as valid for 24 h [R]: renew daily.
TOKEN_MAX_AGE: Final = timedelta(hours=24)
TOKEN_REFRESH_MARGIN: Final = timedelta(minutes=5)
DEFAULT_REQUEST_TIMEOUT: Final = 30.0
SIMS_PAGE_SIZE: Final = 100  # [I] the largest ``limit`` the docs show no bound for
ORDERS_PAGE_SIZE: Final = 50
MAX_PAGES: Final = 1000  # guards against a paging bug looping forever
# ``filter[description]`` should leave one order; if the filter were ignored [I], look this
# far back before saying "not found".
MAX_ORDER_PAGES: Final = 5

# [I] Airalo says "megabytes"; a "3 GB" package has ``amount: 3072``, so 1 GB = 1024 MB.
MB: Final = 1024 * 1024
DEFAULT_CURRENCY: Final = "USD"  # [I] partner prices and the wallet are in USD
ACCOUNT_NAME: Final = "Airalo"

# Business error codes [R2 errors file].
CODE_INSUFFICIENT_CREDIT: Final = 11
CODE_UNEXPECTED: Final = 53
CODE_RECYCLED: Final = 73
CODE_IP_NOT_ALLOWED: Final = 89

_STATES: Final[Mapping[str, LineStatus]] = {
    "ACTIVE": LineStatus.ACTIVE,
    "NOT_ACTIVE": LineStatus.NOT_ACTIVE,
    "FINISHED": LineStatus.DEPLETED,
    "EXPIRED": LineStatus.EXPIRED,
    "UNKNOWN": LineStatus.UNKNOWN,
}
_RECYCLED_STATE: Final = "RECYCLED"
_FAILED_ORDER_STATES: Final = frozenset({"failed", "refunded", "cancelled", "canceled"})
# [I] ``expired_at`` is documented as "Y-m-d H:i:s"; other shapes are tried in turn.
_TIME_FORMATS: Final = ("%d-%m-%Y %H:%M:%S", "%d.%m.%Y %H:%M:%S", "%Y/%m/%d %H:%M:%S")
_DESCRIBE: Final = describe_for("Airalo")


class _Reply(JsonReply):
    """One HTTP answer, with Airalo's error fields."""

    __slots__ = ()

    @property
    def code(self) -> int | None:
        """Return Airalo's business error ``code`` (``{"code": 73, "reason": ...}``)."""
        body = self.body
        value = body.get("code") if body is not None else None
        if isinstance(value, bool):
            return None
        if isinstance(value, int):
            return value
        if isinstance(value, str) and value.strip().isdigit():
            return int(value.strip())
        return None

    @property
    def message(self) -> str | None:
        """Return the error text: ``reason``, ``meta.message`` or ``message``."""
        body = self.body
        if body is None:
            return None
        meta = body.get("meta")
        candidates = [body.get("reason"), body.get("message")]
        if isinstance(meta, Mapping):
            candidates.insert(1, meta.get("message"))
        for value in candidates:
            if isinstance(value, str) and value.strip():
                return value.strip()
        return None


class _Outcome(Enum):
    """What one usage read said about a line."""

    LINE = "line"
    MISSING = "missing"
    UNREADABLE = "unreadable"


@dataclass(frozen=True, slots=True)
class _Reading:
    """The result of one usage read, kept until the line may be read again."""

    outcome: _Outcome
    line: Line | None = None
    # Why the line could not be read (UNREADABLE), free of identifiers.
    reason: str | None = None


class AccountState:
    """What every client of one Airalo account shares.

    A new client (after a reload) then neither re-reads usage Airalo still holds for 15
    minutes nor bursts the token endpoint's limit.
    """

    def __init__(self) -> None:
        """Start with no readings and a fresh token budget."""
        self.usage: dict[str, _UsageState] = {}
        self.token_limiter = RateLimiter(TOKEN_REQUESTS_PER_MINUTE, period=60.0)
        # The token says it lives a year; it is renewed daily all the same.
        self.token = BearerToken(
            default_lifetime=TOKEN_MAX_AGE.total_seconds(),
            max_lifetime=TOKEN_MAX_AGE.total_seconds(),
            refresh_margin=TOKEN_REFRESH_MARGIN.total_seconds(),
        )


@dataclass(slots=True)
class _UsageState:
    """Per-ICCID bookkeeping for the usage limit (times from the client's monotonic clock)."""

    read_at: float | None = None
    reading: _Reading | None = None
    # Airalo answered 429 for this ICCID: do not ask again before this.
    hold_until: float = 0.0
    # After a top-up: read this line first while the provider's cache may still be stale.
    priority_until: float = 0.0
    # A recycled eSIM never comes back; it is not read again.
    recycled: bool = False


# --- small tolerant parsers ------------------------------------------------------------


def _as_bool(value: object) -> bool | None:
    """Return a JSON boolean (also 0/1 and "true"/"false" [I]), or None."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in {0, 1}:
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in {"true", "false", "1", "0"}:
        return value.strip().lower() in {"true", "1"}
    return None


def _megabytes(value: object) -> int | None:
    """Turn megabytes (possibly fractional) into bytes; None when absent."""
    number = _as_decimal(value)
    return None if number is None else int((number * MB).to_integral_value())


def parse_time(value: object) -> datetime | None:
    """Parse an Airalo time into an aware UTC datetime; None when absent or unreadable.

    ``/usage`` sends ``2022-01-01 00:00:00`` without a zone (UTC [I]); ``/packages`` sends
    ISO 8601 with an offset. ISO shapes, a few day-first shapes and epoch seconds are all
    tolerated [I]; anything else is None rather than a failed line.
    """
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        # [I] Epoch numbers are not documented; large ones are milliseconds.
        return from_epoch(value)
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip()
    if text.isdigit():
        return parse_time(int(text))
    parsed: datetime | None = None
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        for pattern in _TIME_FORMATS:
            try:
                parsed = datetime.strptime(text, pattern)
                break
            except ValueError:
                continue
    if parsed is None:
        _LOGGER.debug("Airalo sent an unreadable time %s", redact_identifiers(repr(value)))
        return None
    return to_utc(parsed)


def _retry_after(headers: Mapping[str, str]) -> float | None:
    """Read ``Retry-After`` (lower-cased headers) as seconds: a number or an HTTP date.

    Unlike the other clients, "inf" and "nan" are passed on as they are.
    """
    return parse_retry_after(headers.get("retry-after"))


def _currency(value: object) -> str:
    """Return an ISO 4217 code; USD when absent [I]."""
    text = _as_str(value)
    return text.upper() if text and len(text) == 3 else DEFAULT_CURRENCY


def _payload(reply: _Reply) -> Mapping[str, object] | None:
    """Return ``data`` of a ``{"data": {...}, "meta": {...}}`` answer.

    [I] A flat object (no ``data`` wrapper) is accepted too.
    """
    body = reply.body
    if body is None:
        return None
    inner = body.get("data")
    if isinstance(inner, Mapping):
        return inner
    return body if "data" not in body else None


def _rows(reply: _Reply) -> list[Mapping[str, object]]:
    """Return the objects of a listing's ``data`` array."""
    body = reply.body
    items = body.get("data") if body is not None else None
    if not isinstance(items, list):
        raise _MalformedError("listing without a data array")
    return [item for item in items if isinstance(item, Mapping)]


def _last_page(reply: _Reply) -> int | None:
    """Return ``meta.last_page`` of a listing, or None when absent."""
    body = reply.body
    meta = body.get("meta") if body is not None else None
    if not isinstance(meta, Mapping):
        return None
    value = _safe_decimal(meta.get("last_page"))
    return int(value) if value is not None else None


def _has_next(reply: _Reply) -> bool | None:
    """Return whether ``links.next`` points at another page (None when there are no links)."""
    body = reply.body
    links = body.get("links") if body is not None else None
    if not isinstance(links, Mapping):
        return None
    return bool(_as_str(links.get("next")))


def _line_name(iccid: str) -> str:
    """Return a short label: the ICCID's last digits, as on the eSIM's card."""
    return f"eSIM {iccid[-4:]}"


def _status(
    word: str, *, unlimited: bool, remaining: int | None, expires_at: datetime | None
) -> LineStatus:
    """Map Airalo's usage status, corrected by the expiry and the remaining data."""
    status = _STATES.get(word, LineStatus.UNKNOWN)
    if status is LineStatus.ACTIVE:
        # The word may trail the clock [I]; the expiry is authoritative.
        if expires_at is not None and expires_at <= datetime.now(UTC):
            return LineStatus.EXPIRED
        if not unlimited and remaining == 0:
            return LineStatus.DEPLETED
    return status


def _size(megabytes: Decimal | None, field: str) -> int | None:
    """Turn a usage figure in MB into bytes; raise for an impossible size (see plausible)."""
    size = _megabytes(megabytes)
    return None if size is None else check_size(size, field)


def _line(iccid: str, name: str, plan: str | None, data: Mapping[str, object]) -> Line | None:
    """Normalize a ``/sims/{iccid}/usage`` answer; None when the eSIM was recycled.

    Raises ``_MalformedError`` for a value of the wrong type or out of any plausible range
    (see ``plausible``). A time in a shape not understood is tolerated as no expiry [I].
    """
    word = (_as_str(expect_json(data.get("status"), "status", str)) or "").upper()
    if word == _RECYCLED_STATE:
        return None
    total_mb = _as_decimal(data.get("total"))
    remaining_mb = _as_decimal(data.get("remaining"))
    flag = _as_bool(expect_json(data.get("is_unlimited"), "is_unlimited", bool, int, str))
    zero = total_mb == 0 and remaining_mb == 0
    # "For unlimited plans remaining/total are 0 and should be ignored" [R]; without the
    # flag, 0/0 can only be such a plan: a metered plan always has a size [I].
    unlimited = flag is True or (flag is None and zero)
    total = remaining = used = None
    if unlimited:
        # [I] An unlimited plan that reports a non-zero figure is a fair-use allowance:
        # keep its size and use, never a "remaining" that would read as data left.
        if total_mb:
            total = _size(total_mb, "total")
            left = _size(remaining_mb, "remaining")
            used = None if total is None or left is None else max(total - left, 0)
    elif not zero:
        total = _size(total_mb, "total")
        left = _size(remaining_mb, "remaining")
        if total is None or left is None:
            raise _MalformedError("usage without total or remaining")
        remaining = left
        used = max(total - remaining, 0)
    # else: the plan says it is metered but reports 0/0; the figures mean nothing [I].
    expires_at = parse_time(expect_json(data.get("expired_at"), "expired_at", str, int, float))
    return check_line(
        Line(
            line_id=iccid,
            name=name,
            status=_status(word, unlimited=unlimited, remaining=remaining, expires_at=expires_at),
            plan_name=plan,
            unlimited=unlimited,
            data_total_bytes=total,
            data_used_bytes=used,
            data_remaining_bytes=remaining,
            expires_at=expires_at,
            iccid=iccid,
            usage_updated_at=datetime.now(UTC),
        )
    )


def _package(item: Mapping[str, object]) -> Package | None:
    """Turn a ``/sims/{iccid}/topups`` entry into a package; None when it is unusable."""
    package_id = _as_str(item.get("id"))
    try:
        # [I] The wallet is debited the partner (net) price; ``price`` is the retail one.
        price = _as_decimal(item.get("net_price"))
        if price is None:
            price = _as_decimal(item.get("price"))
        amount = _megabytes(item.get("amount"))
        days = _as_decimal(item.get("day"))
    except _MalformedError:
        return None
    if package_id is None or price is None or price < 0:
        return None
    unlimited = _as_bool(item.get("is_unlimited")) is True or not amount
    return Package(
        package_id=package_id,
        name=_as_str(item.get("title")) or package_id,
        price=Money(price, _currency(item.get("currency"))),
        data_bytes=None if unlimited else amount,
        validity=timedelta(days=int(days or 0)),
    )


def _order_price(entry: Mapping[str, object]) -> Money | None:
    """Return what an order cost us (net price when given [I]), if it says."""
    amount = _safe_decimal(entry.get("net_price"))
    if amount is None:
        amount = _safe_decimal(entry.get("price"))
    return None if amount is None else Money(amount, _currency(entry.get("currency")))


def _order_status(entry: Mapping[str, object]) -> OrderStatus:
    """Map an order's ``status`` object (``{"name", "slug"}``) or plain word."""
    raw = entry.get("status")
    if isinstance(raw, Mapping):
        raw = raw.get("slug") or raw.get("name")
    word = (_as_str(raw) or "").lower().replace(" ", "_")
    if not word or word in {"completed", "partially_refunded"}:
        # [I] Top-ups are answered synchronously: an order listed without a status is done.
        return OrderStatus.COMPLETED
    if word in _FAILED_ORDER_STATES:
        return OrderStatus.FAILED
    return OrderStatus.PROCESSING


def _mentions(text: str | None, reference: str) -> bool:
    """Return True when ``text`` carries ``reference`` as a whole word."""
    if not text:
        return False
    return re.search(rf"(?<![\w-]){re.escape(reference)}(?![\w-])", text) is not None


def _order_iccids(entry: Mapping[str, object]) -> set[str] | None:
    """Return the ICCIDs an order went to; None when the entry does not say [I]."""
    sims = entry.get("sims")
    found: set[str] = set()
    if isinstance(sims, list):
        for sim in sims:
            iccid = _as_str(sim.get("iccid")) if isinstance(sim, Mapping) else _as_str(sim)
            if iccid:
                found.add(iccid)
    if iccid := _as_str(entry.get("iccid")):
        found.add(iccid)
    return found or None


def normalize_base_url(url: str) -> str:
    """Check ``url``; a bare host (production or sandbox) gets the ``/v2`` path.

    Raises ``BaseUrlError`` for a URL no client may use.
    """
    return with_api_path(url, API_PATH)


class AiraloProvider(Provider):
    """A client of the Airalo Partner API; a line is an eSIM, keyed by its ICCID."""

    # Top-ups are answered synchronously and listed at once [I]; a little margin for an
    # order that was still being committed when our request timed out.
    order_lookup_settles_after = timedelta(minutes=10)
    # Our 15-minute spacing per ICCID plus Airalo's 20-minute usage cache, plus a refresh.
    renewal_visible_within = timedelta(minutes=45)

    def __init__(
        self,
        session: aiohttp.ClientSession,
        client_id: str,
        client_secret: str,
        *,
        base_url: str = DEFAULT_BASE_URL,
        request_timeout: float = DEFAULT_REQUEST_TIMEOUT,
        clock: Callable[[], float] = time.monotonic,
        rate_limiter: RateLimiter | None = None,
        account_state: AccountState | None = None,
    ) -> None:
        """Talk to ``base_url`` (production, ``SANDBOX_BASE_URL`` or an emulator).

        ``clock`` (monotonic seconds) times the token and the per-ICCID usage limit. Pass
        one ``rate_limiter`` to every client of the same Airalo account: the limit is per
        company.
        """
        self._session = session
        self._client_id = client_id
        self._client_secret = client_secret
        self._base_url = normalize_base_url(base_url)
        # A separate connect timeout: only a failed connect proves nothing was sent.
        self.timeout = aiohttp.ClientTimeout(total=request_timeout, sock_connect=10)
        self._clock = clock
        self._limiter = rate_limiter or RateLimiter(REQUESTS_PER_SECOND, period=RATE_WINDOW_SECONDS)
        shared = account_state or AccountState()
        self._token_limiter = shared.token_limiter
        # The token is the account's, not this client's: shared with later clients.
        self._shared = shared
        self._fetch_lock = asyncio.Lock()
        self._last_fetch: float | None = None
        self._usage = shared.usage
        # From the last listing, so a refresh needs no extra request per line.
        self._names: dict[str, str] = {}
        self._plans: dict[str, str] = {}

    # --- HTTP ------------------------------------------------------------------------------

    async def _send(
        self,
        method: str,
        path: str,
        *,
        token: str | None,
        params: Mapping[str, str] | None = None,
        form: Mapping[str, str] | None = None,
        multipart: bool = False,
        limiter: RateLimiter | None = None,
    ) -> _Reply:
        """Send one request under the rate limit and read the whole answer."""
        await (limiter or self._limiter).acquire()
        headers = {"Accept": "application/json"}
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        data: aiohttp.FormData | None = None
        if form is not None:
            data = aiohttp.FormData(default_to_multipart=multipart)
            for key, value in form.items():
                data.add_field(key, value)
        reply = await exchange(
            self._session,
            method,
            f"{self._base_url}{path}",
            params=params,
            data=data,
            headers=headers,
            client_timeout=self.timeout,
            describe=_DESCRIBE,
        )
        return _Reply(reply.status, reply.headers, json_or_none(reply.body))

    async def _access_token(self) -> str:
        """Return the account's token, fetching one when needed (see ``BearerToken``)."""
        return await self._shared.token.get(self._fetch_token, self._clock)

    async def _renew_token(self, refused: str) -> str:
        """Replace a token the API refused."""
        return await self._shared.token.replace(refused, self._fetch_token, self._clock)

    async def _fetch_token(self) -> tuple[str, float | None]:
        """Ask ``POST /token`` for a token; return it and its ``expires_in``."""
        form = {
            "client_id": self._client_id,
            "client_secret": self._client_secret,
            "grant_type": "client_credentials",
        }
        try:
            reply = await self._send(
                "POST", "/token", token=None, form=form, limiter=self._token_limiter
            )
        except TransportError as err:
            raise ProviderUnavailableError(str(err)) from err
        if reply.status == 429:
            wait = _retry_after(reply.headers)
            self._token_limiter.block_for(60.0 if wait is None else wait)
            raise RateLimitedError("Airalo token endpoint rate limit hit", retry_after=wait)
        if reply.status in {400, 401, 403, 422}:
            raise AuthenticationError(
                reply.message or f"Airalo refused the credentials ({reply.status})"
            )
        if reply.status == 404:
            raise NotProviderApiError("HTTP 404 for /token")
        payload = _payload(reply) if reply.ok else None
        token = _as_str(payload.get("access_token")) if payload is not None else None
        if payload is None or token is None:
            raise ProviderUnavailableError(f"Airalo token endpoint answered {reply.status}")
        expires_in = _safe_decimal(payload.get("expires_in"))
        return token, None if expires_in is None else float(expires_in)

    async def _call(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        form: Mapping[str, str] | None = None,
        multipart: bool = False,
        own_rate_limit: bool = False,
    ) -> _Reply:
        """Send with the bearer token; renew it once on a 401 and send again.

        A 401 is refused before anything is processed [I], so even an order may be sent
        again after it. A 429 raises ``RateLimitedError`` unless ``own_rate_limit``.
        Transport failures come out as ``TransportError``.
        """
        token = await self._access_token()
        reply = await self._send(
            method, path, token=token, params=params, form=form, multipart=multipart
        )
        if reply.status == 401:
            token = await self._renew_token(token)
            reply = await self._send(
                method, path, token=token, params=params, form=form, multipart=multipart
            )
            if reply.status == 401:
                raise AuthenticationError(reply.message or "Airalo refused the access token")
        if reply.status == 429 and not own_rate_limit:
            wait = _retry_after(reply.headers)
            self._limiter.block_for(1.0 if wait is None else wait)
            raise RateLimitedError("Airalo rate limit hit", retry_after=wait)
        return reply

    async def _read(
        self, path: str, params: Mapping[str, str] | None = None, *, own_rate_limit: bool = False
    ) -> _Reply:
        """GET something; map transport failures, 403 and 5xx. Other answers are returned."""
        try:
            reply = await self._call("GET", path, params=params, own_rate_limit=own_rate_limit)
        except TransportError as err:
            raise ProviderUnavailableError(str(err)) from err
        if reply.status == 403:
            # Code 89 is "IP not allowlisted"; any 403 means these credentials may not ask.
            raise AuthenticationError(reply.message or "Airalo refused the request (403)")
        if reply.status >= 500 or reply.status < 200:
            raise ProviderUnavailableError(f"Airalo answered {reply.status} to {path}")
        return reply

    async def _read_ok(self, path: str, params: Mapping[str, str] | None = None) -> _Reply:
        """GET a JSON answer that must be 2xx."""
        reply = await self._read(path, params)
        if reply.status == 404:
            # Account-wide reads only: a 404 there means the base URL is wrong.
            raise NotProviderApiError(f"HTTP 404 for {path}")
        if not reply.ok or reply.body is None:
            raise ProviderUnavailableError(f"Airalo answered {reply.status} to {path} unreadably")
        return reply

    async def _read_pages(
        self, path: str, params: Mapping[str, str], per_page: int, max_pages: int
    ) -> list[Mapping[str, object]]:
        """Read every page of a listing (``meta.last_page``, else ``links.next``)."""
        rows: list[Mapping[str, object]] = []
        for page in range(1, max_pages + 1):
            reply = await self._read_ok(path, {**params, "limit": str(per_page), "page": str(page)})
            try:
                found = _rows(reply)
            except _MalformedError as err:
                raise ProviderUnavailableError(f"unexpected answer to {path}: {err}") from err
            rows.extend(found)
            last = _last_page(reply)
            more = _has_next(reply)
            if last is not None:
                if page >= last:
                    break
            elif more is not None:
                if not more:
                    break
            # [I] Neither meta nor links: a short page is the last one.
            elif len(found) < per_page:
                break
        return rows

    # --- account and lines -------------------------------------------------------------------

    async def _wallet(self) -> Money:
        """Read ``GET /balance``: ``data.balances.availableBalance{amount, currency}``."""
        reply = await self._read_ok("/balance")
        payload = _payload(reply)
        balances = payload.get("balances") if payload is not None else None
        # [I] Tolerate a list of balances (the first one) as well as the documented object.
        if isinstance(balances, list) and balances:
            balances = balances[0]
        available = balances.get("availableBalance") if isinstance(balances, Mapping) else None
        currency: object = None
        amount_raw = available
        if isinstance(available, Mapping):
            amount_raw, currency = available.get("amount"), available.get("currency")
        amount = _safe_decimal(amount_raw)
        if amount is None:
            raise ProviderUnavailableError("Airalo sent an unreadable balance")
        return Money(amount, _currency(currency))

    @override
    async def async_get_account(self) -> Account:
        """Check the credentials (token + ``GET /balance``) and return the account."""
        # [I] The API exposes no account id: derive a stable one that does not reveal the key.
        digest = hashlib.sha256(self._client_id.encode()).hexdigest()[:16]
        return Account(
            account_id=f"airalo-{digest}", name=ACCOUNT_NAME, wallet=await self._wallet()
        )

    @override
    async def async_list_lines(self) -> list[LineSummary]:
        """Return every eSIM on the account (all pages), leaving recycled ones out."""
        rows = await self._read_pages("/sims", {}, SIMS_PAGE_SIZE, MAX_PAGES)
        lines: dict[str, LineSummary] = {}
        for row in rows:
            iccid = _as_str(row.get("iccid"))
            if iccid is None or _as_bool(row.get("recycled")) is True:
                continue
            simable = row.get("simable")
            plan = _as_str(simable.get("package")) if isinstance(simable, Mapping) else None
            name = _line_name(iccid)
            self._names[iccid] = name
            if plan is not None:
                self._plans[iccid] = plan
            lines[iccid] = LineSummary(line_id=iccid, name=name, plan_name=plan)
        return list(lines.values())

    # --- usage, at most once per ICCID per 15 minutes ---------------------------------------

    def _plan_reads(
        self, line_ids: Sequence[str], now: float, elapsed: float | None
    ) -> tuple[list[str], float | None]:
        """Pick the lines to read now; also return the wait of a held line with no reading."""
        interval = USAGE_READ_INTERVAL.total_seconds()
        first: list[str] = []
        due: list[str] = []
        held_wait: float | None = None
        for iccid in line_ids:
            state = self._usage.setdefault(iccid, _UsageState())
            if state.recycled:
                continue
            if now < state.hold_until:
                if state.reading is None:
                    held_wait = max(held_wait or 0.0, state.hold_until - now)
                continue
            if state.reading is None:
                first.append(iccid)
            elif state.read_at is None or now - state.read_at >= interval:
                due.append(iccid)
        budget = len(due)
        if elapsed is not None:
            budget = min(budget, max(1, math.ceil(len(line_ids) * elapsed / interval)))

        def age(iccid: str) -> tuple[bool, float]:
            state = self._usage[iccid]
            return (now >= state.priority_until, state.read_at or 0.0)

        due.sort(key=age)
        return first + due[:budget], held_wait

    async def _read_usage(self, iccid: str) -> None:
        """Read one line's usage and keep the reading (see ``_UsageState``)."""
        state = self._usage[iccid]
        reply = await self._read(f"/sims/{quote(iccid, safe='')}/usage", own_rate_limit=True)
        now = self._clock()
        if reply.status == 429:
            # Most likely the per-ICCID limit (e.g. read by a previous run): hold this line
            # only; the others and their cached readings are unaffected.
            wait = _retry_after(reply.headers)
            hold = USAGE_READ_INTERVAL.total_seconds() if wait is None else wait
            state.hold_until = now + hold
            return
        state.read_at = now
        state.reading = self._reading(iccid, reply, state)

    def _reading(self, iccid: str, reply: _Reply, state: _UsageState) -> _Reading:
        """Turn a usage answer into a reading."""
        if reply.code == CODE_RECYCLED:
            state.recycled = True
            return _Reading(_Outcome.MISSING)
        if reply.status == 404:
            return _Reading(_Outcome.MISSING)
        # Not logged here: the snapshot says why, and the integration logs it once when
        # the line turns unreadable rather than on every read.
        payload = _payload(reply) if reply.ok else None
        if payload is None:
            return _Reading(_Outcome.UNREADABLE, reason=f"usage answered HTTP {reply.status}")
        try:
            line = _line(
                iccid, self._names.get(iccid) or _line_name(iccid), self._plans.get(iccid), payload
            )
        except _MalformedError as err:
            return _Reading(_Outcome.UNREADABLE, reason=redact_identifiers(f"usage: {err}"))
        if line is None:
            state.recycled = True
            return _Reading(_Outcome.MISSING)
        return _Reading(_Outcome.LINE, line)

    @override
    async def async_fetch(self, line_ids: Collection[str]) -> Snapshot:
        """Read the wallet and the lines that are due (see the module docstring for the cost)."""
        wanted = list(dict.fromkeys(line_ids))
        async with self._fetch_lock:
            now = self._clock()
            elapsed = None if self._last_fetch is None else now - self._last_fetch
            self._last_fetch = now
            to_read, _ = self._plan_reads(wanted, now, elapsed)
            results = await asyncio.gather(
                self._wallet(),
                *(self._read_usage(iccid) for iccid in to_read),
                return_exceptions=True,
            )
        errors = [result for result in results if isinstance(result, BaseException)]
        if errors:
            # Readings that did arrive are kept; the next refresh will not re-read them.
            raise _pick_error(errors)
        wallet = results[0]
        assert isinstance(wallet, Money)
        lines: dict[str, Line] = {}
        missing: set[str] = set()
        unreadable: dict[str, str] = {}
        for iccid in wanted:
            reading = self._usage[iccid].reading
            if reading is not None and reading.outcome is _Outcome.MISSING:
                missing.add(iccid)
            elif reading is None or reading.outcome is _Outcome.UNREADABLE or reading.line is None:
                # No reading yet: Airalo still holds this ICCID's usage (read by an earlier
                # run within 15 minutes); the line shows once it may be read again.
                unreadable[iccid] = (
                    reading.reason
                    if reading is not None and reading.reason
                    else "Airalo holds this line's usage for now (one read per 15 minutes)"
                )
            else:
                lines[iccid] = reading.line
        return Snapshot(
            wallet=wallet,
            lines=lines,
            missing_line_ids=frozenset(missing),
            unreadable_line_ids=frozenset(unreadable),
            unreadable_reasons=unreadable,
        )

    # --- packages and purchase ---------------------------------------------------------------

    @override
    async def async_list_packages(self, line_id: str) -> list[Package]:
        """Return the top-ups the eSIM can buy (``GET /sims/{iccid}/topups``)."""
        reply = await self._read(f"/sims/{quote(line_id, safe='')}/topups")
        if reply.status == 404 or reply.code == CODE_RECYCLED:
            raise LineNotFoundError(line_id)
        if not reply.ok:
            raise ProviderUnavailableError(
                f"Airalo answered {reply.status} for the top-ups of {line_id}: {reply.message}"
            )
        try:
            items = _rows(reply)
        except _MalformedError as err:
            raise ProviderUnavailableError(f"unexpected top-up listing: {err}") from err
        packages = {p.package_id: p for item in items if (p := _package(item)) is not None}
        return sorted(packages.values(), key=lambda p: (p.price.amount, p.package_id))

    def _prioritize(self, iccid: str) -> None:
        """Read this line first for a while: a top-up shows only after Airalo's cache."""
        state = self._usage.setdefault(iccid, _UsageState())
        window = USAGE_READ_INTERVAL + PROVIDER_USAGE_CACHE
        state.priority_until = self._clock() + window.total_seconds()

    @override
    async def async_purchase(self, line_id: str, package: Package, reference: str) -> Order:
        """Top the eSIM up via ``POST /orders/topups``, our reference in ``description``.

        Never retried here except after a 401 (refused before processing [I]).
        """
        if not reference:
            raise OrderRejectedError("reference", "a reference is required")
        form = {"package_id": package.package_id, "iccid": line_id, "description": reference}
        try:
            # The docs specify multipart/form-data for this endpoint.
            reply = await self._call("POST", "/orders/topups", form=form, multipart=True)
        except TransportError as err:
            if not err.sent:
                raise ProviderUnavailableError(str(err)) from err
            raise OrderOutcomeUnknownError(reference, str(err)) from err
        except UNUSABLE_ANSWER_ERRORS as err:
            raise OrderOutcomeUnknownError(reference, str(err)) from err
        if reply.ok:
            data = _payload(reply)
            order_id = (
                None if data is None else _as_str(data.get("id")) or _as_str(data.get("code"))
            )
            if data is None or order_id is None:
                # A 2xx means it was most likely placed: look it up, never resend.
                raise OrderOutcomeUnknownError(reference, "Airalo answered the order unreadably")
            self._prioritize(line_id)
            return Order(
                order_id=order_id,
                line_id=line_id,
                package_id=_as_str(data.get("package_id")) or package.package_id,
                reference=reference,
                status=OrderStatus.COMPLETED,
                price=_order_price(data) or package.price,
                created_at=parse_time(data.get("created_at")) or datetime.now(UTC),
            )
        raise self._purchase_error(reply, reference)

    @staticmethod
    def _purchase_error(reply: _Reply, reference: str) -> ProviderError:
        """Map a refused top-up to the purchase contract."""
        message = reply.message or f"HTTP {reply.status}"
        if reply.status == 403:
            return AuthenticationError(message)
        code = reply.code
        # A 4xx that explains itself is Airalo saying no; a bare one may come from a proxy
        # that never said what happened behind it, and 408 is a timeout, not a refusal.
        explained = reply.body is not None and (code is not None or reply.message is not None)
        if 400 <= reply.status < 500 and reply.status != 408 and explained:
            if code == CODE_UNEXPECTED:
                return OrderOutcomeUnknownError(reference, f"Airalo error 53: {message}")
            if code == CODE_INSUFFICIENT_CREDIT:
                return OrderRejectedError(str(code), message, insufficient_funds=True)
            return OrderRejectedError(
                str(code) if code is not None else f"http_{reply.status}", message
            )
        return OrderOutcomeUnknownError(reference, f"Airalo answered {reply.status}: {message}")

    @override
    async def async_find_order(
        self, line_id: str, reference: str, sent_at: datetime
    ) -> Order | None:
        """Find a top-up by our reference in its description (``filter[description]``).

        ``sent_at`` is not needed: the reference is unique. An entry that lists its eSIMs
        must list this one; one that does not is accepted on the reference alone [I].
        """
        params = {"filter[description]": reference, "include": "sims,status"}
        for page in range(1, MAX_ORDER_PAGES + 1):
            reply = await self._read_ok(
                "/orders", {**params, "limit": str(ORDERS_PAGE_SIZE), "page": str(page)}
            )
            try:
                rows = _rows(reply)
            except _MalformedError as err:
                raise ProviderUnavailableError(f"unexpected order listing: {err}") from err
            for entry in rows:
                if not _mentions(_as_str(entry.get("description")), reference):
                    continue
                iccids = _order_iccids(entry)
                if iccids is not None and line_id not in iccids:
                    continue
                self._prioritize(line_id)
                return Order(
                    order_id=_as_str(entry.get("id")) or _as_str(entry.get("code")) or reference,
                    line_id=line_id,
                    package_id=_as_str(entry.get("package_id")) or "",
                    reference=reference,
                    status=_order_status(entry),
                    price=_order_price(entry),
                    created_at=parse_time(entry.get("created_at")),
                )
            last = _last_page(reply)
            if not rows or (last is not None and page >= last) or _has_next(reply) is False:
                break
        return None
