"""1NCE Management API: read the data quota of 1NCE IoT SIMs and order volume top-ups.

Auth is OAuth client credentials with HTTP Basic (``POST /oauth/token``); the bearer token
lives 3600 s and is cached, renewed shortly before it expires and once on a 401. Data is
in megabytes with 1 MB = 1024 KB (so x 1,048,576 bytes); the remaining ``volume`` can be
negative and is clamped at 0. Lines are keyed by ICCID. There is no wallet: top-ups are
invoiced by the payment method.

Request budget
    ``async_fetch`` with M tracked lines (T = every SIM on the account, listed in
    ``P = max(1, ceil(T / 100))`` pages)::

        requests = min(M, P)         (GET /v1/sims pages, or GET /v1/sims/{iccid} per tracked
                                      SIM when M < P: status, label, MSISDN, activation)
                   + M'              (GET /v1/sims/{iccid}/quota/data per tracked SIM found)
                   + 1 POST /oauth/token when the cached token is (nearly) 60 min old

    M' <= M. Paging also asks for up to 5 tracked SIMs absent from the listing by
    themselves before calling them missing. The first refresh does not know T yet: it reads
    page 1, then ``min(K, P - 1)`` more, K being the tracked SIMs not on page 1. None at
    all when no line is tracked. ``async_list_lines`` sends P;
    ``async_list_packages`` one (the SIM is checked); ``async_purchase`` the top-up plus one
    ``GET /v1/orders/{n}`` to follow the ``Location`` it answers (without one [I], an
    ``async_find_order`` instead); ``async_find_order`` 1-6 pages of 10 orders (one more if
    ``sort=-order_date`` is refused [I]). ``/sims`` calls keep to 10 per second and
    ``/orders`` calls to 100 per 5 minutes, the documented limits.

Packages
    1NCE has no per-SIM catalogue: a top-up adds the volume the product defines. The one
    package offered is described by the constructor (``topup_volume_mb``, ``topup_price``,
    ``currency``); the defaults are assumptions [I] to be set from the customer's contract.

Idempotency
    None. ``async_find_order`` looks for a TOPUP order containing the ICCID, placed at or
    after the send time, in ``GET /v1/orders`` (newest first).

Facts marked [I] are inferences from the docs, not documented; the code is tolerant there.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Callable, Collection, Mapping, Sequence
import dataclasses
from datetime import UTC, datetime, timedelta
from decimal import Decimal
import hashlib
import logging
import time
from typing import Final, override
from urllib.parse import quote

import aiohttp

from ..base import (
    Account,
    AuthenticationError,
    Line,
    LineNotFoundError,
    LineSummary,
    Money,
    NotProviderApiError,
    Order,
    OrderOutcomeUnknownError,
    OrderRejectedError,
    Package,
    Provider,
    ProviderError,
    ProviderUnavailableError,
    RateLimitedError,
    Snapshot,
    pick_refresh_error,
    redact_identifiers,
)
from ..http import (
    UNUSABLE_ANSWER_ERRORS,
    MalformedError,
    TransportError,
    as_str,
    describe_for,
    exchange,
    json_or_none,
    parse_retry_after,
    safe_decimal,
)
from ..oauth import BearerToken
from ..paging import page_count, per_line_is_cheaper
from ..ratelimit import RateLimiter
from ..urls import with_api_path
from .const import (
    API_PATH,
    CLOCK_SKEW,
    DEFAULT_BASE_URL,
    DEFAULT_CURRENCY,
    DEFAULT_REQUEST_TIMEOUT,
    DEFAULT_TOKEN_LIFETIME,
    DEFAULT_TOPUP_PRICE,
    DEFAULT_TOPUP_VOLUME_MB,
    MAX_MISSING_CHECKS,
    MAX_ORDER_PAGES,
    MAX_PAGES,
    MB,
    ORDERS_PAGE_SIZE,
    ORDERS_REQUESTS_PER_WINDOW,
    ORDERS_WINDOW_SECONDS,
    REQUEST_ERRORS,
    SIMS_PAGE_SIZE,
    SIMS_REQUESTS_PER_SECOND,
    SIMS_WINDOW_SECONDS,
    TOKEN_REFRESH_MARGIN,
    TOPUP_PACKAGE_ID,
)
from .parse import (
    Reply,
    expired_line,
    header_int,
    line_name,
    listing_rows,
    order_number_from,
    order_status,
    parse_line,
    parse_time,
    purchase_error,
    sim_not_ours,
)
from .reconcile import collect_candidates, newest_first

_LOGGER = logging.getLogger(__name__)
_DESCRIBE: Final = describe_for("1NCE")


def normalize_base_url(url: str) -> str:
    """Check ``url``; a bare host gets the ``/management-api`` path.

    Raises ``BaseUrlError`` for a URL no client may use.
    """
    return with_api_path(url, API_PATH)


class OnenceProvider(Provider):
    """A client of the 1NCE Management API; a line is a SIM, keyed by its ICCID."""

    # A top-up answers 201 with its order at once; allow the order list a margin [I].
    order_lookup_settles_after = timedelta(minutes=15)
    # [I] 1NCE states no delay for the quota to reflect a top-up.
    renewal_visible_within = timedelta(minutes=30)
    # "The following SIMs are expired and cannot be modified via API. Only extensions are
    # permitted" (HTTP 422): a top-up of an expired SIM is refused.
    renews_expired_lines = False

    def __init__(
        self,
        session: aiohttp.ClientSession,
        client_id: str,
        client_secret: str,
        *,
        base_url: str = DEFAULT_BASE_URL,
        topup_volume_mb: int = DEFAULT_TOPUP_VOLUME_MB,
        topup_price: Decimal = DEFAULT_TOPUP_PRICE,
        currency: str = DEFAULT_CURRENCY,
        payment_method: str | None = None,
        request_timeout: float = DEFAULT_REQUEST_TIMEOUT,
        clock: Callable[[], float] = time.monotonic,
        rate_limiter: RateLimiter | None = None,
    ) -> None:
        """Talk to ``base_url`` as the API user ``client_id``.

        ``topup_volume_mb``/``topup_price``/``currency`` describe the product's top-up (the
        API cannot tell). ``payment_method`` is sent as ``?payment_method=`` (None: 1NCE's
        default, bank transfer). ``clock`` (monotonic seconds) times the token. Pass one
        ``rate_limiter`` to every client of the same customer: /sims is limited per customer.
        """
        self._session = session
        self._client_id = client_id
        self._client_secret = client_secret
        self._base_url = normalize_base_url(base_url)
        self._topup = Package(
            package_id=TOPUP_PACKAGE_ID,
            name=f"1NCE top-up {topup_volume_mb} MB",
            price=Money(topup_price, currency.upper()),
            data_bytes=topup_volume_mb * MB,
            # [I] A top-up adds volume within the SIM's lifetime; it does not extend it.
            validity=timedelta(0),
        )
        self._payment_method = payment_method
        # A separate connect timeout: only a failed connect proves nothing was sent.
        self.timeout = aiohttp.ClientTimeout(total=request_timeout, sock_connect=10)
        self._clock = clock
        self._sims_limiter = rate_limiter or RateLimiter(
            SIMS_REQUESTS_PER_SECOND, period=SIMS_WINDOW_SECONDS
        )
        self._orders_limiter = RateLimiter(ORDERS_REQUESTS_PER_WINDOW, period=ORDERS_WINDOW_SECONDS)
        self._token = BearerToken(
            default_lifetime=DEFAULT_TOKEN_LIFETIME.total_seconds(),
            refresh_margin=TOKEN_REFRESH_MARGIN.total_seconds(),
        )
        # Order numbers already matched to one of our references, so that two lost
        # answers never claim the same order.
        self._claimed: dict[str, str] = {}
        # How many pages of 100 the SIM listing took last time it was read: it decides
        # between the listing and reading each tracked SIM by itself.
        self._sims_pages: int | None = None

    # --- HTTP ------------------------------------------------------------------------------

    def _limiter_for(self, path: str) -> RateLimiter:
        """Return the limiter of the path's documented rate limit."""
        return self._orders_limiter if path.startswith("/v1/orders") else self._sims_limiter

    async def _send(
        self,
        method: str,
        path: str,
        *,
        headers: Mapping[str, str],
        params: Mapping[str, str] | None = None,
        body: object = None,
        limiter: RateLimiter | None = None,
    ) -> Reply:
        """Send one request under its rate limit and read the whole answer."""
        if limiter is not None:
            await limiter.acquire()
        reply = await exchange(
            self._session,
            method,
            f"{self._base_url}{path}",
            params=params,
            json_body=body,
            headers={"Accept": "application/json", **headers},
            client_timeout=self.timeout,
            describe=_DESCRIBE,
        )
        return Reply(reply.status, reply.headers, json_or_none(reply.body))

    async def _access_token(self) -> str:
        """Return the cached token, fetching one when needed (see ``BearerToken``)."""
        return await self._token.get(self._fetch_token, self._clock)

    async def _renew_token(self, refused: str) -> str:
        """Replace a token the API refused."""
        return await self._token.replace(refused, self._fetch_token, self._clock)

    async def _fetch_token(self) -> tuple[str, float | None]:
        """Ask ``POST /oauth/token`` with Basic auth; return the token and its ``expires_in``."""
        pair = f"{self._client_id}:{self._client_secret}".encode()
        basic = base64.b64encode(pair).decode("ascii")
        try:
            reply = await self._send(
                "POST",
                "/oauth/token",
                headers={"Authorization": f"Basic {basic}"},
                body={"grant_type": "client_credentials"},
            )
        except TransportError as err:
            raise ProviderUnavailableError(str(err)) from err
        if reply.status == 429:
            raise RateLimitedError(
                "1NCE token endpoint rate limit hit",
                retry_after=parse_retry_after(reply.headers.get("retry-after")),
            )
        body = reply.body
        error_code = as_str(body.get("errorCode")) if body is not None else None
        if reply.status in {400, 401, 403} and error_code not in REQUEST_ERRORS:
            # 400 BadCredentials / AuthValidationError [R].
            raise AuthenticationError(
                reply.message or f"1NCE refused the credentials ({reply.status})"
            )
        if reply.status == 404:
            raise NotProviderApiError("HTTP 404 for /oauth/token")
        token = as_str(body.get("access_token")) if body is not None and reply.ok else None
        if body is None or token is None:
            raise ProviderUnavailableError(
                f"1NCE token endpoint answered {reply.status}: {reply.message or 'unreadably'}"
            )
        expires_in = safe_decimal(body.get("expires_in"))
        return token, None if expires_in is None else float(expires_in)

    async def _call(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
    ) -> Reply:
        """Send with the bearer token; renew it once on a 401 and send again.

        A 401 is refused before anything is processed [I], so even a top-up may be sent
        again after it. A 429 raises ``RateLimitedError``; transport failures come out as
        ``TransportError``.
        """
        limiter = self._limiter_for(path)
        token = await self._access_token()
        auth = {"Authorization": f"Bearer {token}"}
        reply = await self._send(method, path, headers=auth, params=params, limiter=limiter)
        if reply.status == 401:
            token = await self._renew_token(token)
            auth = {"Authorization": f"Bearer {token}"}
            reply = await self._send(method, path, headers=auth, params=params, limiter=limiter)
            if reply.status == 401:
                raise AuthenticationError(reply.message or "1NCE refused the access token")
        if reply.status == 429:
            wait = parse_retry_after(reply.headers.get("retry-after"))
            limiter.block_for(1.0 if wait is None else wait)
            raise RateLimitedError("1NCE rate limit hit", retry_after=wait)
        return reply

    async def _read(self, path: str, params: Mapping[str, str] | None = None) -> Reply:
        """GET something; map transport failures and 5xx. Other answers are returned."""
        try:
            reply = await self._call("GET", path, params=params)
        except TransportError as err:
            raise ProviderUnavailableError(str(err)) from err
        if reply.status >= 500 or reply.status < 200:
            raise ProviderUnavailableError(f"1NCE answered {reply.status} to {path}")
        return reply

    async def _read_rows(
        self, path: str, params: Mapping[str, str]
    ) -> tuple[list[Mapping[str, object]], Mapping[str, str]]:
        """GET one page of an account-wide listing; return its rows and (lower-cased) headers."""
        reply = await self._read(path, params)
        if reply.status in {401, 403}:
            raise AuthenticationError(reply.message or f"1NCE refused the request ({reply.status})")
        return listing_rows(reply, path), reply.headers

    async def _sims_page(self, page: int) -> tuple[list[Mapping[str, object]], int | None]:
        """Read one page of ``GET /v1/sims``; return its rows and ``X-Total-Pages``.

        Also notes how many pages the whole listing takes, for ``_tracked_sims``.
        """
        params = {"page": str(page), "pageSize": str(SIMS_PAGE_SIZE)}
        rows, headers = await self._read_rows("/v1/sims", params)
        total_pages = header_int(headers, "x-total-pages")
        if (total := header_int(headers, "x-total-count")) is not None:
            self._sims_pages = page_count(total, SIMS_PAGE_SIZE)
        elif total_pages is not None:
            self._sims_pages = total_pages
        return rows, total_pages

    async def _all_sims(
        self, first_page: tuple[list[Mapping[str, object]], int | None] | None = None
    ) -> dict[str, Mapping[str, object]]:
        """Read every SIM on the account, following ``X-Total-Pages`` (every page).

        ``first_page`` is page 1 when it was already read.
        """
        first, total_pages = first_page or await self._sims_page(1)
        pages = [first]
        if total_pages is not None:
            last = min(total_pages, MAX_PAGES)
            # Later pages are independent; the rate limiter keeps the burst at 10/s.
            rest = await asyncio.gather(*(self._sims_page(n) for n in range(2, last + 1)))
            pages.extend(rows for rows, _ in rest)
        else:
            # [I] Without the header, only a short page marks the end.
            page, rows = 1, first
            while len(rows) >= SIMS_PAGE_SIZE and page < MAX_PAGES:
                page += 1
                rows, _ = await self._sims_page(page)
                pages.append(rows)
        sims: dict[str, Mapping[str, object]] = {}
        for rows in pages:
            for row in rows:
                if iccid := as_str(row.get("iccid")):
                    # A SIM can shift across a page boundary while we read; keep one.
                    sims[iccid] = row
        return sims

    async def _sim(self, iccid: str) -> Mapping[str, object] | None:
        """Read ``GET /v1/sims/{iccid}``; None when the SIM is not on this account."""
        reply = await self._read(f"/v1/sims/{quote(iccid, safe='')}")
        if sim_not_ours(reply):
            return None
        if reply.status in {401, 403}:
            raise AuthenticationError(reply.message or "1NCE refused the request")
        if not reply.ok or reply.body is None:
            raise ProviderUnavailableError(f"1NCE answered {reply.status} for SIM {iccid}")
        return reply.body

    async def _quota(self, iccid: str) -> Mapping[str, object] | str | None:
        """Read a SIM's data quota: the object, "expired" (422), or None (not ours).

        Raises ``MalformedError`` for an answer that cannot be read.
        """
        reply = await self._read(f"/v1/sims/{quote(iccid, safe='')}/quota/data")
        if sim_not_ours(reply):
            return None
        if reply.status in {401, 403}:
            raise AuthenticationError(reply.message or "1NCE refused the request")
        if reply.status == 422:
            return "expired"
        if not reply.ok or reply.body is None:
            raise MalformedError(f"HTTP {reply.status}")
        return reply.body

    async def _read_line(
        self, iccid: str, record: Mapping[str, object]
    ) -> Line | MalformedError | None:
        """Read one line: the Line, None if missing, the parse error if unreadable."""
        # Not logged here: the snapshot says why, and the integration logs it once when
        # the line turns unreadable rather than on every refresh.
        try:
            quota = await self._quota(iccid)
            if quota is None:
                return None
            if isinstance(quota, str):
                return expired_line(iccid, record)
            return parse_line(iccid, record, quota)
        except MalformedError as err:
            return err

    # --- account and lines -------------------------------------------------------------------

    @override
    async def async_get_account(self) -> Account:
        """Check the credentials (token + one SIM listing row); 1NCE keeps no wallet."""
        await self._read_rows("/v1/sims", {"page": "1", "pageSize": "1"})
        # [I] The API exposes no customer id: derive a stable one that does not reveal it.
        digest = hashlib.sha256(self._client_id.encode()).hexdigest()[:16]
        return Account(account_id=f"1nce-{digest}", wallet=None)

    @override
    async def async_list_lines(self) -> list[LineSummary]:
        """Return every SIM on the account (all pages)."""
        return [
            LineSummary(line_id=iccid, name=line_name(iccid, as_str(record.get("label"))))
            for iccid, record in (await self._all_sims()).items()
        ]

    async def _each_sim(self, iccids: Sequence[str]) -> dict[str, Mapping[str, object]]:
        """Read each SIM by itself (``GET /v1/sims/{iccid}``); return those on the account."""
        found = await asyncio.gather(*(self._sim(iccid) for iccid in iccids))
        return {
            iccid: record for iccid, record in zip(iccids, found, strict=True) if record is not None
        }

    async def _tracked_sims(self, wanted: Sequence[str]) -> dict[str, Mapping[str, object]]:
        """Return the SIM records of the tracked SIMs on the account, in the fewest requests.

        The listing costs ``P = ceil(T / 100)`` pages whatever is tracked; a SIM by itself
        one request: M tracked SIMs are read one by one when M < P (see ``paging``). T is
        known from an earlier listing; before that, page 1 tells it, and the tracked SIMs
        not on it are read one by one when that beats the remaining pages. A SIM read by
        itself that is not the customer's is missing.
        """
        if self._sims_pages is not None and per_line_is_cheaper(len(wanted), self._sims_pages):
            return await self._each_sim(wanted)
        first = await self._sims_page(1)
        records = {iccid: row for row in first[0] if (iccid := as_str(row.get("iccid")))}
        absent = [iccid for iccid in wanted if iccid not in records]
        if not absent:
            return records
        if self._sims_pages is not None and per_line_is_cheaper(len(absent), self._sims_pages - 1):
            return records | await self._each_sim(absent)
        records = await self._all_sims(first)
        # Paging is not a snapshot: a SIM can slip between pages while they are read. Ask
        # for a few absent ones directly before calling them missing.
        for iccid in [i for i in wanted if i not in records][:MAX_MISSING_CHECKS]:
            if (record := await self._sim(iccid)) is not None:
                records[iccid] = record
        return records

    @override
    async def async_fetch(self, line_ids: Collection[str]) -> Snapshot:
        """Read the tracked SIMs (see the module docstring for the cost)."""
        wanted = list(dict.fromkeys(line_ids))
        if not wanted:
            return Snapshot(wallet=None, lines={})
        records = await self._tracked_sims(wanted)
        present = [iccid for iccid in wanted if iccid in records]
        results = await asyncio.gather(
            *(self._read_line(iccid, records[iccid]) for iccid in present),
            return_exceptions=True,
        )
        errors = [
            r for r in results if isinstance(r, BaseException) and not isinstance(r, MalformedError)
        ]
        if errors:
            raise pick_refresh_error(errors)
        lines: dict[str, Line] = {}
        missing = {iccid for iccid in wanted if iccid not in records}
        unreadable: dict[str, str] = {}
        for iccid, result in zip(present, results, strict=True):
            if result is None:
                missing.add(iccid)
            elif isinstance(result, Line):
                lines[iccid] = result
            else:
                unreadable[iccid] = redact_identifiers(f"quota: {result}")
        return Snapshot(
            wallet=None,
            lines=lines,
            missing_line_ids=frozenset(missing),
            unreadable_line_ids=frozenset(unreadable),
            unreadable_reasons=unreadable,
        )

    @override
    async def async_list_packages(self, line_id: str) -> list[Package]:
        """Return the product's one top-up, once the SIM is known to be on the account."""
        if await self._sim(line_id) is None:
            raise LineNotFoundError(line_id)
        return [self._topup]

    # --- buying ------------------------------------------------------------------------------

    @override
    async def async_purchase(self, line_id: str, package: Package, reference: str) -> Order:
        """Top the SIM up (``POST /v1/sims/{iccid}/topup``), then follow its order.

        Never retried here except after a 401 (refused before processing [I]).
        """
        if package.package_id != TOPUP_PACKAGE_ID:
            raise OrderRejectedError(
                "unknown_package", f"1NCE offers no package {package.package_id}"
            )
        params = {"payment_method": self._payment_method} if self._payment_method else None
        sent_at = datetime.now(UTC)
        try:
            reply = await self._call(
                "POST", f"/v1/sims/{quote(line_id, safe='')}/topup", params=params
            )
        except TransportError as err:
            if not err.sent:
                raise ProviderUnavailableError(str(err)) from err
            raise OrderOutcomeUnknownError(reference, str(err)) from err
        except UNUSABLE_ANSWER_ERRORS as err:
            raise OrderOutcomeUnknownError(reference, str(err)) from err
        if not reply.ok:
            raise purchase_error(reply, reference)
        # 201 + Location: the top-up is placed; whatever follows must not undo that.
        number = order_number_from(reply.headers.get("location"))
        if number is None:
            # [I] Not the documented 201 + Location: find the order the usual way; if it is
            # not listed (yet), the outcome is unknown and must be looked up again later.
            if (found := await self._safe_find(line_id, reference, sent_at)) is not None:
                return found
            raise OrderOutcomeUnknownError(
                reference, f"1NCE answered {reply.status} without an order to follow"
            )
        self._claimed[number] = reference
        entry = await self._safe_order(number)
        order = self._order(entry or {"order_number": number}, line_id, reference, package.price)
        if order.created_at is None:
            order = dataclasses.replace(order, created_at=sent_at)
        return order

    async def _safe_order(self, number: str) -> Mapping[str, object] | None:
        """Read ``GET /v1/orders/{n}``, or None when it cannot be read now."""
        try:
            reply = await self._read(f"/v1/orders/{quote(number, safe='')}")
        except ProviderError as err:
            _LOGGER.debug("1NCE order %s cannot be read yet: %s", redact_identifiers(number), err)
            return None
        return reply.body if reply.ok else None

    async def _safe_find(self, line_id: str, reference: str, sent_at: datetime) -> Order | None:
        """Run ``async_find_order``, or None when it cannot run now."""
        try:
            return await self.async_find_order(line_id, reference, sent_at)
        except ProviderError as err:
            _LOGGER.debug(
                "1NCE order of %s cannot be looked up yet: %s", redact_identifiers(reference), err
            )
            return None

    def _order(
        self, entry: Mapping[str, object], line_id: str, reference: str, fallback: Money | None
    ) -> Order:
        """Build an Order from an order object."""
        amount = safe_decimal(entry.get("invoice_amount"))
        currency = as_str(entry.get("currency"))
        price = fallback
        if amount is not None:
            price = Money(amount, currency.upper() if currency else self._topup.price.currency)
        return Order(
            order_id=as_str(entry.get("order_number")) or reference,
            line_id=line_id,
            package_id=TOPUP_PACKAGE_ID,
            reference=reference,
            status=order_status(entry.get("order_status")),
            price=price,
            created_at=parse_time(entry.get("order_date")),
        )

    # --- reconciliation ----------------------------------------------------------------------

    async def _orders_page(
        self, page: int, sort: str | None
    ) -> tuple[Reply, list[Mapping[str, object]], int | None]:
        """Read one page of ``GET /v1/orders`` (10 per page, the maximum)."""
        params = {"page": str(page), "pageSize": str(ORDERS_PAGE_SIZE)}
        if sort is not None:
            params["sort"] = sort
        reply = await self._read("/v1/orders", params)
        if reply.status in {400, 422} and sort is not None:
            return reply, [], None
        if reply.status in {401, 403}:
            raise AuthenticationError(reply.message or "1NCE refused the request")
        rows = listing_rows(reply, "/v1/orders")
        return reply, rows, header_int(reply.headers, "x-total-pages")

    @override
    async def async_find_order(
        self, line_id: str, reference: str, sent_at: datetime
    ) -> Order | None:
        """Find a TOPUP order containing the ICCID, placed at or after ``sent_at``.

        Orders are asked newest first (``sort=-order_date``; if that syntax is refused [I],
        unsorted, and then read from the last page back). The earliest matching order not
        already claimed by another of our references is ours. A top-up made elsewhere in
        the same window (e.g. in the portal) can be mistaken for ours: that errs on the
        side of never paying twice.
        """
        cutoff = sent_at - CLOCK_SKEW
        sort: str | None = "-order_date"
        reply, rows, total_pages = await self._orders_page(1, sort)
        if not reply.ok:
            _LOGGER.debug("1NCE refused sort=-order_date (%s); reading unsorted", reply.status)
            sort = None
            reply, rows, total_pages = await self._orders_page(1, sort)
        candidates: list[tuple[datetime, Mapping[str, object]]] = []
        dates = collect_candidates(
            rows, line_id, reference, cutoff, claimed=self._claimed, candidates=candidates
        )
        # Forward only when the listing is really newest first; otherwise (sort refused,
        # or ignored [I]) the newest orders may be on the last pages: read those backwards.
        forward = sort is not None and newest_first(dates)
        pages: Sequence[int] = range(2, MAX_ORDER_PAGES + 1)
        if not forward:
            last = total_pages or 1
            pages = range(last, max(last - MAX_ORDER_PAGES + 1, 1), -1)
            dates = []
        for page in pages:
            if dates and forward and min(dates) < cutoff:
                break  # newest first, and this page already reached older orders
            if dates and not forward and newest_first(dates[::-1]) and dates[0] < cutoff:
                break  # oldest first, and this page starts before the send: earlier ones too
            if total_pages is None and len(rows) < ORDERS_PAGE_SIZE:
                break
            if total_pages is not None and page > total_pages:
                break
            _, rows, _ = await self._orders_page(page, sort)
            dates = collect_candidates(
                rows, line_id, reference, cutoff, claimed=self._claimed, candidates=candidates
            )
        if not candidates:
            return None
        _, entry = min(candidates, key=lambda pair: pair[0])
        number = as_str(entry.get("order_number"))
        if number is not None:
            self._claimed[number] = reference
        return self._order(entry, line_id, reference, None)
