"""A loopback emulator of the 1NCE Management API (v1), for tests, demos and benchmarks.

It serves the documented endpoints under ``/management-api`` with the documented shapes:
``POST /oauth/token`` with HTTP Basic (tokens live 3600 s), the paged SIM listing (a JSON
array with ``X-Total-Count``/``X-Total-Pages``/``X-Current-Page``/``X-Count-Per-Page``), a
single SIM, its data quota in MB (``volume`` may be negative), ``POST .../topup`` answering
``201`` + ``Location`` of an order, and the order list (10 per page, ``sort``). It enforces
the documented limits with HTTP 429 + ``Retry-After``: 10 per second on ``/sims`` and 100
per 5 minutes on ``/orders``. Every top-up is recorded in ``ledger`` as the invoice it is.

Errors are mostly bare status codes, as in v1: 401, 403 "SIM does not belong to user",
422 for an expired SIM, 400 ``{"message": "Payment method used is not valid."}``.

Fault switches (``fail_next[route] = mode``, one request each; see ``ROUTES`` and
``TokenApiFaultMode``) reproduce what real networks do to a purchase.

Run it standalone (it only ever binds to loopback)::

    python -m tests.emulators.onence --port 8768 --lines 20
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import binascii
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Mapping
import contextlib
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
import itertools
import json
import math
import random
import time
from typing import Final

from aiohttp import web

from .server import HOST, EmulatorServer, ImplausibleValue, TokenApiFaultMode, over_limit

API_PREFIX: Final = "/management-api"
DEFAULT_CLIENT_ID: Final = "1nce-api-user"
DEFAULT_CLIENT_SECRET: Final = "1nce-api-password"  # noqa: S105 - a test credential
DEFAULT_TOKEN_LIFETIME: Final = 3600

# Route names, as used by ``fail_next`` and ``calls``.
ROUTES: Final = frozenset({"token", "sims", "sim", "quota", "topup", "orders", "order"})
_SIMS_ROUTES: Final = frozenset({"sims", "sim", "quota", "topup"})
_ORDERS_ROUTES: Final = frozenset({"orders", "order"})
PAYMENT_METHODS: Final = frozenset({"banktransfer", "creditcard", "monthlyinvoice", "boleto"})
EXPIRED_MESSAGE: Final = (
    "The following SIMs are expired and cannot be modified via API. Only extensions are permitted"
)
# Loopback jitter: do not punish a client that keeps exactly to the limit.
_RATE_WINDOW_SLACK: Final = 0.05


def _utcnow() -> datetime:
    """Return the current time; the default clock."""
    return datetime.now(UTC)


def format_time(value: datetime) -> str:
    """Format a time the way the quota does: ``2029-01-01T00:00:00.000Z``."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def format_sim_time(value: datetime) -> str:
    """Format a time the way the SIM listing does: ``2018-03-09T07:59:09.000+0000``."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000+0000")


def _number(value: Decimal) -> int | float:
    """Return a JSON number (integers stay integers)."""
    return int(value) if value == value.to_integral_value() else float(value)


def _luhn_digit(digits: str) -> str:
    """Return the Luhn check digit of a digit string."""
    total = 0
    for index, char in enumerate(reversed(digits)):
        number = int(char)
        if index % 2 == 0:
            number *= 2
            if number > 9:
                number -= 9
        total += number
    return str((10 - total % 10) % 10)


@dataclass(slots=True, kw_only=True)
class EmulatedSim:
    """One 1NCE SIM and its data quota (MB)."""

    iccid: str
    imsi: str
    msisdn: str
    label: str | None = None
    status: str = "Enabled"
    activation_date: datetime | None = None
    volume_mb: Decimal = Decimal(500)
    total_volume_mb: Decimal = Decimal(500)
    expiry_date: datetime | None = None
    last_volume_added: Decimal = Decimal(500)
    last_status_change: datetime | None = None
    # Fields forced into the quota answer and the SIM record, to build odd records.
    quota_overrides: dict[str, object] = field(default_factory=dict)
    sim_overrides: dict[str, object] = field(default_factory=dict)
    # Answer the quota with this status and message instead (e.g. 422 for an expired SIM).
    quota_error: tuple[int, str] | None = None

    def quota_status(self) -> dict[str, object]:
        """Return the listing's ``quota_status`` (0: >20 %, 1: <20 %, 2: used up)."""
        share = self.volume_mb / self.total_volume_mb if self.total_volume_mb else Decimal(0)
        if self.volume_mb <= 0:
            return {"id": 2, "description": "EXHAUSTED"}
        if share < Decimal("0.2"):
            return {"id": 1, "description": "LESS_THAN_20_PERCENT_LEFT"}
        return {"id": 0, "description": "MORE_THAN_20_PERCENT_LEFT"}

    def to_json(self) -> dict[str, object]:
        """Return the ``GET /v1/sims`` entry."""
        activated = self.activation_date
        return {
            "iccid": self.iccid,
            "iccid_with_luhn": self.iccid + _luhn_digit(self.iccid),
            "imsi": self.imsi,
            "imsi_2": None,
            "current_imsi": self.imsi,
            "msisdn": self.msisdn,
            "imei": None,
            "imei_lock": False,
            "status": self.status,
            "activation_date": None if activated is None else format_sim_time(activated),
            "ip_address": "10.0.0.1",
            "current_quota": _number(self.volume_mb),
            "quota_status": self.quota_status(),
            "current_quota_SMS": 250,
            "quota_status_SMS": {"id": 0, "description": "MORE_THAN_20_PERCENT_LEFT"},
            "label": self.label,
        } | self.sim_overrides

    def quota_json(self, now: datetime) -> dict[str, object]:
        """Return the ``GET /v1/sims/{iccid}/quota/data`` answer."""
        changed = self.last_status_change or now
        data: dict[str, object] = {
            "volume": _number(self.volume_mb),
            "total_volume": _number(self.total_volume_mb),
            "expiry_date": None if self.expiry_date is None else format_time(self.expiry_date),
            "peak_throughput": 1_000_000,
            "last_volume_added": _number(self.last_volume_added),
            "last_status_change_date": format_time(changed),
            "threshold_percentage": 20,
        }
        data.update(self.quota_overrides)
        return data


@dataclass(frozen=True, slots=True, kw_only=True)
class Charge:
    """One top-up invoiced to the customer."""

    order_number: int
    iccid: str
    amount: Decimal
    currency: str
    payment_method: str
    at: datetime


@dataclass(slots=True, kw_only=True)
class EmulatedOrder:
    """An order in the order list."""

    order_number: int
    order_type: str
    order_date: datetime
    iccids: list[str]
    invoice_amount: Decimal
    currency: str = "EUR"
    order_status: str = "COMPLETED"

    def to_json(self, base_url: str) -> dict[str, object]:
        """Return the order shape."""
        return {
            "order_number": self.order_number,
            "order_type": self.order_type,
            "order_date": format_time(self.order_date),
            "order_status": self.order_status,
            "invoice_number": f"INV-{self.order_number}",
            "invoice_amount": f"{self.invoice_amount:.2f}",
            "currency": self.currency,
            "shipping_address": None,
            "sims": [
                {"iccid": iccid, "_links": {"self": f"{base_url}/v1/sims/{iccid}"}}
                for iccid in self.iccids
            ],
            "products": [{"product_id": 1001, "quantity": len(self.iccids)}],
        }


@dataclass(slots=True, kw_only=True)
class RequestRecord:
    """One request the emulator received."""

    route: str
    method: str
    path: str
    query: dict[str, str]
    status: int = 0


type _Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _message(status: int, message: str) -> web.Response:
    """Answer an error with a v1 ``{"message": ...}`` body."""
    return web.json_response({"message": message}, status=status)


class OnenceEmulator(EmulatorServer):
    """The 1NCE Management API on loopback, with an invoice ledger and fault switches."""

    api_prefix = API_PREFIX

    def __init__(
        self,
        *,
        client_id: str = DEFAULT_CLIENT_ID,
        client_secret: str = DEFAULT_CLIENT_SECRET,
        token_lifetime: int = DEFAULT_TOKEN_LIFETIME,
        sims_rate_limit: int | None = 10,
        orders_rate_limit: int | None = 100,
        retry_after: int = 1,
        timeout_delay: float = 35.0,
        topup_volume_mb: int = 500,
        topup_price: Decimal | str = Decimal("10.00"),
        currency: str = "EUR",
        clock: Callable[[], datetime] = _utcnow,
        port: int = 0,
    ) -> None:
        """Set the customer up; ``port`` 0 picks a free one.

        ``sims_rate_limit`` is per second, ``orders_rate_limit`` per 5 minutes (None: off).
        """
        super().__init__(port=port, host=HOST)
        self.client_id = client_id
        self.client_secret = client_secret
        self.token_lifetime = token_lifetime
        self.sims_rate_limit = sims_rate_limit
        self.orders_rate_limit = orders_rate_limit
        self.retry_after = retry_after
        self.timeout_delay = timeout_delay
        self.topup_volume_mb = topup_volume_mb
        self.topup_price = Decimal(topup_price)
        self.currency = currency
        self.clock = clock
        self.sims: dict[str, EmulatedSim] = {}
        self.orders: list[EmulatedOrder] = []
        self.ledger: list[Charge] = []
        self.request_log: list[RequestRecord] = []
        self.fail_next: dict[str, TokenApiFaultMode] = {}
        # Every call of POST /oauth/token, whatever its outcome.
        self.token_calls = 0
        # The payment methods the customer's account can use; others answer 400.
        self.accepted_payment_methods: set[str] = {"banktransfer", "creditcard"}
        # Whether ``sort=-order_date`` is understood (False: 400 for a "-" prefix [I]).
        self.sort_prefix_supported = True
        # Whether the SIM listing carries the paging headers.
        self.paging_headers = True
        # Whether the top-up answer carries ``Location``.
        self.location_header = True
        # What an ICCID that is not the customer's answers: 403 (documented) or 404.
        self.foreign_sim_status = 403
        # How many requests were answered 429 by a limit (not by the fault switch).
        self.throttled = 0
        self._tokens: dict[str, datetime] = {}
        self._sims_arrivals: deque[float] = deque()
        self._orders_arrivals: deque[float] = deque()
        self._serial = itertools.count(1)
        self._order_numbers = itertools.count(1001)

    # --- lifecycle ---------------------------------------------------------------------

    def build_app(self) -> web.Application:
        """Route the documented endpoints through the log, limits, faults and auth."""
        app = web.Application()
        routes: list[tuple[str, str, str, _Handler]] = [
            ("POST", "/oauth/token", "token", self._token),
            ("GET", "/v1/sims", "sims", self._list_sims),
            ("GET", "/v1/sims/{iccid}", "sim", self._get_sim),
            ("GET", "/v1/sims/{iccid}/quota/data", "quota", self._quota),
            ("POST", "/v1/sims/{iccid}/topup", "topup", self._topup),
            ("GET", "/v1/orders", "orders", self._list_orders),
            ("GET", "/v1/orders/{order_number}", "order", self._get_order),
        ]
        for method, path, route, handler in routes:
            app.router.add_route(method, API_PREFIX + path, self._guard(route, handler))
        return app

    # --- account set-up ------------------------------------------------------------------

    def add_sim(
        self,
        *,
        iccid: str | None = None,
        label: str | None = None,
        status: str = "Enabled",
        volume_mb: int | Decimal | str = 350,
        total_volume_mb: int | Decimal | str = 500,
        expires_in: timedelta | None = timedelta(days=3650),
        activated: bool = True,
        quota_overrides: Mapping[str, object] | None = None,
        sim_overrides: Mapping[str, object] | None = None,
    ) -> EmulatedSim:
        """Add a SIM; ``volume_mb`` may be negative (an overdraft), ``expires_in`` past.

        ``activated`` False leaves ``activation_date`` null (a SIM never switched on).
        """
        number = next(self._serial)
        now = self.clock()
        sim = EmulatedSim(
            iccid=iccid or f"8988228066{number:09d}",
            imsi=f"90140510{number:07d}",
            msisdn=f"88236{number:08d}",
            label=label,
            status=status,
            activation_date=now - timedelta(days=30) if activated else None,
            volume_mb=Decimal(volume_mb),
            total_volume_mb=Decimal(total_volume_mb),
            expiry_date=None if expires_in is None else now + expires_in,
            last_status_change=now - timedelta(days=30),
            quota_overrides=dict(quota_overrides or {}),
            sim_overrides=dict(sim_overrides or {}),
        )
        self.sims[sim.iccid] = sim
        return sim

    def add_order(
        self,
        *,
        iccids: Iterable[str],
        order_type: str = "TOPUP",
        age: timedelta = timedelta(0),
        status: str = "COMPLETED",
    ) -> EmulatedOrder:
        """Put an order in the history (e.g. one placed in the portal), ``age`` ago."""
        order = EmulatedOrder(
            order_number=next(self._order_numbers),
            order_type=order_type,
            order_date=self.clock() - age,
            iccids=list(iccids),
            invoice_amount=self.topup_price,
            currency=self.currency,
            order_status=status,
        )
        self.orders.append(order)
        return order

    def serve_implausible(self, iccid: str, value: ImplausibleValue) -> None:
        """Make the data quota of one SIM report an impossible ``value`` from now on (MB).

        A negative ``volume`` is documented (an overdraft): the negative size is the total.
        """
        self.sims[iccid].quota_overrides |= {
            "negative_size": {"total_volume": -500},
            "huge_size": {"total_volume": 2_000_000_000},
            "old_date": {"expiry_date": "1999-12-31T00:00:00.000Z"},
            "far_date": {"expiry_date": "2101-01-02T00:00:00.000Z"},
            "wrong_type": {"volume": [350]},
        }[value]

    def seed(self, count: int, *, rng: random.Random | None = None) -> list[EmulatedSim]:
        """Add ``count`` plausible SIMs: mostly healthy, some low, overdrawn or disabled."""
        rng = rng or random.Random(3)
        added: list[EmulatedSim] = []
        for index in range(count):
            roll = rng.random()
            if roll < 0.1:
                sim = self.add_sim(volume_mb=Decimal("-1.25"), label=f"tracker-{index}")
            elif roll < 0.2:
                sim = self.add_sim(status="Disabled")
            elif roll < 0.3:
                sim = self.add_sim(volume_mb=Decimal("42.5"), label=f"meter-{index}")
            else:
                left = Decimal(rng.randint(50, 500))
                days = timedelta(days=rng.randint(30, 3600))
                sim = self.add_sim(volume_mb=left, expires_in=days)
            added.append(sim)
        return added

    def expire_tokens(self) -> None:
        """Make every token issued so far invalid (the next request with one gets 401)."""
        self._tokens.clear()

    def calls(self, route: str) -> int:
        """Count the requests received for a route (see ``ROUTES``)."""
        return sum(1 for record in self.request_log if record.route == route)

    # --- the request pipeline ----------------------------------------------------------

    def _guard(self, route: str, handler: _Handler) -> _Handler:
        """Wrap a handler with the log, the rate limits, faults and auth."""

        async def serve(request: web.Request) -> web.StreamResponse:
            record = RequestRecord(
                route=route, method=request.method, path=request.path, query=dict(request.query)
            )
            self.request_log.append(record)
            response = await self._serve(route, request, handler)
            record.status = response.status
            return response

        return serve

    def _limited(self, route: str) -> web.Response | None:
        """Apply the documented per-path limit; a 429 once it is exceeded."""
        if route in _SIMS_ROUTES:
            arrivals, limit, period = self._sims_arrivals, self.sims_rate_limit, 1.0
        elif route in _ORDERS_ROUTES:
            arrivals, limit, period = self._orders_arrivals, self.orders_rate_limit, 300.0
        else:
            return None
        if limit is None:
            return None
        now = time.monotonic()
        window = period - _RATE_WINDOW_SLACK
        if not over_limit(arrivals, limit, window, now):
            return None
        self.throttled += 1
        wait = max(math.ceil(window - (now - arrivals[0])), 1)
        return self._too_many(wait)

    async def _serve(
        self, route: str, request: web.Request, handler: _Handler
    ) -> web.StreamResponse:
        """Apply the limits, faults and auth around ``handler``."""
        if (refused := self._limited(route)) is not None:
            return refused
        fault = self.fail_next.pop(route, None)
        if (common := await self.common_fault(request, fault)) is not None:
            return common
        if (early := await self._before(fault)) is not None:
            return early
        if route != "token" and not self._authorized(request):
            return web.Response(status=401)
        response = await handler(request)
        if fault == "drop_after_commit":
            # Applied; now the answer is lost on the way back.
            if request.transport is not None:
                request.transport.close()
        elif fault in {"http_500_after_commit", "http_503_after_commit"}:
            status = 500 if fault == "http_500_after_commit" else 503
            return web.Response(status=status, text="Server Error")
        return response

    async def _before(self, fault: TokenApiFaultMode | None) -> web.Response | None:
        """Answer for the faults that strike before anything is applied, else None."""
        if fault == "rate_limit":
            return self._too_many(self.retry_after)
        if fault == "timeout":
            await self.park(self.timeout_delay)
            return web.Response(status=504, text="Gateway Timeout")
        if fault in {"http_500", "http_503"}:
            return web.Response(status=500 if fault == "http_500" else 503, text="Server Error")
        if fault == "malformed":
            return web.Response(text='[{"iccid": ', content_type="application/json")
        if fault == "expired_token":
            self.expire_tokens()
        return None

    def _too_many(self, wait: int) -> web.Response:
        """Answer HTTP 429 with Retry-After."""
        return web.json_response(
            {"message": "Too Many Requests"}, status=429, headers={"Retry-After": str(wait)}
        )

    def _authorized(self, request: web.Request) -> bool:
        """Check the bearer token and its expiry."""
        token = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        expires = self._tokens.get(token)
        return expires is not None and self.clock() < expires

    def _foreign(self) -> web.Response:
        """Answer for an ICCID that is not the customer's."""
        if self.foreign_sim_status == 404:
            return web.json_response(
                {"error_code": 1000, "error_token": "NotFound", "message": "Element not found"},
                status=404,
            )
        return _message(403, "SIM does not belong to user")

    # --- endpoints -----------------------------------------------------------------------

    def _credentials(self, request: web.Request) -> tuple[str, str] | None:
        """Read the Basic auth pair."""
        header = request.headers.get("Authorization", "")
        if not header.startswith("Basic "):
            return None
        try:
            decoded = base64.b64decode(header.removeprefix("Basic "), validate=True).decode()
        except binascii.Error, UnicodeDecodeError:
            return None
        user, _, password = decoded.partition(":")
        return user, password

    async def _token(self, request: web.Request) -> web.StreamResponse:
        """``POST /oauth/token``: Basic auth, ``{"grant_type": "client_credentials"}``."""
        self.token_calls += 1
        if request.content_type != "application/json":
            return self._auth_error("UnsupportedContentTypeError", "Content type not supported")
        try:
            body = json.loads(await request.read())
        except ValueError:
            body = None
        if not isinstance(body, dict) or body.get("grant_type") != "client_credentials":
            return self._auth_error("BodyValidationError", "grant_type must be client_credentials")
        if self._credentials(request) != (self.client_id, self.client_secret):
            return self._auth_error("BadCredentials", "Bad credentials")
        token = f"1nce-token-{random.getrandbits(64):016x}"
        self._tokens[token] = self.clock() + timedelta(seconds=self.token_lifetime)
        return web.json_response(
            {
                "status_code": 200,
                "access_token": token,
                "token_type": "bearer",
                "expires_in": self.token_lifetime,
                "userId": self.client_id,
                "scope": "all",
            }
        )

    @staticmethod
    def _auth_error(code: str, message: str) -> web.Response:
        """Answer a token error, HTTP 400."""
        return web.json_response(
            {"statusCode": 400, "errorCode": code, "message": message}, status=400
        )

    async def _list_sims(self, request: web.Request) -> web.StreamResponse:
        """``GET /v1/sims``: a JSON array; the page count is in the headers."""
        try:
            page = int(request.query.get("page", "1"))
            page_size = int(request.query.get("pageSize", "10"))
        except ValueError:
            return web.Response(status=400)
        if page < 1 or not 1 <= page_size <= 100:
            return _message(400, "pageSize must be between 1 and 100")
        sims = list(self.sims.values())
        pages = max(math.ceil(len(sims) / page_size), 1)
        chunk = sims[(page - 1) * page_size : page * page_size]
        headers = {}
        if self.paging_headers:
            headers = {
                "X-Total-Count": str(len(sims)),
                "X-Total-Pages": str(pages),
                "X-Current-Page": str(page),
                "X-Count-Per-Page": str(page_size),
            }
        return web.json_response([sim.to_json() for sim in chunk], headers=headers)

    async def _get_sim(self, request: web.Request) -> web.StreamResponse:
        """``GET /v1/sims/{iccid}``."""
        sim = self.sims.get(request.match_info["iccid"])
        return self._foreign() if sim is None else web.json_response(sim.to_json())

    async def _quota(self, request: web.Request) -> web.StreamResponse:
        """``GET /v1/sims/{iccid}/quota/data``: MB, 1 MB = 1024 KB; volume may be negative."""
        sim = self.sims.get(request.match_info["iccid"])
        if sim is None:
            return self._foreign()
        if sim.quota_error is not None:
            return _message(*sim.quota_error)
        return web.json_response(sim.quota_json(self.clock()))

    async def _topup(self, request: web.Request) -> web.StreamResponse:
        """``POST /v1/sims/{iccid}/topup``: invoice the top-up; 201 + Location."""
        sim = self.sims.get(request.match_info["iccid"])
        if sim is None:
            return self._foreign()
        now = self.clock()
        if sim.expiry_date is not None and sim.expiry_date <= now:
            return _message(422, EXPIRED_MESSAGE)
        method = request.query.get("payment_method", "banktransfer")
        if method not in PAYMENT_METHODS:
            method = "banktransfer"  # documented: an invalid method falls back
        if method not in self.accepted_payment_methods:
            return _message(400, "Payment method used is not valid.")
        order = self.add_order(iccids=[sim.iccid])
        self.ledger.append(
            Charge(
                order_number=order.order_number,
                iccid=sim.iccid,
                amount=self.topup_price,
                currency=self.currency,
                payment_method=method,
                at=now,
            )
        )
        sim.volume_mb += self.topup_volume_mb
        sim.total_volume_mb += self.topup_volume_mb
        sim.last_volume_added = Decimal(self.topup_volume_mb)
        sim.last_status_change = now
        headers = {}
        if self.location_header:
            headers["Location"] = f"{self.base_url}/v1/orders/{order.order_number}"
        return web.Response(status=201, headers=headers)

    def _sorted_orders(self, sort: str | None) -> list[EmulatedOrder] | None:
        """Sort the orders as asked; None for a sort the API refuses."""
        orders = sorted(self.orders, key=lambda o: o.order_number)
        if not sort:
            return orders
        descending = sort.startswith("-")
        if descending and not self.sort_prefix_supported:
            return None
        key = sort.removeprefix("-")
        if key not in {"order_number", "order_status", "order_date"}:
            return None
        orders.sort(key=lambda o: (getattr(o, key), o.order_number), reverse=descending)
        return orders

    async def _list_orders(self, request: web.Request) -> web.StreamResponse:
        """``GET /v1/orders``: at most 10 per page, sortable."""
        try:
            page = int(request.query.get("page", "1"))
            page_size = int(request.query.get("pageSize", "10"))
        except ValueError:
            return web.Response(status=400)
        if page < 1 or not 1 <= page_size <= 10:
            return _message(400, "pageSize must be between 1 and 10")
        orders = self._sorted_orders(request.query.get("sort"))
        if orders is None:
            return _message(400, "Invalid sort parameter")
        pages = max(math.ceil(len(orders) / page_size), 1)
        chunk = orders[(page - 1) * page_size : page * page_size]
        headers = {
            "X-Total-Count": str(len(orders)),
            "X-Total-Pages": str(pages),
            "X-Current-Page": str(page),
            "X-Count-Per-Page": str(page_size),
        }
        return web.json_response([o.to_json(self.base_url) for o in chunk], headers=headers)

    async def _get_order(self, request: web.Request) -> web.StreamResponse:
        """``GET /v1/orders/{order_number}``."""
        wanted = request.match_info["order_number"]
        for order in self.orders:
            if str(order.order_number) == wanted:
                return web.json_response(order.to_json(self.base_url))
        return web.Response(status=404)


async def _serve(port: int, lines: int, client_id: str, client_secret: str) -> None:
    """Run a seeded emulator until interrupted."""
    emulator = OnenceEmulator(client_id=client_id, client_secret=client_secret, port=port)
    emulator.seed(lines)
    async with emulator:
        print(f"1NCE emulator on {emulator.base_url}")  # noqa: T201
        print(  # noqa: T201
            f"client_id: {client_id}; client_secret: {client_secret}; {lines} SIMs; Ctrl-C to stop"
        )
        await asyncio.Event().wait()


def main() -> None:
    """Parse the command line and serve."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--port", type=int, default=8768)
    parser.add_argument("--lines", type=int, default=20)
    parser.add_argument("--client-id", default=DEFAULT_CLIENT_ID)
    parser.add_argument("--client-secret", default=DEFAULT_CLIENT_SECRET)
    args = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(args.port, args.lines, args.client_id, args.client_secret))


if __name__ == "__main__":
    main()
