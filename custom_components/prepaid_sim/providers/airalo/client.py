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
from enum import Enum
import hashlib
import math
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
    OrderStatus,
    Package,
    Provider,
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
from ..ratelimit import RateLimiter
from ..urls import with_api_path
from .const import (
    API_PATH,
    CODE_RECYCLED,
    DEFAULT_BASE_URL,
    DEFAULT_REQUEST_TIMEOUT,
    MAX_ORDER_PAGES,
    MAX_PAGES,
    ORDERS_PAGE_SIZE,
    PROVIDER_USAGE_CACHE,
    RATE_WINDOW_SECONDS,
    REQUESTS_PER_SECOND,
    SIMS_PAGE_SIZE,
    TOKEN_MAX_AGE,
    TOKEN_REFRESH_MARGIN,
    TOKEN_REQUESTS_PER_MINUTE,
    USAGE_READ_INTERVAL,
)
from .parse import (
    Reply,
    as_bool,
    line_name,
    listing_has_next,
    listing_last_page,
    listing_rows,
    order_price,
    order_status,
    parse_time,
    parse_topup_package,
    parse_usage,
    purchase_error,
    reply_data,
    wallet_from,
)
from .reconcile import mentions_reference, order_iccids

_DESCRIBE: Final = describe_for("Airalo")


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
        self.clock = clock
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
    ) -> Reply:
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
        return Reply(reply.status, reply.headers, json_or_none(reply.body))

    async def _access_token(self) -> str:
        """Return the account's token, fetching one when needed (see ``BearerToken``)."""
        return await self._shared.token.get(self._fetch_token, self.clock)

    async def _renew_token(self, refused: str) -> str:
        """Replace a token the API refused."""
        return await self._shared.token.replace(refused, self._fetch_token, self.clock)

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
            wait = parse_retry_after(reply.headers.get("retry-after"))
            self._token_limiter.block_for(60.0 if wait is None else wait)
            raise RateLimitedError("Airalo token endpoint rate limit hit", retry_after=wait)
        if reply.status in {400, 401, 403, 422}:
            raise AuthenticationError(
                reply.message or f"Airalo refused the credentials ({reply.status})"
            )
        if reply.status == 404:
            raise NotProviderApiError("HTTP 404 for /token")
        payload = reply_data(reply) if reply.ok else None
        token = as_str(payload.get("access_token")) if payload is not None else None
        if payload is None or token is None:
            raise ProviderUnavailableError(f"Airalo token endpoint answered {reply.status}")
        expires_in = safe_decimal(payload.get("expires_in"))
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
    ) -> Reply:
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
            wait = parse_retry_after(reply.headers.get("retry-after"))
            self._limiter.block_for(1.0 if wait is None else wait)
            raise RateLimitedError("Airalo rate limit hit", retry_after=wait)
        return reply

    async def _read(
        self, path: str, params: Mapping[str, str] | None = None, *, own_rate_limit: bool = False
    ) -> Reply:
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

    async def _read_ok(self, path: str, params: Mapping[str, str] | None = None) -> Reply:
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
                found = listing_rows(reply)
            except MalformedError as err:
                raise ProviderUnavailableError(f"unexpected answer to {path}: {err}") from err
            rows.extend(found)
            last = listing_last_page(reply)
            more = listing_has_next(reply)
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
        if (wallet := wallet_from(reply_data(reply))) is None:
            raise ProviderUnavailableError("Airalo sent an unreadable balance")
        return wallet

    @override
    async def async_get_account(self) -> Account:
        """Check the credentials (token + ``GET /balance``) and return the account."""
        # [I] The API exposes no account id: derive a stable one that does not reveal the key.
        digest = hashlib.sha256(self._client_id.encode()).hexdigest()[:16]
        return Account(account_id=f"airalo-{digest}", wallet=await self._wallet())

    @override
    async def async_list_lines(self) -> list[LineSummary]:
        """Return every eSIM on the account (all pages), leaving recycled ones out."""
        rows = await self._read_pages("/sims", {}, SIMS_PAGE_SIZE, MAX_PAGES)
        lines: dict[str, LineSummary] = {}
        for row in rows:
            iccid = as_str(row.get("iccid"))
            if iccid is None or as_bool(row.get("recycled")) is True:
                continue
            simable = row.get("simable")
            plan = as_str(simable.get("package")) if isinstance(simable, Mapping) else None
            name = line_name(iccid)
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
        now = self.clock()
        if reply.status == 429:
            # Most likely the per-ICCID limit (e.g. read by a previous run): hold this line
            # only; the others and their cached readings are unaffected.
            wait = parse_retry_after(reply.headers.get("retry-after"))
            hold = USAGE_READ_INTERVAL.total_seconds() if wait is None else wait
            state.hold_until = now + hold
            return
        state.read_at = now
        state.reading = self._reading(iccid, reply, state)

    def _reading(self, iccid: str, reply: Reply, state: _UsageState) -> _Reading:
        """Turn a usage answer into a reading."""
        if reply.code == CODE_RECYCLED:
            state.recycled = True
            return _Reading(_Outcome.MISSING)
        if reply.status == 404:
            return _Reading(_Outcome.MISSING)
        # Not logged here: the snapshot says why, and the integration logs it once when
        # the line turns unreadable rather than on every read.
        payload = reply_data(reply) if reply.ok else None
        if payload is None:
            return _Reading(_Outcome.UNREADABLE, reason=f"usage answered HTTP {reply.status}")
        try:
            line = parse_usage(
                iccid, self._names.get(iccid) or line_name(iccid), self._plans.get(iccid), payload
            )
        except MalformedError as err:
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
            now = self.clock()
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
            raise pick_refresh_error(errors)
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
            items = listing_rows(reply)
        except MalformedError as err:
            raise ProviderUnavailableError(f"unexpected top-up listing: {err}") from err
        packages = {
            p.package_id: p for item in items if (p := parse_topup_package(item)) is not None
        }
        return sorted(packages.values(), key=lambda p: (p.price.amount, p.package_id))

    def _prioritize(self, iccid: str) -> None:
        """Read this line first for a while: a top-up shows only after Airalo's cache."""
        state = self._usage.setdefault(iccid, _UsageState())
        window = USAGE_READ_INTERVAL + PROVIDER_USAGE_CACHE
        state.priority_until = self.clock() + window.total_seconds()

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
            data = reply_data(reply)
            order_id = None if data is None else as_str(data.get("id")) or as_str(data.get("code"))
            if data is None or order_id is None:
                # A 2xx means it was most likely placed: look it up, never resend.
                raise OrderOutcomeUnknownError(reference, "Airalo answered the order unreadably")
            self._prioritize(line_id)
            return Order(
                order_id=order_id,
                line_id=line_id,
                package_id=as_str(data.get("package_id")) or package.package_id,
                reference=reference,
                status=OrderStatus.COMPLETED,
                price=order_price(data) or package.price,
                created_at=parse_time(data.get("created_at")) or datetime.now(UTC),
            )
        raise purchase_error(reply, reference)

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
                rows = listing_rows(reply)
            except MalformedError as err:
                raise ProviderUnavailableError(f"unexpected order listing: {err}") from err
            for entry in rows:
                if not mentions_reference(as_str(entry.get("description")), reference):
                    continue
                iccids = order_iccids(entry)
                if iccids is not None and line_id not in iccids:
                    continue
                self._prioritize(line_id)
                return Order(
                    order_id=as_str(entry.get("id")) or as_str(entry.get("code")) or reference,
                    line_id=line_id,
                    package_id=as_str(entry.get("package_id")) or "",
                    reference=reference,
                    status=order_status(entry),
                    price=order_price(entry),
                    created_at=parse_time(entry.get("created_at")),
                )
            last = listing_last_page(reply)
            if not rows or (last is not None and page >= last) or listing_has_next(reply) is False:
                break
        return None
