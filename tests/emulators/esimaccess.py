"""A loopback emulator of the eSIM Access partner API, for tests, demos and benchmarks.

It serves the documented endpoints under ``/api/v1/open/`` with the documented request and
response shapes: every call is ``POST`` + JSON, errors are HTTP 200 envelopes with
``success: false``, money is an integer times 10,000, data is in bytes, times are UTC
(``2023-08-17T17:01:37+0000``). Auth is the ``RT-AccessCode`` header, plus the HMAC headers
when the emulator is given a secret. It enforces 8 requests per second with HTTP 429.

Fault switches (``fail_next[endpoint] = mode``, one request each) reproduce what real
networks do to a purchase: see ``FaultMode``. ``reply_next[endpoint] = CannedReply(...)``
serves one raw answer of any shape instead (nothing applied), and a few switches on the
emulator reproduce undocumented variants of the API (see ``__init__``).

Run it standalone (it only ever binds to loopback)::

    python -m tests.emulators.esimaccess --port 8765 --lines 20
"""

from __future__ import annotations

import argparse
import asyncio
from collections import deque
from collections.abc import Callable, Iterable, Mapping
import contextlib
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
import hashlib
import hmac
import json
import random
import time
from typing import Final, Literal

from aiohttp import web

from .server import HOST, EmulatorServer, ImplausibleValue, over_limit

API_PREFIX: Final = "/api/v1/open/"
DEFAULT_ACCESS_CODE: Final = "test-access-code"
MIB: Final = 1024**2
GIB: Final = 1024**3

type FaultMode = Literal[
    # Apply the request (charge a top-up), then close the connection without answering.
    "drop_after_commit",
    # Sleep ``timeout_delay`` seconds without applying anything (the client gives up first).
    "timeout",
    # HTTP 500 before anything is applied.
    "http_500",
    # Apply the request, then answer HTTP 500.
    "http_500_after_commit",
    # HTTP 429 with ``Retry-After``.
    "rate_limit",
    # HTTP 200 whose body is not valid JSON; nothing applied.
    "malformed",
    # An error envelope saying the access code is no longer valid.
    "expired_key",
    # See ``CommonFaultMode``.
    "redirect",
    "oversize",
]

# Error codes from the docs. Which 0001xx code means which header/parameter problem is not
# documented; the emulator's choice below is an assumption [I], with telling messages.
SERVER_ERROR: Final = "000001"
HEADER_MISSING: Final = "000101"
ACCESS_CODE_INVALID: Final = "000102"
PARAM_INVALID: Final = "000106"
TIMESTAMP_EXPIRED: Final = "101001"
SIGNATURE_MISMATCH: Final = "101003"
STATUS_NOT_ALLOWED: Final = "200002"
PRICE_ERROR: Final = "200005"
INSUFFICIENT_BALANCE: Final = "200007"
ORDER_PARAMS_ERROR: Final = "200008"
PACKAGE_CODE_UNKNOWN: Final = "310241"
PACKAGE_UNKNOWN: Final = "310243"

_ENDED_STATES: Final = frozenset({"USED_EXPIRED", "UNUSED_EXPIRED", "CANCEL", "REVOKED"})
_SIGNATURE_MAX_AGE_MS: Final = 5 * 60 * 1000
# Loopback jitter: a request the client started exactly 1 s after another may arrive a few
# milliseconds sooner than that one did; do not punish a client that keeps to 8/s.
_RATE_WINDOW_SLACK: Final = 0.05


def _utcnow() -> datetime:
    """Return the current time; the default clock."""
    return datetime.now(UTC)


def format_time(value: datetime) -> str:
    """Format a time the way the docs show it: ``2023-08-17T17:01:37+0000``."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S+0000")


@dataclass(frozen=True, slots=True, kw_only=True)
class TopupPackage:
    """A top-up in the catalogue; ``price`` is times 10,000 (10000 = 1.00)."""

    package_code: str
    name: str
    price: int
    volume: int
    duration: int
    duration_unit: str = "DAY"
    location_code: str = "US"
    currency_code: str = "USD"
    data_type: int = 1
    # To build odd catalogue entries: fields removed from, and values forced into, the JSON.
    drop_fields: frozenset[str] = frozenset()
    overrides: Mapping[str, object] = field(default_factory=dict)

    def validity(self) -> timedelta:
        """Return how long the package extends a line."""
        per_unit = {"DAY": timedelta(days=1), "MONTH": timedelta(days=30)}
        return self.duration * per_unit[self.duration_unit]

    def to_json(self) -> dict[str, object]:
        """Return the ``package/list`` entry."""
        entry: dict[str, object] = {
            "packageCode": self.package_code,
            "slug": self.package_code.lower().replace("_", "-"),
            "name": self.name,
            "price": self.price,
            "currencyCode": self.currency_code,
            "volume": self.volume,
            "unusedValidTime": 180,
            "duration": self.duration,
            "durationUnit": self.duration_unit,
            "location": self.location_code,
            "description": self.name,
            "activeType": 2,
            "supportTopUpType": 2,
            "dataType": self.data_type,
        }
        for name in self.drop_fields:
            entry.pop(name, None)
        entry.update(self.overrides)
        return entry


DEFAULT_PACKAGES: Final = (
    TopupPackage(
        package_code="TOPUP_US_1GB_7D",
        name="United States 1GB 7Days",
        price=45_000,
        volume=1 * GIB,
        duration=7,
    ),
    TopupPackage(
        package_code="TOPUP_US_5GB_30D",
        name="United States 5GB 30Days",
        price=125_000,
        volume=5 * GIB,
        duration=30,
    ),
    TopupPackage(
        package_code="TOPUP_US_20GB_30D",
        name="United States 20GB 30Days",
        price=398_500,
        volume=20 * GIB,
        duration=30,
    ),
    TopupPackage(
        package_code="TOPUP_US_DAILY_1GB_7D",
        name="United States 1GB/Day 7Days",
        price=99_900,
        volume=1 * GIB,
        duration=7,
        data_type=2,
    ),
    TopupPackage(
        package_code="TOPUP_EU_3GB_1M",
        name="Europe 3GB 1Month",
        price=80_000,
        volume=3 * GIB,
        duration=1,
        duration_unit="MONTH",
        location_code="EU-42",
        currency_code="EUR",
    ),
)


@dataclass(slots=True, kw_only=True)
class EmulatedEsim:
    """One eSIM profile as ``esim/query`` reports it."""

    esim_tran_no: str
    iccid: str
    order_no: str
    package_code: str
    package_name: str
    total_volume: int
    order_usage: int = 0
    expired_time: datetime | None = None
    esim_status: str = "IN_USE"
    smdp_status: str = "ENABLED"
    data_type: int = 1
    total_duration: int = 30
    location_code: str = "US"
    msisdn: str | None = None
    package_list: list[dict[str, object]] = field(default_factory=list)
    # To build odd records: fields removed from, and values forced into, the JSON.
    drop_fields: frozenset[str] = frozenset()
    overrides: dict[str, object] = field(default_factory=dict)

    def to_json(
        self, *, expose_transaction_ids: bool, expose_create_time: bool
    ) -> dict[str, object]:
        """Return the ``esimList`` record."""
        hidden = set()
        if not expose_transaction_ids:
            hidden.add("transactionId")
        if not expose_create_time:
            hidden.add("createTime")
        record: dict[str, object] = {
            "esimTranNo": self.esim_tran_no,
            "orderNo": self.order_no,
            "imsi": "45400" + self.iccid[-10:],
            "iccid": self.iccid,
            "msisdn": self.msisdn,
            "ac": f"LPA:1$rsp.example.invalid${self.esim_tran_no}",
            "qrCodeUrl": f"https://example.invalid/qr/{self.esim_tran_no}.png",
            "smdpStatus": self.smdp_status,
            "eid": "",
            "activeType": 1,
            "expiredTime": None if self.expired_time is None else format_time(self.expired_time),
            "totalVolume": self.total_volume,
            "totalDuration": self.total_duration,
            "durationUnit": "DAY",
            "orderUsage": self.order_usage,
            "esimStatus": self.esim_status,
            "smsStatus": 0,
            "dataType": self.data_type,
            "packageList": [
                {key: value for key, value in entry.items() if key not in hidden}
                for entry in self.package_list
            ],
        }
        for name in self.drop_fields:
            record.pop(name, None)
        record.update(self.overrides)
        return record


@dataclass(frozen=True, slots=True, kw_only=True)
class Charge:
    """Money actually taken from the wallet by one top-up."""

    transaction_id: str
    esim_tran_no: str
    package_code: str
    amount: int
    at: datetime


class _ApiError(Exception):
    """An error the API answers with an HTTP 200 envelope."""

    def __init__(self, code: str, message: str) -> None:
        """Keep the documented code and a message."""
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


@dataclass(frozen=True, slots=True, kw_only=True)
class CannedReply:
    """A raw answer served instead of the endpoint's own; nothing is applied.

    ``body`` bytes or str are sent as they are, anything else as JSON.
    """

    status: int = 200
    body: object = None
    headers: Mapping[str, str] = field(default_factory=dict)

    def response(self) -> web.Response:
        """Build the HTTP answer."""
        headers = dict(self.headers)
        if isinstance(self.body, bytes | str):
            raw = self.body.encode() if isinstance(self.body, str) else self.body
            return web.Response(
                status=self.status, body=raw, headers=headers, content_type="application/json"
            )
        return web.json_response(self.body, status=self.status, headers=headers)


def _envelope(obj: object) -> web.Response:
    """Answer success the documented way."""
    return web.json_response({"success": True, "errorCode": "0", "errorMessage": None, "obj": obj})


def _error(code: str, message: str) -> web.Response:
    """Answer an error the documented way: HTTP 200 with ``success: false``."""
    return web.json_response(
        {"success": False, "errorCode": code, "errorMessage": message, "obj": None}
    )


def _text(body: Mapping[str, object], key: str) -> str | None:
    """Read an optional non-empty string filter from a request body."""
    value = body.get(key)
    return value if isinstance(value, str) and value else None


class EsimAccessEmulator(EmulatorServer):
    """The eSIM Access API on loopback, with a wallet, a ledger and fault switches."""

    shutdown_timeout = 1.0

    def __init__(
        self,
        *,
        access_codes: Iterable[str] = (DEFAULT_ACCESS_CODE,),
        secret_key: str | None = None,
        balance: int = 5_000_000,
        rate_limit: int | None = 8,
        retry_after: int = 1,
        timeout_delay: float = 35.0,
        packages: Iterable[TopupPackage] = DEFAULT_PACKAGES,
        clock: Callable[[], datetime] = _utcnow,
        port: int = 0,
    ) -> None:
        """Set the account up; ``balance`` is times 10,000; ``port`` 0 picks a free one."""
        super().__init__(port=port, host=HOST)
        self.valid_access_codes: set[str] = set(access_codes)
        # When set, every request must carry a valid HMAC signature.
        self.secret_key = secret_key
        self.balance = balance
        self.rate_limit = rate_limit
        self.retry_after = retry_after
        self.timeout_delay = timeout_delay
        self.clock = clock
        self.packages: dict[str, TopupPackage] = {p.package_code: p for p in packages}
        self.esims: dict[str, EmulatedEsim] = {}
        self.ledger: list[Charge] = []
        self.request_log: list[str] = []
        self.fail_next: dict[str, FaultMode] = {}
        # How many requests were answered 429 because of the rate limit (not the fault).
        self.throttled = 0
        # Whether top-up entries in packageList carry our transactionId / createTime. The
        # real API documents neither; tests turn them off to check the client copes.
        self.expose_topup_transaction_ids = True
        self.expose_package_create_time = True
        # One raw answer per endpoint, served instead of the endpoint (nothing applied).
        self.reply_next: dict[str, CannedReply] = {}
        # Values forced into the next successful esim/topup answers (after the charge).
        self.topup_answer_overrides: dict[str, object] = {}
        # esimTranNo is not a documented esim/query filter [I]; False ignores it.
        self.filter_by_esim_tran_no = True
        # False answers esim/query without its pager (the client then pages by length).
        self.send_pager = True
        # Called with (endpoint, request body) after each answered call, to change the
        # account between two requests (e.g. remove an eSIM while a client is paging).
        self.on_answer: Callable[[str, dict[str, object]], None] | None = None
        self._topups: dict[str, dict[str, object]] = {}
        self._arrivals: deque[float] = deque()
        self._seq = 0

    # --- lifecycle ----------------------------------------------------------------------

    def build_app(self) -> web.Application:
        """Route every ``POST /api/v1/open/...`` to the endpoint dispatcher."""
        app = web.Application()
        app.router.add_post(API_PREFIX + "{endpoint:.+}", self._handle)
        return app

    # --- account set-up -----------------------------------------------------------------

    def add_esim(
        self,
        *,
        esim_tran_no: str | None = None,
        iccid: str | None = None,
        package_code: str = "US_3GB_30D",
        package_name: str = "United States 3GB 30Days",
        total_volume: int = 3 * GIB,
        order_usage: int = 0,
        expires_in: timedelta | None = timedelta(days=30),
        esim_status: str = "IN_USE",
        smdp_status: str = "ENABLED",
        data_type: int = 1,
        location_code: str = "US",
        msisdn: str | None = None,
        drop_fields: Iterable[str] = (),
        overrides: Mapping[str, object] | None = None,
    ) -> EmulatedEsim:
        """Add an eSIM in any state.

        ``expires_in`` is relative to the clock (negative: already expired; None: no expiry
        yet). ``drop_fields`` / ``overrides`` make malformed records.
        """
        self._seq += 1
        now = self.clock()
        esim = EmulatedEsim(
            esim_tran_no=esim_tran_no or f"2503{self._seq:010d}",
            iccid=iccid or f"8985200{self._seq:012d}",
            order_no=f"B2503{self._seq:09d}",
            package_code=package_code,
            package_name=package_name,
            total_volume=total_volume,
            order_usage=order_usage,
            expired_time=None if expires_in is None else now + expires_in,
            esim_status=esim_status,
            smdp_status=smdp_status,
            data_type=data_type,
            location_code=location_code,
            msisdn=msisdn,
            drop_fields=frozenset(drop_fields),
            overrides=dict(overrides or {}),
        )
        esim.package_list.append(
            {
                "packageName": package_name,
                "packageCode": package_code,
                "slug": package_code.lower(),
                "duration": 30,
                "volume": total_volume,
                "locationCode": location_code,
                "createTime": format_time(now - timedelta(days=1)),
            }
        )
        self.esims[esim.esim_tran_no] = esim
        return esim

    def serve_implausible(self, esim_tran_no: str, value: ImplausibleValue) -> None:
        """Make ``esim/query`` report an impossible ``value`` for one eSIM from now on."""
        self.esims[esim_tran_no].overrides |= {
            "negative_size": {"totalVolume": -1},
            "huge_size": {"totalVolume": 2 * 10**15},
            "old_date": {"expiredTime": "1999-12-31T00:00:00+0000"},
            "far_date": {"expiredTime": "2101-01-02T00:00:00+0000"},
            "wrong_type": {"orderUsage": {"bytes": 1024}},
        }[value]

    def seed(self, count: int, *, rng: random.Random | None = None) -> list[EmulatedEsim]:
        """Add ``count`` plausible eSIMs in a realistic mix of states."""
        rng = rng or random.Random(1)
        added: list[EmulatedEsim] = []
        for index in range(count):
            roll = rng.random()
            gigabytes = rng.choice((1, 3, 5, 10, 20))
            total = gigabytes * GIB
            usage = int(total * rng.uniform(0, 0.95))
            status, smdp, data_type = "IN_USE", "ENABLED", 1
            code, name = f"US_{gigabytes}GB_30D", f"United States {gigabytes}GB 30Days"
            expires_in = timedelta(days=rng.randint(1, 30))
            if 0.6 <= roll < 0.7:  # ran out of data
                usage, status = total, "USED_UP"
            elif 0.7 <= roll < 0.8:  # bought, not installed yet
                usage, status, smdp = 0, "GOT_RESOURCE", "RELEASED"
            elif 0.8 <= roll < 0.9:  # ran out of time
                status, expires_in = "USED_EXPIRED", timedelta(days=-rng.randint(1, 20))
            elif roll >= 0.9:  # a daily plan: totalVolume is the allowance per day
                total, usage, data_type = GIB, int(GIB * rng.uniform(0, 4)), 2
                code, name = "US_DAILY_1GB_30D", "United States 1GB/Day 30Days"
            added.append(
                self.add_esim(
                    package_code=code,
                    package_name=name,
                    total_volume=total,
                    order_usage=usage,
                    expires_in=expires_in + timedelta(hours=rng.randint(0, 23)),
                    esim_status=status,
                    smdp_status=smdp,
                    data_type=data_type,
                    msisdn=f"+1555{index:07d}" if rng.random() < 0.3 else None,
                )
            )
        return added

    def requests_to(self, endpoint: str) -> int:
        """Count the requests received for an endpoint such as ``esim/query``."""
        return self.request_log.count(API_PREFIX + endpoint)

    # --- request handling ---------------------------------------------------------------

    def _over_rate_limit(self) -> bool:
        """Record an arrival; tell whether it exceeds ``rate_limit`` in the last second."""
        if self.rate_limit is None:
            return False
        window = 1.0 - _RATE_WINDOW_SLACK
        return over_limit(self._arrivals, self.rate_limit, window, time.monotonic())

    def _too_many(self) -> web.Response:
        """Answer HTTP 429 with Retry-After."""
        return web.json_response(
            {"success": False, "errorCode": "429", "errorMessage": "Too Many Requests"},
            status=429,
            headers={"Retry-After": str(self.retry_after)},
        )

    def _authenticate(self, request: web.Request, body: bytes) -> None:
        """Check RT-AccessCode, and the HMAC signature when a secret is set."""
        access_code = request.headers.get("RT-AccessCode")
        if not access_code:
            raise _ApiError(HEADER_MISSING, "request header [RT-AccessCode] is missing")
        if access_code not in self.valid_access_codes:
            raise _ApiError(ACCESS_CODE_INVALID, "RT-AccessCode is invalid")
        if self.secret_key is None:
            return
        timestamp = request.headers.get("RT-Timestamp", "")
        request_id = request.headers.get("RT-RequestID", "")
        signature = request.headers.get("RT-Signature", "")
        if not (timestamp and request_id and signature):
            raise _ApiError(HEADER_MISSING, "request header [RT-Signature] is missing")
        if not timestamp.isdigit() or abs(time.time() * 1000 - int(timestamp)) > (
            _SIGNATURE_MAX_AGE_MS
        ):
            raise _ApiError(TIMESTAMP_EXPIRED, "timestamp expired")
        sign_data = timestamp + request_id + access_code + body.decode("utf-8", "replace")
        expected = hmac.new(self.secret_key.encode(), sign_data.encode(), hashlib.sha256)
        # The docs disagree on the hex case (comment: lower, example: upper): accept both.
        if not hmac.compare_digest(expected.hexdigest(), signature.lower()):
            raise _ApiError(SIGNATURE_MISMATCH, "signature mismatch")

    async def _fault_before_commit(self, fault: FaultMode | None) -> web.Response | None:
        """Answer for the faults that strike before anything is applied, else None."""
        if fault == "rate_limit":
            return self._too_many()
        if fault == "timeout":
            await self.park(self.timeout_delay)
            return _error(SERVER_ERROR, "request timed out")
        if fault == "http_500":
            return web.Response(status=500, text="Internal Server Error")
        if fault == "malformed":
            return web.Response(text='{"success": true, "obj": {', content_type="application/json")
        if fault == "expired_key":
            return _error(ACCESS_CODE_INVALID, "RT-AccessCode has expired")
        return None

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        """Serve one API call: rate limit, faults, auth, then the endpoint."""
        endpoint = request.match_info["endpoint"]
        self.request_log.append(request.path)
        if self._over_rate_limit():
            self.throttled += 1
            return self._too_many()
        fault = self.fail_next.pop(endpoint, None)
        if (common := await self.common_fault(request, fault)) is not None:
            return common
        if (early := await self._fault_before_commit(fault)) is not None:
            return early
        if (canned := self.reply_next.pop(endpoint, None)) is not None:
            return canned.response()
        route = self._routes.get(endpoint)
        if route is None:
            return web.Response(status=404, text="Not Found")
        response = self._answer(endpoint, route, request, await request.read())
        if fault == "drop_after_commit":
            # Applied; now the answer is lost on the way back.
            if request.transport is not None:
                request.transport.close()
        elif fault == "http_500_after_commit":
            return web.Response(status=500, text="Internal Server Error")
        return response

    def _answer(
        self,
        endpoint: str,
        route: Callable[[EsimAccessEmulator, dict[str, object]], object],
        request: web.Request,
        raw: bytes,
    ) -> web.Response:
        """Authenticate and serve one endpoint; API errors become error envelopes."""
        try:
            self._authenticate(request, raw)
            body = self._body(raw)
            response = _envelope(route(self, body))
        except _ApiError as err:
            return _error(err.code, err.message)
        if self.on_answer is not None:
            self.on_answer(endpoint, body)
        return response

    @staticmethod
    def _body(raw: bytes) -> dict[str, object]:
        """Parse a JSON object body (an empty body counts as ``{}``)."""
        if not raw.strip():
            return {}
        try:
            body = json.loads(raw)
        except ValueError as err:
            raise _ApiError(PARAM_INVALID, "request body is not valid JSON") from err
        if not isinstance(body, dict):
            raise _ApiError(PARAM_INVALID, "request body must be a JSON object")
        return body

    # --- endpoints ----------------------------------------------------------------------

    def _balance_query(self, body: dict[str, object]) -> object:
        """``balance/query``: the wallet, times 10,000."""
        return {"balance": self.balance, "lastUpdateTime": format_time(self.clock())}

    def _esim_query(self, body: dict[str, object]) -> object:
        """``esim/query``: eSIMs filtered by orderNo/iccid/esimTranNo, one page at a time."""
        pager = body.get("pager")
        if not isinstance(pager, dict):
            raise _ApiError(PARAM_INVALID, "pager is required")
        page_num, page_size = pager.get("pageNum"), pager.get("pageSize")
        if not isinstance(page_num, int) or not 1 <= page_num <= 10_000:
            raise _ApiError(PARAM_INVALID, "pager.pageNum must be 1-10000")
        if not isinstance(page_size, int) or not 5 <= page_size <= 500:
            raise _ApiError(PARAM_INVALID, "pager.pageSize must be 5-500")
        filters = {
            "order_no": _text(body, "orderNo"),
            "iccid": _text(body, "iccid"),
            "esim_tran_no": _text(body, "esimTranNo") if self.filter_by_esim_tran_no else None,
        }
        matching = [
            esim
            for esim in self.esims.values()
            if all(value is None or getattr(esim, key) == value for key, value in filters.items())
        ]
        start = (page_num - 1) * page_size
        answer: dict[str, object] = {
            "esimList": [
                esim.to_json(
                    expose_transaction_ids=self.expose_topup_transaction_ids,
                    expose_create_time=self.expose_package_create_time,
                )
                for esim in matching[start : start + page_size]
            ]
        }
        if self.send_pager:
            answer["pager"] = {"pageSize": page_size, "pageNum": page_num, "total": len(matching)}
        return answer

    def _usage_query(self, body: dict[str, object]) -> object:
        """``esim/usage/query``: usage of up to 10 eSIMs."""
        ids = body.get("esimTranNoList")
        if not isinstance(ids, list) or not 1 <= len(ids) <= 10:
            raise _ApiError(PARAM_INVALID, "esimTranNoList must hold 1-10 esimTranNo")
        # Usage is "updated every 2-3 hours"; report it as measured a while ago.
        measured = format_time(self.clock() - timedelta(hours=2))
        return {
            "esimUsageList": [
                {
                    "esimTranNo": esim.esim_tran_no,
                    "dataUsage": esim.order_usage,
                    "totalData": esim.total_volume,
                    "lastUpdateTime": measured,
                }
                for esim_id in ids
                if isinstance(esim_id, str) and (esim := self.esims.get(esim_id)) is not None
            ]
        }

    def _latest_by_iccid(self, iccid: str) -> EmulatedEsim | None:
        """Return the newest eSIM with an ICCID (ICCIDs are reused)."""
        found = [esim for esim in self.esims.values() if esim.iccid == iccid]
        return found[-1] if found else None

    def _package_list(self, body: dict[str, object]) -> object:
        """``package/list``: the catalogue; ``type: TOPUP`` + iccid gives a line's top-ups."""
        candidates = list(self.packages.values())
        if body.get("type") == "TOPUP":
            iccid = _text(body, "iccid")
            if iccid is None:
                raise _ApiError(PARAM_INVALID, "iccid is required for type TOPUP")
            if (esim := self._latest_by_iccid(iccid)) is None:
                raise _ApiError(PARAM_INVALID, "iccid not found")
            candidates = [
                package
                for package in candidates
                if package.location_code == esim.location_code
                and package.data_type == esim.data_type
            ]
        if (code := _text(body, "packageCode")) is not None:
            candidates = [package for package in candidates if package.package_code == code]
        if (location := _text(body, "locationCode")) is not None:
            candidates = [package for package in candidates if package.location_code == location]
        return {"packageList": [package.to_json() for package in candidates]}

    def _topup_target(self, body: dict[str, object]) -> tuple[EmulatedEsim, TopupPackage]:
        """Find the eSIM and package of a top-up, refusing what the API refuses."""
        esim_id, iccid = _text(body, "esimTranNo"), _text(body, "iccid")
        esim = self.esims.get(esim_id) if esim_id else None
        if esim is None and esim_id is None and iccid is not None:
            esim = self._latest_by_iccid(iccid)  # iccid is the deprecated way
        if esim is None:
            raise _ApiError(ORDER_PARAMS_ERROR, "eSIM not found")
        code = _text(body, "packageCode")
        package = self.packages.get(code) if code else None
        if package is None:
            raise _ApiError(PACKAGE_CODE_UNKNOWN, "packageCode does not exist")
        if package.location_code != esim.location_code:
            raise _ApiError(PACKAGE_UNKNOWN, "package does not exist for this eSIM")
        if esim.esim_status in _ENDED_STATES or (
            esim.expired_time is not None and esim.expired_time <= self.clock()
        ):
            raise _ApiError(STATUS_NOT_ALLOWED, "top-up not allowed after eSIM expiry")
        amount = body.get("amount")
        if amount not in (None, "") and str(amount) != str(package.price):
            raise _ApiError(PRICE_ERROR, "package price error")
        if self.balance < package.price:
            raise _ApiError(INSUFFICIENT_BALANCE, "insufficient balance")
        return esim, package

    def _topup(self, body: dict[str, object]) -> object:
        """``esim/topup``: charge the wallet and extend the eSIM; transactionId dedupes."""
        transaction_id = _text(body, "transactionId")
        if transaction_id is None or len(transaction_id) > 50:
            raise _ApiError(PARAM_INVALID, "transactionId is required (max 50 chars)")
        if (done := self._topups.get(transaction_id)) is not None:
            # "Duplicate transactionId will be identified as the same request."
            return done
        esim, package = self._topup_target(body)
        now = self.clock()
        self.balance -= package.price
        self.ledger.append(
            Charge(
                transaction_id=transaction_id,
                esim_tran_no=esim.esim_tran_no,
                package_code=package.package_code,
                amount=package.price,
                at=now,
            )
        )
        start = now if esim.expired_time is None else max(now, esim.expired_time)
        esim.expired_time = start + package.validity()
        esim.total_volume += package.volume
        esim.total_duration += package.validity().days
        if esim.esim_status == "USED_UP":
            esim.esim_status = "IN_USE"
        esim.package_list.append(
            {
                "packageName": package.name,
                "packageCode": package.package_code,
                "slug": package.package_code.lower(),
                "duration": package.duration,
                "volume": package.volume,
                "locationCode": package.location_code,
                "createTime": format_time(now),
                "transactionId": transaction_id,
            }
        )
        result: dict[str, object] = {
            "transactionId": transaction_id,
            "iccid": esim.iccid,
            "expiredTime": format_time(esim.expired_time),
            "totalVolume": esim.total_volume,
            "totalDuration": esim.total_duration,
            "orderUsage": esim.order_usage,
            **self.topup_answer_overrides,
        }
        self._topups[transaction_id] = result
        return result

    _routes: Final[Mapping[str, Callable[[EsimAccessEmulator, dict[str, object]], object]]] = {
        "balance/query": _balance_query,
        "esim/query": _esim_query,
        "esim/usage/query": _usage_query,
        "package/list": _package_list,
        "esim/topup": _topup,
    }


async def _serve(port: int, lines: int, access_code: str, secret_key: str | None) -> None:
    """Run a seeded emulator until interrupted."""
    emulator = EsimAccessEmulator(access_codes=(access_code,), secret_key=secret_key, port=port)
    emulator.seed(lines)
    async with emulator:
        print(f"eSIM Access emulator on {emulator.base_url}")  # noqa: T201
        print(f"access code: {access_code}; {lines} eSIMs; Ctrl-C to stop")  # noqa: T201
        await asyncio.Event().wait()


def main() -> None:
    """Parse the command line and serve."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--lines", type=int, default=20)
    parser.add_argument("--access-code", default=DEFAULT_ACCESS_CODE)
    parser.add_argument("--secret-key", default=None)
    args = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(args.port, args.lines, args.access_code, args.secret_key))


if __name__ == "__main__":
    main()
