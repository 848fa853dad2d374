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
from datetime import UTC, datetime, timedelta
import hashlib
from typing import Final, override
from urllib.parse import quote

import aiohttp

from ..base import (
    Account,
    AuthenticationError,
    Line,
    LineNotFoundError,
    LineSummary,
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
    pick_group_error,
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
)
from ..ratelimit import RateLimiter
from ..urls import with_api_path
from .const import (
    API_PATH,
    BUNDLES_LIMIT,
    CATALOGUE_PER_PAGE,
    CLOCK_SKEW,
    DEFAULT_BASE_URL,
    DEFAULT_REQUEST_TIMEOUT,
    ESIMS_PER_PAGE,
    MAX_ORDER_PAGES,
    MAX_PAGES,
    MAX_RESET_WAIT,
    ORDERS_PER_PAGE,
    RATE_LIMIT_PER_SECOND,
    RATE_WINDOW_SECONDS,
    READ_RETRY_MAX_WAIT,
)
from .parse import (
    Assignment,
    Reply,
    as_bool,
    as_dict,
    as_list,
    countries,
    current_assignment,
    line_name,
    listing_page_count,
    looks_like_auth,
    looks_like_funds,
    order_created_at,
    order_price,
    order_status,
    organisation,
    parse_assignments,
    parse_line,
    parse_package,
    parse_time,
    seconds_until_reset,
    wallet_of,
)
from .reconcile import SentOrder, first_item, match_order, past_cutoff, with_assignment

_DESCRIBE: Final = describe_for("eSIM Go")


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
        self.timeout = aiohttp.ClientTimeout(total=request_timeout)
        self._limiter = rate_limiter or RateLimiter(
            RATE_LIMIT_PER_SECOND, period=RATE_WINDOW_SECONDS
        )
        # Names from the last listing, so a refresh needs no extra request per line.
        self._names: dict[str, str] = {}
        # Orders this client sent, by our reference, and the orderReferences they got.
        self._sent: dict[str, SentOrder] = {}
        self._claimed: dict[str, str] = {}

    # --- HTTP ----------------------------------------------------------------------------

    async def _send(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        body: object = None,
    ) -> Reply:
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
            client_timeout=self.timeout,
            describe=_DESCRIBE,
        )
        self._note_rate_headers(reply.headers)
        if reply.status == 429:
            wait = parse_retry_after(reply.headers.get("retry-after"))
            self._limiter.block_for(wait if wait is not None else 1.0)
            raise RateLimitedError("eSIM Go rate limit exceeded", retry_after=wait)
        return Reply(reply.status, reply.headers, json_or_none(reply.body))

    def _note_rate_headers(self, headers: Mapping[str, str]) -> None:
        """Pause our own requests when the provider says the window is used up."""
        try:
            remaining = int(headers.get("x-ratelimit-remaining", ""))
        except ValueError:
            return  # [I] headers absent or odd: our own limiter still applies.
        if remaining > 0:
            return
        wait = seconds_until_reset(headers.get("x-ratelimit-reset"))
        if wait is not None and wait > 0:
            self._limiter.block_for(min(wait, MAX_RESET_WAIT))

    async def _read(
        self,
        path: str,
        params: Mapping[str, str] | None = None,
        *,
        method: str = "GET",
        body: object = None,
    ) -> Reply:
        """Send a request that changes nothing; map transport, 401, 429 and 5xx failures.

        Returns 2xx and the remaining 4xx answers for the caller to judge.
        """
        for attempt in range(2):
            try:
                reply = await self._send(method, path, params=params, body=body)
            except RateLimitedError as err:
                # Safe to repeat a read; the limiter already holds us for Retry-After.
                short = err.retry_after is not None and err.retry_after <= READ_RETRY_MAX_WAIT
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
        data = as_dict(reply.data)
        if data is None:
            raise ProviderUnavailableError(f"eSIM Go sent an unreadable answer to {path}")
        return data

    async def _read_pages(
        self, path: str, key: str, per_page: int, params: Mapping[str, str] | None = None
    ) -> list[dict[str, object]]:
        """Read every page of a listing and return all its items."""
        items: list[dict[str, object]] = []
        page = 1
        while page <= MAX_PAGES:
            data = await self._read_object(
                path, {**(params or {}), "page": str(page), "perPage": str(per_page)}
            )
            rows = as_list(data.get(key))
            if rows is None:
                raise ProviderUnavailableError(f"eSIM Go listing {path} has no {key!r}")
            items.extend(row for raw in rows if (row := as_dict(raw)) is not None)
            if (page_count := listing_page_count(data)) is not None:
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
            org = organisation(data)
        except MalformedError as err:
            raise ProviderUnavailableError(f"unreadable organisation: {err}") from err
        name = as_str(org.get("name"))
        account_id = as_str(org.get("id")) or name
        if account_id is None:
            # [I] No id in the answer: a stable id that does not reveal the key.
            digest = hashlib.sha256(self._api_key.encode()).hexdigest()[:16]
            account_id = f"esimgo-{digest}"
        return Account(account_id=account_id, name=name, wallet=wallet_of(org))

    @override
    async def async_list_lines(self) -> list[LineSummary]:
        """Return every eSIM on the account, reading all pages."""
        rows = await self._read_pages("/esims", "esims", ESIMS_PER_PAGE)
        lines: dict[str, LineSummary] = {}
        for row in rows:
            if (iccid := as_str(row.get("iccid"))) is None:
                continue
            name = line_name(iccid, as_str(row.get("customerRef")))
            self._names[iccid] = name
            lines[iccid] = LineSummary(line_id=iccid, name=name)
        return list(lines.values())

    async def _assignments(self, iccid: str) -> list[Assignment] | None:
        """Read an eSIM's bundle assignments; None when the eSIM is not on the account.

        Raises ``MalformedError`` for an answer we cannot read.
        """
        reply = await self._read(
            f"/esims/{quote(iccid, safe='')}/bundles",
            {"includeUsed": "true", "limit": str(BUNDLES_LIMIT)},
        )
        if reply.status in {403, 404}:
            if reply.status == 403 and looks_like_auth(reply.message):
                raise AuthenticationError(reply.message or "API key refused")
            # 403 is the documented answer for an ICCID that is not ours.
            return None
        if not reply.ok:
            raise ProviderUnavailableError(
                f"eSIM Go answered {reply.status} for {iccid}: {reply.message or 'no message'}"
            )
        return parse_assignments(reply.data)

    async def _fetch_line(self, iccid: str) -> Line | MalformedError | None:
        """Read one line; None if missing, the parse error if unreadable.

        Not logged here: the snapshot says why, and the integration logs it once when the
        line turns unreadable rather than on every refresh.
        """
        try:
            assignments = await self._assignments(iccid)
            if assignments is None:
                return None
            return parse_line(iccid, self._names.get(iccid) or line_name(iccid, None), assignments)
        except MalformedError as err:
            return err

    @override
    async def async_fetch(self, line_ids: Collection[str]) -> Snapshot:
        """Read the wallet, then every tracked line concurrently (1 + N requests)."""
        data = await self._read_object("/organisation")
        try:
            wallet = wallet_of(organisation(data))
        except MalformedError:
            wallet = None
        iccids = list(dict.fromkeys(line_ids))
        try:
            async with asyncio.TaskGroup() as group:
                tasks = {iccid: group.create_task(self._fetch_line(iccid)) for iccid in iccids}
        except ExceptionGroup as errors:
            # One failed request fails the refresh; a bad key wins over the rest.
            raise pick_group_error(errors) from errors
        lines: dict[str, Line] = {}
        missing: set[str] = set()
        unreadable: dict[str, str] = {}
        for iccid, task in tasks.items():
            result = task.result()
            if result is None:
                missing.add(iccid)
            elif isinstance(result, MalformedError):
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
        except MalformedError:
            assignments = []
        if assignments is None:
            raise LineNotFoundError(line_id)
        current = current_assignment(assignments)
        wanted: frozenset[str] = frozenset()
        if current is not None:
            reply = await self._read(f"/catalogue/{quote(current.bundle, safe='')}")
            if reply.ok and (bundle := as_dict(reply.data)) is not None:
                wanted = countries(bundle)
        # One country narrows the listing on the server; the full set is checked here.
        params = {"countries": min(wanted)} if wanted else None
        rows = await self._read_pages("/catalogue", "bundles", CATALOGUE_PER_PAGE, params)
        packages: dict[str, Package] = {}
        for row in rows:
            if wanted and not wanted <= countries(row):
                continue
            if (package := parse_package(row)) is not None:
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
            if reply.status == 403 and looks_like_auth(reply.message):
                raise AuthenticationError(reply.message or "API key refused")
            code = "not_found" if reply.status in {403, 404} else "invalid"
            raise OrderRejectedError(code, reply.message or f"HTTP {reply.status}")
        body = as_dict(reply.data) if reply.ok else None
        compatible = as_bool(body.get("compatible")) if body is not None else None
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
            body = as_dict(reply.data)
            if body is None:
                raise ProviderUnavailableError("unreadable answer to a validate order")
            if as_bool(body.get("valid")) is False:
                message = as_str(body.get("statusMessage")) or reply.message or "not valid"
                raise OrderRejectedError(
                    "invalid", message, insufficient_funds=looks_like_funds(message)
                )
            return
        if (refusal := reply.message) is not None:
            raise OrderRejectedError(
                f"http_{reply.status}", refusal, insufficient_funds=looks_like_funds(refusal)
            )
        raise ProviderUnavailableError(f"eSIM Go answered {reply.status} to a validate order")

    @override
    async def async_purchase(self, line_id: str, package: Package, reference: str) -> Order:
        """Add ``package`` to the eSIM, exactly once; see the contract on ``Provider``."""
        await self._ensure_compatible(line_id, package.package_id)
        body = self._order_body("transaction", line_id, package.package_id)
        # No idempotency key exists: the send time is what finds this order again.
        self._sent[reference] = SentOrder(line_id, package.package_id, datetime.now(UTC))
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
            data = as_dict(reply.data)
            order_ref = as_str(data.get("orderReference")) if data is not None else None
            if data is None or order_ref is None:
                raise OrderOutcomeUnknownError(reference, "unreadable answer to an order")
            self._claimed[order_ref] = reference
            return Order(
                order_id=order_ref,
                line_id=line_id,
                package_id=package.package_id,
                reference=reference,
                status=order_status(data.get("status")),
                price=order_price(data) or package.price,
                created_at=parse_time(data.get("createdDate")) or datetime.now(UTC),
            )
        message = reply.message
        if reply.status == 401:
            raise AuthenticationError(message or "API key refused")
        # A 4xx that explains itself is a refusal; a bare one may come from a proxy that
        # never said what happened behind it (408 is a timeout, not a refusal).
        if 400 <= reply.status < 500 and reply.status != 408 and message:
            funds = looks_like_funds(message)
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
        cutoff = sent_at - CLOCK_SKEW
        confirmed, candidates = await self._search_orders(line_id, reference, bundle, cutoff)
        if confirmed is not None:
            return self._order(confirmed, line_id, reference, bundle)
        # The eSIM's assignments show the bundle even when the history is vague.
        try:
            assignments = await self._assignments(line_id) or []
        except MalformedError:
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
                return with_assignment(found, assignment)
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
        for page in range(1, MAX_ORDER_PAGES + 1):
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
            rows = [row for raw in as_list(data.get("orders")) or [] if (row := as_dict(raw))]
            dates: list[datetime] = []
            for entry in rows:
                if (created := order_created_at(entry)) is None:
                    continue
                dates.append(created)
                if created < cutoff or not self._claimable(entry, reference):
                    continue
                match = match_order(entry, iccid, bundle)
                if match is True:
                    return entry, []
                # An order of unknown eSIM is only a candidate when we know its bundle
                # (after a restart we do not, and any order of the account would match).
                if match is None and bundle is not None:
                    candidates.append((created, entry))
            page_count = listing_page_count(data)
            if not rows or (page_count is not None and page >= page_count):
                break
            if past_cutoff(dates, cutoff):
                break
        candidates.sort(key=lambda pair: pair[0])
        return None, [entry for _, entry in candidates]

    def _claimable(self, entry: Mapping[str, object], reference: str) -> bool:
        """Return False for an order another purchase of ours already owns."""
        order_ref = as_str(entry.get("orderReference"))
        return order_ref is not None and self._claimed.get(order_ref, reference) == reference

    def _order(
        self, entry: Mapping[str, object], line_id: str, reference: str, bundle: str | None
    ) -> Order:
        """Build an Order from an order history entry."""
        order_ref = as_str(entry.get("orderReference")) or "unknown"
        self._claimed[order_ref] = reference
        return Order(
            order_id=order_ref,
            line_id=line_id,
            package_id=bundle or first_item(entry) or "unknown",
            reference=reference,
            status=order_status(entry.get("status")),
            price=order_price(entry),
            created_at=order_created_at(entry),
        )
