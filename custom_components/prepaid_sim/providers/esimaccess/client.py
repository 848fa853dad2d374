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
from collections.abc import Collection, Mapping
from datetime import UTC, datetime, timedelta
import hashlib
import hmac
import json
import time
from typing import override
import uuid

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
    redact_identifiers,
)
from ..http import (
    UNUSABLE_ANSWER_ERRORS,
    HttpReply,
    MalformedError,
    TransportError,
    exchange,
    parse_retry_after,
)
from ..paging import page_count, per_line_is_cheaper
from ..ratelimit import RateLimiter
from ..urls import check_base_url
from .const import (
    API_PATH,
    DEFAULT_BASE_URL,
    LISTING_REUSE_SECONDS,
    MAX_MISSING_CHECKS,
    MAX_PAGES,
    MAX_REFERENCE_LENGTH,
    PAGE_SIZE,
    RATE_WINDOW_SECONDS,
    REQUESTS_PER_SECOND,
    USAGE_KEY,
)
from .parse import (
    JsonObject,
    account_id,
    as_list,
    as_object,
    by_line_id,
    is_auth_failure,
    line_name,
    money_from_units,
    only_usage_moved,
    parse_envelope,
    parse_line,
    parse_package,
    parse_time,
    plan_name,
    purchase_error,
    read_opt_int,
    read_opt_str,
    record_iccid,
    safe_time,
    to_units,
    with_usage,
)
from .reconcile import PendingTopup, find_evidence, remember_line

# One page of esim/query: its records, ``pager.total`` and how many items it held.
type _Page = tuple[list[JsonObject], int | None, int]
# The lines read from the tracked records, and why the others could not be read.
# The lines, why others are unreadable, and the lines made from an earlier reading by
# new usage alone (Snapshot.usage_moved_from).
type _LinesRead = tuple[dict[str, Line], dict[str, str], dict[str, Line]]


def _compare_with_earlier(
    earlier: tuple[JsonObject, Line, datetime] | None, record: JsonObject, now: datetime
) -> tuple[tuple[JsonObject, Line, datetime] | None, Line | None]:
    """Compare a record with the one its line was last read from (one whole comparison).

    Returns the earlier reading when it still holds, else the earlier line when the record
    differs from its own in usage alone, else neither (the record is parsed afresh).
    """
    if earlier is None:
        return None, None
    before, line, parsed_at = earlier
    if before.get(USAGE_KEY) != record.get(USAGE_KEY):
        return None, line if only_usage_moved(before, record) else None
    if before is record or before == record:
        # Usage changes every 2-3 hours at most: an unchanged record gives the same line,
        # unless its expiry has passed since it was parsed (the status depends on the
        # clock; once past, it stays past).
        expires = line.expires_at
        if expires is None or expires > now or expires <= parsed_at:
            return earlier, None
    return None, None


def _describe(err: BaseException, sent: bool) -> str:
    """Word a transport failure the way this client always has."""
    return f"{type(err).__name__}: {err}" if sent else f"cannot connect: {err}"


def normalize_base_url(url: str) -> str:
    """Check ``url`` and return the API host it names.

    The docs give the host, their endpoints ``/api/v1/open/...``; users copy either, and
    every request adds the prefix, so a copied prefix is dropped here.

    Raises ``BaseUrlError`` for a URL no client may use.
    """
    return check_base_url(url).removesuffix(API_PATH.rstrip("/"))


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
        self._pending: dict[str, PendingTopup] = {}
        # How many eSIMs the account had at the last read of a whole-account page, and
        # whether esim/query ignores the esimTranNo filter [I]: they decide between paging
        # and asking for each tracked eSIM (see ``_tracked_records``).
        self._account_size: int | None = None
        self._filter_ignored = False
        # The last answer of each whole-account page, raw and read: a page whose bytes did
        # not change is not parsed again (most refreshes change nothing at all).
        self._pages: dict[int, tuple[bytes, _Page]] = {}
        # The whole account as the first refresh's read of every page found it, and when
        # (monotonic), for setup's check for new lines (see recent_line_list).
        self._listing: tuple[float, list[JsonObject]] | None = None
        self._keep_listing = True
        # Whether this fetch parsed any answer afresh, and the last fetch's reading of the
        # tracked lines with the moment a line's expiry passes (its status changes then).
        self._parsed_afresh = True
        self._last_read: tuple[frozenset[str], _LinesRead, datetime | None] | None = None

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
            retry_after = parse_retry_after(reply.headers.get("retry-after"))
            # The status code is not documented, only the 8/s limit [I]; hold every request.
            self.rate_limiter.block_for(1.0 if retry_after is None else retry_after)
            raise RateLimitedError("eSIM Access rate limit hit", retry_after=retry_after)
        if reply.status in {401, 403}:
            raise AuthenticationError(f"eSIM Access refused the request (HTTP {reply.status})")

    async def _call(self, endpoint: str, payload: JsonObject) -> object:
        """Make a read request and return its ``obj``, mapping every failure."""
        return self._read_reply(endpoint, await self._send_read(endpoint, payload))

    async def _send_read(self, endpoint: str, payload: JsonObject) -> HttpReply:
        """Send a read request; return the answer, transport failures mapped."""
        try:
            return await self._exchange(endpoint, payload)
        except TransportError as err:
            raise ProviderUnavailableError(str(err)) from err

    def _read_reply(self, endpoint: str, reply: HttpReply) -> object:
        """Return a read answer's ``obj``, mapping every failure."""
        self._check_http(reply)
        if reply.status == 404:
            # Every documented endpoint exists: a 404 means the base URL is wrong.
            raise NotProviderApiError(f"HTTP 404 for {endpoint}")
        if reply.status != 200:
            raise ProviderUnavailableError(f"eSIM Access answered HTTP {reply.status}")
        if (envelope := parse_envelope(reply.body)) is None:
            raise ProviderUnavailableError("eSIM Access answered with malformed JSON")
        if not envelope.success:
            if is_auth_failure(envelope):
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
        reply = await self._send_read("esim/query", payload)
        if not filters and (kept := self._pages.get(page)) is not None and kept[0] == reply.body:
            # Byte for byte the answer read last time: the same records, not parsed again.
            return kept[1]
        self._parsed_afresh = True
        try:
            obj = as_object(self._read_reply("esim/query", reply))
            items = as_list(obj.get("esimList"))
            pager = obj.get("pager")
            total = read_opt_int(as_object(pager).get("total")) if pager is not None else None
        except MalformedError as err:
            raise ProviderUnavailableError(f"unexpected esim/query answer: {err}") from err
        # A record that is not even an object cannot be tied to a line; drop it.
        records = [item for item in items if isinstance(item, Mapping)]
        if not filters:
            self._records.update(by_line_id(records))
            if total is not None:
                # Any page of the whole account says how large it is (see _tracked_records).
                self._account_size = total
            self._pages[page] = (reply.body, (records, total, len(items)))
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
        listing = [*records.values(), *unkeyed]
        if self._keep_listing:
            self._listing = (time.monotonic(), listing)
        return listing

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
        by_id = by_line_id(first[0])
        absent = set(wanted) - by_id.keys()
        more_pages = None if first[1] is None else page_count(first[1], PAGE_SIZE) - 1
        if more_pages == 0 and self._keep_listing:
            self._listing = (time.monotonic(), first[0])
        if not absent:
            return by_id
        if self._reads_per_line(len(absent), more_pages):
            by_id.update(await self._query_each(absent))
            if not self._filter_ignored:
                return by_id
        by_id = by_line_id(await self._query_all(first))
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
            data = as_object(obj)
            return money_from_units(data.get("balance"), data.get("currencyCode"))
        except MalformedError as err:
            raise ProviderUnavailableError(f"unexpected balance/query answer: {err}") from err

    async def async_get_account(self) -> Account:
        """Check the access code with ``balance/query`` and return the account."""
        return Account(account_id=account_id(self._access_code), wallet=await self._wallet())

    async def async_list_lines(self) -> list[LineSummary]:
        """Return every eSIM on the account (all pages); unreadable ones get a bare name."""
        return self._summaries(await self._query_all())

    @override
    def recent_line_list(self) -> list[LineSummary] | None:
        """Return the eSIMs of the first refresh's whole-account read, once, while fresh.

        Only setup's check for new lines takes it: later checks read the account themselves,
        so a new eSIM is never hidden behind an older read.
        """
        listing, self._listing = self._listing, None
        self._keep_listing = False
        if listing is None or time.monotonic() - listing[0] > LISTING_REUSE_SECONDS:
            return None
        return self._summaries(listing[1])

    def _summaries(self, records: list[JsonObject]) -> list[LineSummary]:
        """Return a line summary per record with an esimTranNo."""
        summaries: list[LineSummary] = []
        for record in records:
            line_id = record.get("esimTranNo")
            if not isinstance(line_id, str) or not line_id:
                continue
            try:
                summaries.append(
                    LineSummary(
                        line_id=line_id, name=line_name(record), plan_name=plan_name(record)
                    )
                )
            except MalformedError:
                # Still offer it: the user may want to track it once it reads well.
                summaries.append(LineSummary(line_id=line_id, name=f"eSIM {line_id}"))
        return summaries

    async def async_fetch(self, line_ids: Collection[str]) -> Snapshot:
        """Read the wallet and the tracked eSIMs (see the module docstring for the cost)."""
        wanted = set(line_ids)
        if not wanted:
            return Snapshot(wallet=await self._wallet(), lines={})
        self._parsed_afresh = False
        wallet, by_id = await asyncio.gather(self._wallet(), self._tracked_records(wanted))
        lines, unreadable, usage_moved_from = self._read_again(
            frozenset(wanted & by_id.keys()), by_id
        )
        return Snapshot(
            wallet=wallet,
            lines=lines,
            usage_moved_from=usage_moved_from,
            missing_line_ids=frozenset(wanted - by_id.keys()),
            unreadable_line_ids=frozenset(unreadable),
            unreadable_reasons=unreadable,
        )

    def _read_again(self, line_ids: frozenset[str], by_id: Mapping[str, JsonObject]) -> _LinesRead:
        """Return the last reading when every answer was the same bytes as last time.

        The same records give the same lines until one of them expires (its status turns),
        so a refresh in which nothing changed reads no record at all.
        """
        now = datetime.now(UTC)
        last = self._last_read
        if (
            not self._parsed_afresh
            and last is not None
            and last[0] == line_ids
            and (last[2] is None or now < last[2])
        ):
            # The same lines as last time: none of them moved, by usage or otherwise.
            lines, unreadable, _ = last[1]
            return lines, unreadable, {}
        read = self._read_lines(line_ids, by_id)
        future = [
            expires
            for line in read[0].values()
            if (expires := line.expires_at) is not None and expires > now
        ]
        self._last_read = (line_ids, read, min(future, default=None))
        return read

    def _read_lines(self, line_ids: Collection[str], by_id: Mapping[str, JsonObject]) -> _LinesRead:
        """Turn the tracked records into lines (see _LinesRead)."""
        lines: dict[str, Line] = {}
        unreadable: dict[str, str] = {}
        usage_moved_from: dict[str, Line] = {}
        now = datetime.now(UTC)
        parsed: dict[str, tuple[JsonObject, Line, datetime]] = {}
        for line_id in line_ids:
            record = by_id[line_id]
            earlier = self._parsed.get(line_id)
            same, usage_moved_line = _compare_with_earlier(earlier, record, now)
            if same is not None:
                lines[line_id] = same[1]
                parsed[line_id] = same
                continue
            try:
                if usage_moved_line is not None:
                    # The commonest change (data flowed): redo only what usage decides.
                    line = lines[line_id] = with_usage(usage_moved_line, record, now)
                    if line.status is usage_moved_line.status:
                        usage_moved_from[line_id] = usage_moved_line
                else:
                    lines[line_id] = parse_line(record)
            except MalformedError as err:
                unreadable[line_id] = redact_identifiers(str(err))
            else:
                parsed[line_id] = (record, lines[line_id], now)
        self._parsed = parsed
        return lines, unreadable, usage_moved_from

    async def _iccid(self, line_id: str) -> str:
        """Return the line's ICCID, from the last read or by asking."""
        record = self._records.get(line_id)
        iccid = None if record is None else record_iccid(record)
        if iccid is None:
            record = await self._query_line(line_id)
            if record is None:
                raise LineNotFoundError(line_id)
            iccid = record_iccid(record)
        if iccid is None:
            raise ProviderUnavailableError(f"eSIM {line_id} has no ICCID")
        return iccid

    async def async_list_packages(self, line_id: str) -> list[Package]:
        """Return the top-ups the line can buy (``package/list`` type TOPUP by ICCID)."""
        iccid = await self._iccid(line_id)
        obj = await self._call("package/list", {"type": "TOPUP", "iccid": iccid})
        try:
            items = as_list(as_object(obj).get("packageList"))
        except MalformedError as err:
            raise ProviderUnavailableError(f"unexpected package/list answer: {err}") from err
        packages: list[Package] = []
        for item in items:
            try:
                packages.append(parse_package(as_object(item)))
            except MalformedError:
                continue  # one odd catalogue entry must not hide the others
        return packages

    # --- buying ---------------------------------------------------------------------

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
            "amount": str(to_units(package.price.amount)),
        }
        self._pending[reference] = remember_line(line_id, package, self._records.get(line_id))
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
        if (envelope := parse_envelope(reply.body)) is None:
            raise OrderOutcomeUnknownError(reference, "eSIM Access answered with malformed JSON")
        if not envelope.success:
            raise purchase_error(envelope, reference)
        self._pending.pop(reference, None)
        return self._order_from_topup(line_id, package, reference, envelope.obj)

    def _order_from_topup(
        self, line_id: str, package: Package, reference: str, obj: object
    ) -> Order:
        """Build the order from a successful top-up answer, tolerating odd fields."""
        data = obj if isinstance(obj, Mapping) else {}
        try:
            new_expires = parse_time(data.get("expiredTime"))
        except MalformedError:
            new_expires = None
        try:
            new_total = read_opt_int(data.get("totalVolume"))
        except MalformedError:
            new_total = None
        # orderNo only appears in a reseller's variant [I]; the transactionId is ours anyway.
        order_id = data.get("orderNo") or data.get("transactionId") or reference
        # The cached record is stale now; forget it so the baseline of a next top-up is fresh.
        self._records.pop(line_id, None)
        self._pages.clear()
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
            entries = [as_object(item) for item in as_list(record.get("packageList"))]
            expires = parse_time(record.get("expiredTime"))
            total = read_opt_int(record.get("totalVolume"))
        except MalformedError as err:
            # "Cannot tell" must not read as "not placed".
            raise ProviderUnavailableError(f"eSIM {line_id} cannot be read: {err}") from err
        if pending is not None and pending.line_id != line_id:
            pending = None
        match = find_evidence(entries, reference, pending, sent_at, total=total, expires=expires)
        if match is None:
            return None
        self._pending.pop(reference, None)
        package_id = read_opt_str(match.get("packageCode")) or (
            pending.package_id if pending is not None else ""
        )
        return Order(
            order_id=str(match.get("orderNo") or reference),
            line_id=line_id,
            package_id=package_id,
            reference=reference,
            status=OrderStatus.COMPLETED,
            created_at=safe_time(match.get("createTime")),
            new_expires_at=expires,
            new_data_total_bytes=total,
        )
