"""eSIM Access (esimaccess.com): a prepaid wallet that buys data top-ups for eSIMs.

The partner API is ``POST`` + JSON under ``/api/v1/open/...``. Errors arrive as HTTP 200
with ``success: false``; money is an integer times 10,000; data is in bytes; times are UTC.
Lines are keyed by ``esimTranNo`` because ICCIDs are reused.

Request budget of ``async_fetch`` (M tracked eSIMs, E every eSIM on the account,
``P = max(1, ceil(E / 500))`` pages of ``esim/query``)::

    requests = 1 (balance/query) + min(M, P)

M < P reads each tracked eSIM by esimTranNo (one ``esim/query`` each); otherwise the pages
are read and the tracked eSIMs picked out (plus up to 5 direct looks, ``MAX_MISSING_CHECKS``,
for tracked eSIMs absent from the pages before they are called missing). The first refresh
does not know E yet: it reads page 1, then ``min(K, P - 1)`` more, K being the tracked
eSIMs not on page 1. 3 tracked of 5,000 eSIMs cost 4 requests (5 the first time), not 11.
Just 1 request when no line is tracked. ``async_list_lines`` makes P requests. Usage itself
lags 2-3 h at the provider, so polling faster than ``UPDATE_INTERVAL`` buys nothing.

Facts the docs do not state are marked ``[I]`` in comments below: the code tolerates both
readings where it can.
"""

from __future__ import annotations

import asyncio
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
import hashlib
import hmac
import json
import re
import time
from typing import Final
import uuid

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
    ProviderUnavailableError,
    RateLimitedError,
    Snapshot,
    redact_identifiers,
)
from .http import (
    UNUSABLE_ANSWER_ERRORS,
    HttpReply,
    MalformedError as _MalformedError,
    TransportError,
    exchange,
    from_epoch,
    json_or_none,
    parse_retry_after,
    to_utc,
)
from .paging import page_count, per_line_is_cheaper
from .plausible import check_line, check_size, expect_json
from .ratelimit import RateLimiter
from .urls import check_base_url

DEFAULT_BASE_URL: Final = "https://api.esimaccess.com"
API_PATH: Final = "/api/v1/open/"
# Usage is refreshed by the provider every 2-3 hours; reading more often only spends requests.
UPDATE_INTERVAL: Final = timedelta(minutes=30)
# "8 API request per second are allowed" (docs, v1.5).
REQUESTS_PER_SECOND: Final = 8
RATE_WINDOW_SECONDS: Final = 1.05
PAGE_SIZE: Final = 500  # the largest page the API accepts
MAX_PAGES: Final = 10_000  # pageNum is documented as 1-10000
# Tracked eSIMs absent from the list that are asked for one by one before being "missing".
MAX_MISSING_CHECKS: Final = 5
MONEY_SCALE: Final = Decimal(10_000)  # 10000 = 1.00
DEFAULT_CURRENCY: Final = "USD"
ACCOUNT_NAME: Final = "eSIM Access"
MAX_REFERENCE_LENGTH: Final = 50  # transactionId: "Max 50 chars"
# How far the provider's clock may differ from ours when matching createTime to sent_at [I].
CLOCK_SKEW: Final = timedelta(minutes=5)

_AUTH_CODES: Final = frozenset({"101001", "101002", "101003"})
_HEADER_CODES: Final = frozenset(f"0001{n:02d}" for n in range(1, 8))
# The docs only say 000101-000107 are "header/param validation"; which ones concern the
# credentials is not stated [I], so the message decides.
_AUTH_WORDS: Final = re.compile(
    r"access|signature|timestamp|request.?id|secret|auth|rt-", re.IGNORECASE
)
_INSUFFICIENT_FUNDS: Final = "200007"
_REJECTION_CODES: Final = frozenset(
    {"200002", "200005", "200006", "200008", "200009", "200010", "200011", "310241", "310243"}
)

_SUSPENDED_STATES: Final = frozenset({"CANCEL", "REVOKED", "SUSPENDED"})
_EXPIRED_STATES: Final = frozenset({"USED_EXPIRED", "UNUSED_EXPIRED"})
_DAILY_DATA_TYPE: Final = 2

# durationUnit words seen or expected; MONTH/YEAR lengths are our assumption [I].
_DURATION_UNITS: Final[Mapping[str, timedelta]] = {
    "HOUR": timedelta(hours=1),
    "DAY": timedelta(days=1),
    "WEEK": timedelta(weeks=1),
    "MONTH": timedelta(days=30),
    "YEAR": timedelta(days=365),
}

type JsonObject = Mapping[str, object]
# One page of esim/query: its records, ``pager.total`` and how many items it held.
type _Page = tuple[list[JsonObject], int | None, int]


@dataclass(frozen=True, slots=True)
class _Envelope:
    """The ``{success, errorCode, errorMessage, obj}`` wrapper of every answer."""

    success: bool
    code: str
    message: str
    obj: object


@dataclass(frozen=True, slots=True)
class _PendingTopup:
    """What a line looked like just before we sent a top-up, for reconciliation."""

    line_id: str
    package_id: str
    data_bytes: int | None
    total_before: int | None
    expires_before: datetime | None
    packages_before: int | None


# --- small, strict readers for untrusted JSON -------------------------------------------


def _as_object(value: object) -> JsonObject:
    """Return ``value`` as a JSON object or raise ``_MalformedError``."""
    if not isinstance(value, Mapping):
        raise _MalformedError(f"expected an object, got {type(value).__name__}")
    return value


def _as_list(value: object) -> Sequence[object]:
    """Return ``value`` as a JSON array (None counts as empty) or raise."""
    if value is None:
        return ()
    if not isinstance(value, list):
        raise _MalformedError(f"expected a list, got {type(value).__name__}")
    return value


def _int(value: object) -> int:
    """Read a non-negative integer; digit strings are tolerated [I]."""
    if isinstance(value, bool):
        raise _MalformedError("boolean where a number was expected")
    if isinstance(value, int):
        result = value
    elif isinstance(value, float) and value.is_integer():
        result = int(value)
    elif isinstance(value, str) and value.strip().isdigit():
        result = int(value.strip())
    else:
        raise _MalformedError(f"not an integer: {value!r}")
    if result < 0:
        raise _MalformedError(f"negative number: {result}")
    return result


def _opt_int(value: object) -> int | None:
    """Read an optional integer (absent, null or empty string -> None)."""
    return None if value is None or value == "" else _int(value)


def _opt_str(value: object) -> str | None:
    """Read an optional string; numbers are accepted as text (ICCIDs, MSISDNs) [I]."""
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise _MalformedError(f"not a string: {value!r}")
    return str(value)


def _str(value: object) -> str:
    """Read a required non-empty string."""
    if (result := _opt_str(value)) is None:
        raise _MalformedError("missing string")
    return result


def _code(value: object) -> str:
    """Normalize an error code; numbers lose their leading zeros, so pad them [I]."""
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:06d}"
    return "" if value is None else str(value).strip()


def parse_time(value: object) -> datetime | None:
    """Parse a provider timestamp into an aware UTC datetime (None when absent).

    The docs show ``2023-08-17T17:01:37+0000``; other ISO 8601 shapes (``Z``, ``+00:00``,
    a space for ``T``, fractions) and epoch numbers are tolerated [I]. A time without an
    offset is UTC, as the docs say all times are.
    """
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise _MalformedError("boolean where a time was expected")
    if isinstance(value, int | float):
        # Epoch numbers are not documented [I]; large ones are milliseconds.
        try:
            return from_epoch(value)
        except (OverflowError, OSError, ValueError) as err:  # out of range, NaN
            raise _MalformedError(f"not a time: {value!r}") from err
    if not isinstance(value, str):
        raise _MalformedError(f"not a time: {value!r}")
    text = value.strip()
    if text[-1:] in {"Z", "z"}:
        text = text[:-1] + "+00:00"
    try:
        # A time at the edge of the calendar can overflow in the shift to UTC.
        return to_utc(datetime.fromisoformat(text))
    except (OverflowError, ValueError) as err:
        raise _MalformedError(f"not a time: {value!r}") from err


def _money(value: object, currency: object) -> Money:
    """Turn a price times 10,000 into ``Money``."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise _MalformedError(f"not a price: {value!r}")
    try:
        units = Decimal(str(value).strip())
    except InvalidOperation as err:
        raise _MalformedError(f"not a price: {value!r}") from err
    if not units.is_finite() or units < 0:
        raise _MalformedError(f"not a price: {value!r}")
    code = _opt_str(currency) or DEFAULT_CURRENCY
    return Money(units / MONEY_SCALE, code.upper())


def _to_units(amount: Decimal) -> int:
    """Turn an amount back into the API's integer times 10,000."""
    return int((amount * MONEY_SCALE).to_integral_value())


def _validity(duration: object, unit: object) -> timedelta:
    """Turn ``duration`` + ``durationUnit`` into a timedelta (a missing unit means days [I])."""
    count = _int(duration)
    word = (_opt_str(unit) or "DAY").upper().removesuffix("S")
    if (step := _DURATION_UNITS.get(word)) is None:
        raise _MalformedError(f"unknown durationUnit {unit!r}")
    try:
        return count * step
    except OverflowError as err:
        raise _MalformedError(f"duration out of range: {duration!r}") from err


def _retry_after(headers: Mapping[str, str]) -> float | None:
    """Read ``Retry-After`` (lower-cased headers) as seconds: a number or an HTTP date."""
    return parse_retry_after(headers.get("retry-after"))


def _describe(err: BaseException, sent: bool) -> str:
    """Word a transport failure the way this client always has."""
    return f"{type(err).__name__}: {err}" if sent else f"cannot connect: {err}"


def _parse_envelope(body: bytes) -> _Envelope | None:
    """Read the answer's envelope; None when it is not the documented JSON object."""
    data = json_or_none(body)
    if not isinstance(data, dict):
        return None
    code = _code(data.get("errorCode"))
    success = data.get("success")
    if not isinstance(success, bool):
        # Some answers may omit ``success``; an empty or "0" code then means success [I].
        if "errorCode" not in data and "obj" not in data:
            return None
        success = code in {"", "0"}
    # The docs say errorMessage; clients in the wild read errorMsg [I]: accept both.
    message = data.get("errorMessage") or data.get("errorMsg") or ""
    return _Envelope(success=success, code=code, message=str(message), obj=data.get("obj"))


def _is_auth_failure(envelope: _Envelope) -> bool:
    """Tell whether an error envelope means the credentials (or our IP) were refused."""
    if envelope.code in _AUTH_CODES:
        return True
    return envelope.code in _HEADER_CODES and bool(_AUTH_WORDS.search(envelope.message))


def normalize_base_url(url: str) -> str:
    """Check ``url`` and return the API host it names.

    The docs give the host, their endpoints ``/api/v1/open/...``; users copy either, and
    every request adds the prefix, so a copied prefix is dropped here.

    Raises ``BaseUrlError`` for a URL no client may use.
    """
    return check_base_url(url).removesuffix(API_PATH.rstrip("/"))


def _account_id(access_code: str) -> str:
    """Derive a stable, non-reversible account id: the API exposes none [I]."""
    return "esimaccess-" + hashlib.sha256(access_code.encode()).hexdigest()[:16]


# --- turning records into the normalized model ------------------------------------------


# The record field that moves whenever data flows.
_USAGE_KEY: Final = "orderUsage"


def _first_package(record: JsonObject) -> JsonObject | None:
    """Return the first entry of ``packageList`` (the line's base plan), if any."""
    packages = _as_list(record.get("packageList"))
    return _as_object(packages[0]) if packages else None


def _plan_volume(first: JsonObject | None) -> int | None:
    """Return the base plan's allowance in bytes; None when absent or unreadable."""
    try:
        return None if first is None else _opt_int(first.get("volume"))
    except _MalformedError:
        return None


def _plan_validity(record: JsonObject, first: JsonObject | None) -> timedelta | None:
    """Return the base plan's validity (its ``duration`` in the eSIM's ``durationUnit``)."""
    if first is None or first.get("duration") is None:
        return None
    try:
        return _validity(first.get("duration"), record.get("durationUnit"))
    except _MalformedError:
        return None


def _plan_name(record: JsonObject) -> str | None:
    """Name the plan from the first package; packageName is not in E1's field list [I]."""
    if (first := _first_package(record)) is None:
        return None
    return _opt_str(first.get("packageName")) or _opt_str(first.get("packageCode"))


def _line_name(record: JsonObject) -> str:
    """Return a short human name: the ICCID's tail, as printed on the eSIM's label."""
    if iccid := _opt_str(record.get("iccid")):
        return f"eSIM {iccid[-4:]}"
    return f"eSIM {_str(record.get('esimTranNo'))}"


def _status(
    record: JsonObject, *, expires_at: datetime | None, daily: bool, total: int, used: int
) -> LineStatus:
    """Map esimStatus/smdpStatus (and the expiry) to a ``LineStatus``."""
    esim_status = (_opt_str(expect_json(record.get("esimStatus"), "esimStatus", str)) or "").upper()
    smdp_status = (_opt_str(expect_json(record.get("smdpStatus"), "smdpStatus", str)) or "").upper()
    if esim_status in _SUSPENDED_STATES:
        return LineStatus.SUSPENDED
    if esim_status in _EXPIRED_STATES:
        return LineStatus.EXPIRED
    # The status word may trail the clock (webhook-driven) [I]; the expiry is authoritative.
    if expires_at is not None and expires_at <= datetime.now(UTC):
        return LineStatus.EXPIRED
    if esim_status == "USED_UP":
        return LineStatus.DEPLETED
    if esim_status == "IN_USE":
        # A fixed allowance fully used may not have flipped to USED_UP yet [I].
        if not daily and total > 0 and used >= total:
            return LineStatus.DEPLETED
        return LineStatus.ACTIVE
    if esim_status == "GOT_RESOURCE":
        # Allocated: not in use until installed; ENABLED on a device counts as live [I].
        return LineStatus.ACTIVE if smdp_status == "ENABLED" else LineStatus.NOT_ACTIVE
    return LineStatus.UNKNOWN


def _size(record: JsonObject, field: str) -> int:
    """Read a data size in bytes; raise, naming the field, for a bad or impossible one."""
    try:
        value = _int(record.get(field))
    except _MalformedError as err:
        raise _MalformedError(f"{field}: {err}") from err
    return check_size(value, field)


def _usage(record: JsonObject) -> int:
    """Read ``orderUsage``, the bytes used so far."""
    return _size(record, _USAGE_KEY)


def _line(record: JsonObject) -> Line:
    """Normalize one ``esimList`` record; raises ``_MalformedError`` on a bad record.

    A daily plan (``dataType`` 2) is modelled as every provider's daily plan is: its
    ``totalVolume`` is the allowance of one day [I: the docs say "daily limit" only], in
    ``daily_data_bytes``; over the whole plan the line is unlimited (``unlimited``, no
    total and no "remaining" that could read as the data left until expiry).
    """
    line_id = _str(record.get("esimTranNo"))
    volume = _size(record, "totalVolume")
    used = _usage(record)
    expires_at = parse_time(record.get("expiredTime"))
    data_type = _opt_int(record.get("dataType"))
    first = _first_package(record)
    daily = data_type == _DAILY_DATA_TYPE
    return check_line(
        Line(
            line_id=line_id,
            name=_line_name(record),
            status=_status(record, expires_at=expires_at, daily=daily, total=volume, used=used),
            plan_name=_plan_name(record),
            package_id=None if first is None else _opt_str(first.get("packageCode")),
            # Top-ups carry other codes than the plan: a renewal matches them by these.
            plan_data_bytes=_plan_volume(first),
            plan_validity=_plan_validity(record, first),
            unlimited=daily,
            data_total_bytes=None if daily else volume,
            data_used_bytes=used,
            data_remaining_bytes=None if daily else max(volume - used, 0),
            daily_data_bytes=volume if daily else None,
            expires_at=expires_at,
            iccid=_opt_str(record.get("iccid")),
            phone_number=_opt_str(record.get("msisdn")),
        )
    )


def _only_usage_moved(before: JsonObject, after: JsonObject) -> bool:
    """Return True when two records of an eSIM differ in ``orderUsage`` alone."""
    return (
        before.get(_USAGE_KEY) != after.get(_USAGE_KEY)
        and {**after, _USAGE_KEY: before.get(_USAGE_KEY)} == before
    )


def _with_usage(line: Line, record: JsonObject) -> Line:
    """Return ``line`` (read from an earlier record) with the usage of ``record``.

    What the usage decides: the used and remaining data, and the status (a fixed allowance
    used up, or an expiry passed since). Same results as ``_line(record)``, for less.
    """
    used = _usage(record)
    total = line.data_total_bytes or 0
    daily = line.unlimited
    return replace(
        line,
        status=_status(record, expires_at=line.expires_at, daily=daily, total=total, used=used),
        data_used_bytes=used,
        data_remaining_bytes=None if daily else max(total - used, 0),
    )


def _package(item: JsonObject) -> Package:
    """Normalize one ``package/list`` entry."""
    volume = _int(item.get("volume"))
    # Packages may carry dataType like eSIMs do; not in E1's field list [I].
    daily = _opt_int(item.get("dataType")) == _DAILY_DATA_TYPE
    code = _str(item.get("packageCode"))
    return Package(
        package_id=code,
        name=_opt_str(item.get("name")) or code,
        price=_money(item.get("price"), item.get("currencyCode")),
        data_bytes=None if daily else volume,
        validity=_validity(item.get("duration"), item.get("durationUnit")),
        daily_bytes=volume if daily else None,
    )


class EsimAccessProvider(Provider):
    """A client of the eSIM Access partner API."""

    # There is no top-up order lookup; ``async_find_order`` reads the line back. The line's
    # packageList is written in the same request that answers the top-up (it returns the
    # new expiry), but we cannot see how fast the read side catches up [I]: allow a wide
    # margin before "not found" may be taken as "never placed".
    order_lookup_settles_after = timedelta(minutes=30)
    # A top-up answer already carries the new expiry/volume; the list may lag a little [I].
    renewal_visible_within = timedelta(minutes=30)
    # Without an order history, "not found on the line" never proves "not charged".
    lookup_proves_absence = False
    # "Top ups can be requested while the eSIM is in New, In Use or Depleted status, but
    # not after eSIM expiry."
    renews_expired_lines = False

    def __init__(
        self,
        session: aiohttp.ClientSession,
        access_code: str,
        *,
        secret_key: str | None = None,
        base_url: str = DEFAULT_BASE_URL,
    ) -> None:
        """Talk to ``base_url`` with ``access_code`` (and HMAC-sign if ``secret_key``)."""
        self._session = session
        self._access_code = access_code
        self._secret_key = secret_key
        self._base_url = normalize_base_url(base_url)
        # A window a little over a second keeps loopback and network jitter from putting
        # nine requests into one of the provider's one-second windows.
        self.rate_limiter = RateLimiter(REQUESTS_PER_SECOND, period=RATE_WINDOW_SECONDS)
        # Separate connect timeout: only a failed connect proves nothing was sent.
        self.timeout = aiohttp.ClientTimeout(total=30, sock_connect=10)
        # Last record seen per esimTranNo: the ICCID for package/list and a baseline for
        # reconciling a lost top-up answer.
        self._records: dict[str, JsonObject] = {}
        # The last record, the line read from it and when, per tracked eSIM.
        self._parsed: dict[str, tuple[JsonObject, Line, datetime]] = {}
        self._pending: dict[str, _PendingTopup] = {}
        # How many eSIMs the account had at the last read of a whole-account page, and
        # whether esim/query ignores the esimTranNo filter [I]: they decide between paging
        # and asking for each tracked eSIM (see ``_tracked_records``).
        self._account_size: int | None = None
        self._filter_ignored = False

    # --- transport ------------------------------------------------------------------

    def _headers(self, body: str) -> dict[str, str]:
        """Build the auth headers; the signature covers the exact body bytes sent."""
        headers = {"Content-Type": "application/json", "RT-AccessCode": self._access_code}
        if self._secret_key is not None:
            request_id = str(uuid.uuid4())
            timestamp = str(int(time.time() * 1000))
            sign_data = timestamp + request_id + self._access_code + body
            # The docs' comment says lowercase hex, their example shows uppercase [I].
            signature = hmac.new(
                self._secret_key.encode(), sign_data.encode(), hashlib.sha256
            ).hexdigest()
            headers |= {
                "RT-RequestID": request_id,
                "RT-Timestamp": timestamp,
                "RT-Signature": signature,
            }
        return headers

    async def _exchange(self, endpoint: str, payload: JsonObject) -> HttpReply:
        """POST ``payload`` to an endpoint under the rate limit and return the raw answer."""
        body = json.dumps(payload, separators=(",", ":"), ensure_ascii=False)
        await self.rate_limiter.acquire()
        return await exchange(
            self._session,
            "POST",
            f"{self._base_url}{API_PATH}{endpoint}",
            data=body.encode(),
            headers=self._headers(body),
            client_timeout=self.timeout,
            raise_for_status=False,
            describe=_describe,
            # Unlike the other clients, a bare OSError is not read as a transport failure.
            sent_errors=(TimeoutError, aiohttp.ClientError),
        )

    def _check_http(self, reply: HttpReply) -> None:
        """Raise for the HTTP statuses that mean the same for reads and purchases."""
        if reply.status == 429:
            retry_after = _retry_after(reply.headers)
            # The status code is not documented, only the 8/s limit [I]; hold every request.
            self.rate_limiter.block_for(1.0 if retry_after is None else retry_after)
            raise RateLimitedError("eSIM Access rate limit hit", retry_after=retry_after)
        if reply.status in {401, 403}:
            raise AuthenticationError(f"eSIM Access refused the request (HTTP {reply.status})")

    async def _call(self, endpoint: str, payload: JsonObject) -> object:
        """Make a read request and return its ``obj``, mapping every failure."""
        try:
            reply = await self._exchange(endpoint, payload)
        except TransportError as err:
            raise ProviderUnavailableError(str(err)) from err
        self._check_http(reply)
        if reply.status == 404:
            # Every documented endpoint exists: a 404 means the base URL is wrong.
            raise NotProviderApiError(f"HTTP 404 for {endpoint}")
        if reply.status != 200:
            raise ProviderUnavailableError(f"eSIM Access answered HTTP {reply.status}")
        if (envelope := _parse_envelope(reply.body)) is None:
            raise ProviderUnavailableError("eSIM Access answered with malformed JSON")
        if not envelope.success:
            if _is_auth_failure(envelope):
                raise AuthenticationError(f"{envelope.code}: {envelope.message}")
            raise ProviderUnavailableError(f"eSIM Access error {envelope.code}: {envelope.message}")
        return envelope.obj

    # --- reading --------------------------------------------------------------------

    async def _query_page(self, filters: JsonObject, page: int) -> _Page:
        """Read one page of ``esim/query``.

        Return its records, ``pager.total`` (None if absent [I]) and the raw item count.
        """
        payload = {"orderNo": "", "iccid": "", **filters}
        payload["pager"] = {"pageNum": page, "pageSize": PAGE_SIZE}
        try:
            obj = _as_object(await self._call("esim/query", payload))
            items = _as_list(obj.get("esimList"))
            pager = obj.get("pager")
            total = _opt_int(_as_object(pager).get("total")) if pager is not None else None
        except _MalformedError as err:
            raise ProviderUnavailableError(f"unexpected esim/query answer: {err}") from err
        # A record that is not even an object cannot be tied to a line; drop it.
        records = [item for item in items if isinstance(item, Mapping)]
        if not filters:
            self._records.update(_by_id(records))
            if total is not None:
                # Any page of the whole account says how large it is (see _tracked_records).
                self._account_size = total
        return records, total, len(items)

    async def _query_all(self, first_page: _Page | None = None) -> list[JsonObject]:
        """Read every eSIM on the account, following every page of ``pager.total``.

        ``first_page`` is page 1 when it was already read.
        """
        first, total, count = first_page or await self._query_page({}, 1)
        pages: list[list[JsonObject]] = [first]
        if total is not None:
            last = min(page_count(total, PAGE_SIZE), MAX_PAGES)
            # Later pages are independent; the rate limiter keeps the burst under 8/s.
            rest = await asyncio.gather(*(self._query_page({}, n) for n in range(2, last + 1)))
            pages.extend(items for items, _, _ in rest)
        else:
            # Without a pager [I], only a short page marks the end.
            number = 1
            while count >= PAGE_SIZE and number < MAX_PAGES:
                number += 1
                items, _, count = await self._query_page({}, number)
                pages.append(items)
        records: dict[str, JsonObject] = {}
        unkeyed: list[JsonObject] = []
        for page in pages:
            for record in page:
                key = record.get("esimTranNo")
                if isinstance(key, str) and key:
                    # A record can shift across a page boundary while we read; keep one.
                    records[key] = record
                else:
                    unkeyed.append(record)
        return [*records.values(), *unkeyed]

    async def _query_one(self, line_id: str) -> JsonObject | None:
        """Ask ``esim/query`` for one esimTranNo (one request); None if not returned.

        An answer that holds other eSIMs shows the filter was ignored [I]: from then on
        this client reads the tracked eSIMs by paging only.
        """
        records, _, _ = await self._query_page({"esimTranNo": line_id}, 1)
        found: JsonObject | None = None
        for record in records:
            if record.get("esimTranNo") == line_id:
                found = self._records[line_id] = record
            else:
                self._filter_ignored = True
        return found

    async def _query_each(self, line_ids: Collection[str]) -> dict[str, JsonObject]:
        """Ask for each eSIM by esimTranNo (one request each); return those found."""
        ordered = sorted(line_ids)
        found = await asyncio.gather(*(self._query_one(line_id) for line_id in ordered))
        return {
            line_id: record
            for line_id, record in zip(ordered, found, strict=True)
            if record is not None
        }

    def _reads_per_line(self, lines: int, pages: int | None) -> bool:
        """Tell whether asking for ``lines`` eSIMs one by one beats ``pages`` more pages."""
        return not self._filter_ignored and pages is not None and per_line_is_cheaper(lines, pages)

    async def _tracked_records(self, wanted: Collection[str]) -> dict[str, JsonObject]:
        """Return the records of the tracked eSIMs on the account, in the fewest requests.

        Paging costs ``P = ceil(E / 500)`` requests whatever is tracked; asking by
        esimTranNo costs one per eSIM, so M tracked eSIMs are asked for one by one when
        M < P (see ``paging``). The account size E is known from an earlier page; before
        that, page 1 tells it, and the tracked eSIMs not on it are asked for one by one when
        that beats the remaining pages. An eSIM asked for by its esimTranNo and not
        returned is missing.
        """
        known_pages = (
            None if self._account_size is None else page_count(self._account_size, PAGE_SIZE)
        )
        if self._reads_per_line(len(wanted), known_pages):
            found = await self._query_each(wanted)
            if not self._filter_ignored:
                return found
        first = await self._query_page({}, 1)
        by_id = _by_id(first[0])
        absent = set(wanted) - by_id.keys()
        more_pages = None if first[1] is None else page_count(first[1], PAGE_SIZE) - 1
        if not absent:
            return by_id
        if self._reads_per_line(len(absent), more_pages):
            by_id.update(await self._query_each(absent))
            if not self._filter_ignored:
                return by_id
        by_id = _by_id(await self._query_all(first))
        if self._filter_ignored:
            return by_id  # asking for one eSIM would only read page 1 again
        # Paging is not a snapshot: an eSIM removed meanwhile shifts the next page, so a
        # record can slip between pages. Ask for a few absent ones directly before
        # calling them missing (no cost when nothing is missing).
        for line_id in sorted(set(wanted) - by_id.keys())[:MAX_MISSING_CHECKS]:
            if (found_one := await self._query_one(line_id)) is not None:
                by_id[line_id] = found_one
        return by_id

    async def _query_line(self, line_id: str) -> JsonObject | None:
        """Read one eSIM by esimTranNo, or None if the account has no such eSIM.

        The docs list orderNo/iccid as filters; esimTranNo is used by clients in the wild and
        recommended for status checks [I]. If the answer does not contain the eSIM (the
        filter was ignored), fall back to the full list.
        """
        if not self._filter_ignored and (record := await self._query_one(line_id)) is not None:
            return record
        for record in await self._query_all():
            if record.get("esimTranNo") == line_id:
                return record
        return None

    async def _wallet(self) -> Money:
        """Read the account balance."""
        obj = await self._call("balance/query", {})
        try:
            data = _as_object(obj)
            return _money(data.get("balance"), data.get("currencyCode"))
        except _MalformedError as err:
            raise ProviderUnavailableError(f"unexpected balance/query answer: {err}") from err

    async def async_get_account(self) -> Account:
        """Check the access code with ``balance/query`` and return the account."""
        return Account(
            account_id=_account_id(self._access_code),
            name=ACCOUNT_NAME,
            wallet=await self._wallet(),
        )

    async def async_list_lines(self) -> list[LineSummary]:
        """Return every eSIM on the account (all pages); unreadable ones get a bare name."""
        summaries: list[LineSummary] = []
        for record in await self._query_all():
            line_id = record.get("esimTranNo")
            if not isinstance(line_id, str) or not line_id:
                continue
            try:
                summaries.append(
                    LineSummary(
                        line_id=line_id, name=_line_name(record), plan_name=_plan_name(record)
                    )
                )
            except _MalformedError:
                # Still offer it: the user may want to track it once it reads well.
                summaries.append(LineSummary(line_id=line_id, name=f"eSIM {line_id}"))
        return summaries

    async def async_fetch(self, line_ids: Collection[str]) -> Snapshot:
        """Read the wallet and the tracked eSIMs (see the module docstring for the cost)."""
        wanted = set(line_ids)
        if not wanted:
            return Snapshot(wallet=await self._wallet(), lines={})
        wallet, by_id = await asyncio.gather(self._wallet(), self._tracked_records(wanted))
        lines, unreadable = self._read_lines(wanted & by_id.keys(), by_id)
        return Snapshot(
            wallet=wallet,
            lines=lines,
            missing_line_ids=frozenset(wanted - by_id.keys()),
            unreadable_line_ids=frozenset(unreadable),
            unreadable_reasons=unreadable,
        )

    def _read_lines(
        self, line_ids: Collection[str], by_id: Mapping[str, JsonObject]
    ) -> tuple[dict[str, Line], dict[str, str]]:
        """Turn the tracked records into lines; return them and why others are unreadable."""
        lines: dict[str, Line] = {}
        unreadable: dict[str, str] = {}
        now = datetime.now(UTC)
        parsed: dict[str, tuple[JsonObject, Line, datetime]] = {}
        for line_id in line_ids:
            record = by_id[line_id]
            # Usage changes every 2-3 hours at most: an unchanged record gives the same line
            # (a C-level dict comparison), unless its expiry has passed since it was parsed
            # (the status depends on the clock; once past, it stays past).
            earlier = self._parsed.get(line_id)
            if earlier is not None and earlier[0] == record:
                expires = earlier[1].expires_at
                if expires is None or expires > now or expires <= earlier[2]:
                    lines[line_id] = earlier[1]
                    parsed[line_id] = earlier
                    continue
            try:
                if earlier is not None and _only_usage_moved(earlier[0], record):
                    # The commonest change (data flowed): redo only what usage decides.
                    lines[line_id] = _with_usage(earlier[1], record)
                else:
                    lines[line_id] = _line(record)
            except _MalformedError as err:
                unreadable[line_id] = redact_identifiers(str(err))
            else:
                parsed[line_id] = (record, lines[line_id], now)
        self._parsed = parsed
        return lines, unreadable

    async def _iccid(self, line_id: str) -> str:
        """Return the line's ICCID, from the last read or by asking."""
        record = self._records.get(line_id)
        iccid = None if record is None else _record_iccid(record)
        if iccid is None:
            record = await self._query_line(line_id)
            if record is None:
                raise LineNotFoundError(line_id)
            iccid = _record_iccid(record)
        if iccid is None:
            raise ProviderUnavailableError(f"eSIM {line_id} has no ICCID")
        return iccid

    async def async_list_packages(self, line_id: str) -> list[Package]:
        """Return the top-ups the line can buy (``package/list`` type TOPUP by ICCID)."""
        iccid = await self._iccid(line_id)
        obj = await self._call("package/list", {"type": "TOPUP", "iccid": iccid})
        try:
            items = _as_list(_as_object(obj).get("packageList"))
        except _MalformedError as err:
            raise ProviderUnavailableError(f"unexpected package/list answer: {err}") from err
        packages: list[Package] = []
        for item in items:
            try:
                packages.append(_package(_as_object(item)))
            except _MalformedError:
                continue  # one odd catalogue entry must not hide the others
        return packages

    # --- buying ---------------------------------------------------------------------

    def _remember_pending(self, line_id: str, package: Package, reference: str) -> None:
        """Note the line's last known state, so a lost answer can be reconciled."""
        total = expires = count = None
        if (record := self._records.get(line_id)) is not None:
            try:
                total = _opt_int(record.get("totalVolume"))
                expires = parse_time(record.get("expiredTime"))
                count = len(_as_list(record.get("packageList")))
            except _MalformedError:
                total = expires = count = None
        self._pending[reference] = _PendingTopup(
            line_id=line_id,
            package_id=package.package_id,
            data_bytes=package.data_bytes or package.daily_bytes,
            total_before=total,
            expires_before=expires,
            packages_before=count,
        )

    def _purchase_error(self, envelope: _Envelope, reference: str) -> Exception:
        """Map a ``success: false`` top-up answer to the purchase contract."""
        if _is_auth_failure(envelope):
            return AuthenticationError(f"{envelope.code}: {envelope.message}")
        if envelope.code == _INSUFFICIENT_FUNDS:
            return OrderRejectedError(envelope.code, envelope.message, insufficient_funds=True)
        if envelope.code in _REJECTION_CODES or envelope.code in _HEADER_CODES:
            # A validation answer: the provider looked at the order and said no.
            return OrderRejectedError(envelope.code, envelope.message)
        # 000001 (server error), 900001 (busy) and anything undocumented: we cannot know
        # whether the top-up was applied, so it must be looked up, never resent.
        return OrderOutcomeUnknownError(
            reference, f"eSIM Access error {envelope.code}: {envelope.message}"
        )

    async def async_purchase(self, line_id: str, package: Package, reference: str) -> Order:
        """Top the line up with ``package`` via ``esim/topup``, ``reference`` as transactionId.

        Never retried here: a repeat would be a second purchase unless the provider
        deduplicates the transactionId, which is documented for orders only [I].
        """
        if not reference or len(reference) > MAX_REFERENCE_LENGTH:
            raise OrderRejectedError("reference", "transactionId must be 1-50 characters")
        payload = {
            "esimTranNo": line_id,
            "packageCode": package.package_id,
            "transactionId": reference,
            # The price we expect, so a changed price is refused rather than charged.
            "amount": str(_to_units(package.price.amount)),
        }
        self._remember_pending(line_id, package, reference)
        try:
            return await self._send_topup(line_id, package, reference, payload)
        except OrderOutcomeUnknownError:
            raise  # keep the baseline: async_find_order needs it
        except Exception:
            self._pending.pop(reference, None)
            raise

    async def _send_topup(
        self, line_id: str, package: Package, reference: str, payload: JsonObject
    ) -> Order:
        """Send the top-up once and map its answer to the purchase contract."""
        try:
            reply = await self._exchange("esim/topup", payload)
        except TransportError as err:
            if not err.sent:
                raise ProviderUnavailableError(str(err)) from err
            raise OrderOutcomeUnknownError(reference, str(err)) from err
        except UNUSABLE_ANSWER_ERRORS as err:
            raise OrderOutcomeUnknownError(reference, str(err)) from err
        self._check_http(reply)  # 429 / 401 / 403: refused at the door, nothing applied [I]
        if reply.status != 200:
            raise OrderOutcomeUnknownError(reference, f"eSIM Access answered HTTP {reply.status}")
        if (envelope := _parse_envelope(reply.body)) is None:
            raise OrderOutcomeUnknownError(reference, "eSIM Access answered with malformed JSON")
        if not envelope.success:
            raise self._purchase_error(envelope, reference)
        self._pending.pop(reference, None)
        return self._order_from_topup(line_id, package, reference, envelope.obj)

    def _order_from_topup(
        self, line_id: str, package: Package, reference: str, obj: object
    ) -> Order:
        """Build the order from a successful top-up answer, tolerating odd fields."""
        data = obj if isinstance(obj, Mapping) else {}
        try:
            new_expires = parse_time(data.get("expiredTime"))
        except _MalformedError:
            new_expires = None
        try:
            new_total = _opt_int(data.get("totalVolume"))
        except _MalformedError:
            new_total = None
        # orderNo only appears in a reseller's variant [I]; the transactionId is ours anyway.
        order_id = data.get("orderNo") or data.get("transactionId") or reference
        # The cached record is stale now; forget it so the baseline of a next top-up is fresh.
        self._records.pop(line_id, None)
        return Order(
            order_id=str(order_id),
            line_id=line_id,
            package_id=package.package_id,
            reference=reference,
            status=OrderStatus.COMPLETED,
            price=package.price,
            created_at=datetime.now(UTC),
            new_expires_at=new_expires,
            new_data_total_bytes=new_total,
        )

    async def async_find_order(
        self, line_id: str, reference: str, sent_at: datetime
    ) -> Order | None:
        """Look for a top-up whose answer was lost, by reading the line back.

        eSIM Access has no top-up order lookup. Its documented recovery, resending
        ``esim/topup`` with the same transactionId, is NOT used: deduplication is documented
        for new orders only, so for a top-up it might charge twice.

        Evidence, strongest first:

        1. a ``packageList`` entry carrying our transactionId (not in the docs [I]): proves
           the top-up was applied; when top-up entries carry transactionIds but none is
           ours, that settles it: None, and the weaker signs below are not consulted;
        2. a top-up entry in ``packageList`` created at or after ``sent_at`` (``createTime``
           is seen in clients in the wild [I]), for the package we sent when this process
           still knows it: very likely ours;
        3. only within this process, which remembers the line as it was before sending: the
           line gained a package entry, or its volume grew by the package's volume, or its
           expiry moved later.

        2 and 3 can mistake a top-up made elsewhere in the same window (e.g. by hand in the
        portal) for ours; that errs on the side of never paying twice. None never proves
        that the top-up did not happen: when the API exposes neither transactionId nor
        createTime and the process restarted, a top-up that did happen is not found. Trust
        None only after ``order_lookup_settles_after``. A record that cannot be read raises
        ``ProviderUnavailableError`` (ask again later) rather than answer None.
        """
        record = await self._query_line(line_id)
        if record is None:
            return None
        pending = self._pending.get(reference)
        try:
            entries = [_as_object(item) for item in _as_list(record.get("packageList"))]
            expires = parse_time(record.get("expiredTime"))
            total = _opt_int(record.get("totalVolume"))
        except _MalformedError as err:
            # "Cannot tell" must not read as "not placed".
            raise ProviderUnavailableError(f"eSIM {line_id} cannot be read: {err}") from err
        if pending is not None and pending.line_id != line_id:
            pending = None
        match = self._evidence(entries, reference, pending, sent_at, total=total, expires=expires)
        if match is None:
            return None
        self._pending.pop(reference, None)
        package_id = _opt_str(match.get("packageCode")) or (
            pending.package_id if pending is not None else ""
        )
        return Order(
            order_id=str(match.get("orderNo") or reference),
            line_id=line_id,
            package_id=package_id,
            reference=reference,
            status=OrderStatus.COMPLETED,
            created_at=_safe_time(match.get("createTime")),
            new_expires_at=expires,
            new_data_total_bytes=total,
        )

    @staticmethod
    def _evidence(
        entries: Sequence[JsonObject],
        reference: str,
        pending: _PendingTopup | None,
        sent_at: datetime,
        *,
        total: int | None,
        expires: datetime | None,
    ) -> JsonObject | None:
        """Return the packageList entry (or a stand-in) showing our top-up, if any."""
        for entry in entries:
            if entry.get("transactionId") == reference:
                return entry
        # All entries but the first (the plan the eSIM was bought with) are top-ups. When
        # they carry transactionIds, they say whose each one is; none is ours, so weaker
        # signs (someone else's top-up) must not count.
        topups = entries[1:]
        if any("transactionId" in entry for entry in topups):
            return None
        for entry in topups:
            created = _safe_time(entry.get("createTime"))
            if created is None or created < sent_at - CLOCK_SKEW:
                continue
            # After a restart we no longer know the package sent: any new top-up counts.
            if pending is None or entry.get("packageCode") == pending.package_id:
                return entry
        if pending is None:
            return None
        grew = pending.packages_before is not None and len(entries) > pending.packages_before
        more_data = (
            pending.total_before is not None
            and pending.data_bytes is not None
            and total is not None
            and total >= pending.total_before + pending.data_bytes
        )
        later = (
            pending.expires_before is not None
            and expires is not None
            and expires > pending.expires_before
        )
        return {"packageCode": pending.package_id} if grew or more_data or later else None


def _by_id(records: Sequence[JsonObject]) -> dict[str, JsonObject]:
    """Key records by esimTranNo; records without one cannot be tied to a line."""
    return {
        key: record
        for record in records
        if isinstance(key := record.get("esimTranNo"), str) and key
    }


def _record_iccid(record: JsonObject) -> str | None:
    """Return a record's ICCID, read as ``_line`` reads it (numbers too [I]); None if unusable."""
    try:
        return _opt_str(record.get("iccid"))
    except _MalformedError:
        return None


def _safe_time(value: object) -> datetime | None:
    """Parse a time where a bad value should just be ignored."""
    try:
        return parse_time(value)
    except _MalformedError:
        return None
