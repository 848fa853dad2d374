"""A loopback emulator of the Airalo Partner API v2, for tests, demos and benchmarks.

It serves the documented endpoints under ``/v2`` with the documented shapes: OAuth client
credentials (``POST /token``, a few calls a minute, tokens that expire), ``GET /balance``,
the paged eSIM listing, per-ICCID usage in megabytes with a one-call-per-15-minutes limit
(HTTP 429 + ``Retry-After``), per-ICCID top-up packages, ``POST /orders/topups`` charged to
a wallet (every charge in ``ledger``) and the order history with ``filter[description]``.
Times are sent without a zone (``2022-01-01 00:00:00``), as Airalo does.

Quirks it reproduces: recycled eSIMs (business code 73, or ``status: RECYCLED``),
unlimited plans reporting ``remaining = total = 0``, validation errors as
``{"data": {...}, "meta": {"message": ...}}`` and business errors as ``{"code", "reason"}``.

Fault switches (``fail_next[route] = mode``, one request each; see ``ROUTES`` and
``TokenApiFaultMode``) reproduce what real networks do to a purchase.

Run it standalone (it only ever binds to loopback)::

    python -m tests.emulators.airalo --port 8767 --lines 20
"""

from __future__ import annotations

import argparse
import asyncio
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Mapping
import contextlib
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
import itertools
import math
import random
import time
from typing import Final, Literal

from aiohttp import web

from .server import HOST, EmulatorServer, ImplausibleValue, TokenApiFaultMode, over_limit

API_PREFIX: Final = "/v2"
DEFAULT_CLIENT_ID: Final = "airalo-test-client"
DEFAULT_CLIENT_SECRET: Final = "airalo-test-secret"  # noqa: S105 - a test credential
# What Airalo answers for ``expires_in``: 366 days.
DEFAULT_TOKEN_LIFETIME: Final = 31_622_400
MIB: Final = 1024**2

# Route names, as used by ``fail_next`` and ``calls``.
ROUTES: Final = frozenset(
    {"token", "balance", "sims", "usage", "topups", "order_topup", "orders", "order"}
)

CODE_INSUFFICIENT_CREDIT: Final = 11
CODE_TOPUP_DISABLED: Final = 23
CODE_RECYCLED: Final = 73
# Loopback jitter: do not punish a client that keeps exactly to the limit.
_RATE_WINDOW_SLACK: Final = 0.05


def _utcnow() -> datetime:
    """Return the current time; the default clock."""
    return datetime.now(UTC)


def format_time(value: datetime) -> str:
    """Format a time the way Airalo's usage and orders do: no zone, UTC."""
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


def _number(value: Decimal) -> int | float:
    """Return a JSON number for a price (integers stay integers)."""
    return int(value) if value == value.to_integral_value() else float(value)


def _data_label(megabytes: int, unlimited: bool) -> str:
    """Return Airalo's ``data`` text such as ``3 GB``."""
    if unlimited:
        return "Unlimited"
    return f"{megabytes // 1024} GB" if megabytes % 1024 == 0 else f"{megabytes} MB"


@dataclass(frozen=True, slots=True, kw_only=True)
class TopupPackage:
    """A top-up package; ``price`` is retail, ``net_price`` is what the wallet pays."""

    package_id: str
    title: str
    price: Decimal
    net_price: Decimal
    amount_mb: int
    days: int
    unlimited: bool = False

    def to_json(self) -> dict[str, object]:
        """Return the ``/sims/{iccid}/topups`` entry."""
        return {
            "id": self.package_id,
            "type": "topup",
            "price": _number(self.price),
            "amount": 0 if self.unlimited else self.amount_mb,
            "day": self.days,
            "is_unlimited": self.unlimited,
            "title": self.title,
            "data": _data_label(self.amount_mb, self.unlimited),
            "short_info": None,
            "voice": None,
            "text": None,
            "net_price": _number(self.net_price),
            "prices": {
                "net_price": {"USD": _number(self.net_price)},
                "recommended_retail_price": {"USD": _number(self.price)},
            },
        }


DEFAULT_TOPUPS: Final = (
    TopupPackage(
        package_id="change-7days-1gb-topup",
        title="Change-1 GB - 7 Days",
        price=Decimal("4.5"),
        net_price=Decimal("3.6"),
        amount_mb=1024,
        days=7,
    ),
    TopupPackage(
        package_id="change-30days-3gb-topup",
        title="Change-3 GB - 30 Days",
        price=Decimal(10),
        net_price=Decimal(8),
        amount_mb=3072,
        days=30,
    ),
    TopupPackage(
        package_id="change-30days-10gb-topup",
        title="Change-10 GB - 30 Days",
        price=Decimal(26),
        net_price=Decimal("20.8"),
        amount_mb=10240,
        days=30,
    ),
    TopupPackage(
        package_id="change-7days-unlimited-topup",
        title="Change-Unlimited - 7 Days",
        price=Decimal(30),
        net_price=Decimal(24),
        amount_mb=0,
        days=7,
        unlimited=True,
    ),
)


@dataclass(slots=True, kw_only=True)
class EmulatedSim:
    """One eSIM on the partner account."""

    sim_id: int
    iccid: str
    package_id: str
    package: str
    total_mb: Decimal
    remaining_mb: Decimal
    expired_at: datetime | None
    status: str = "ACTIVE"
    unlimited: bool = False
    recycled: bool = False
    recycled_at: datetime | None = None
    topup_disabled: bool = False
    created_at: datetime = field(default_factory=_utcnow)
    topups: list[str] = field(default_factory=list)
    # Fields forced into the usage answer, to build odd records.
    usage_overrides: dict[str, object] = field(default_factory=dict)

    def to_json(self) -> dict[str, object]:
        """Return the ``GET /sims`` entry."""
        return {
            "id": self.sim_id,
            "created_at": format_time(self.created_at),
            "iccid": self.iccid,
            "lpa": "lpa.airalo.example.invalid",
            "imsis": None,
            "matching_id": f"MATCH-{self.sim_id}",
            "qrcode": f"LPA:1$lpa.airalo.example.invalid$MATCH-{self.sim_id}",
            "qrcode_url": f"https://example.invalid/qr/{self.sim_id}.png",
            "airalo_code": None,
            "apn_type": "automatic",
            "apn_value": None,
            "is_roaming": True,
            "confirmation_code": None,
            "recycled": self.recycled,
            "recycled_at": None if self.recycled_at is None else format_time(self.recycled_at),
            "simable": {
                "id": self.sim_id,
                "code": f"20250101-{self.sim_id:06d}",
                "package_id": self.package_id,
                "package": self.package,
                "currency": "USD",
                "status": {"name": "Completed", "slug": "completed"},
            },
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class Charge:
    """Money actually taken from the wallet by one top-up."""

    order_id: int
    iccid: str
    package_id: str
    amount: Decimal
    description: str
    at: datetime


@dataclass(slots=True, kw_only=True)
class EmulatedOrder:
    """A committed top-up order."""

    order_id: int
    code: str
    package: TopupPackage
    iccid: str
    description: str
    created_at: datetime
    status: str = "completed"

    def to_json(self, *, sims: bool, status: bool) -> dict[str, object]:
        """Return the order shape (``include=sims,status`` adds those)."""
        data: dict[str, object] = {
            "id": self.order_id,
            "code": self.code,
            "package_id": self.package.package_id,
            "currency": "USD",
            "quantity": 1,
            "type": "topup",
            "description": self.description,
            "esim_type": "local",
            "validity": self.package.days,
            "package": self.package.title,
            "data": _data_label(self.package.amount_mb, self.package.unlimited),
            "price": _number(self.package.price),
            "pricing_model": "net_pricing",
            "net_price": _number(self.package.net_price),
            "created_at": format_time(self.created_at),
        }
        if sims:
            data["sims"] = [{"id": self.order_id, "iccid": self.iccid}]
        if status:
            data["status"] = {"name": self.status.title(), "slug": self.status}
        return data


@dataclass(slots=True, kw_only=True)
class RequestRecord:
    """One request the emulator received."""

    route: str
    method: str
    path: str
    query: dict[str, str]
    status: int = 0


def _json(
    data: object, status: int = 200, headers: Mapping[str, str] | None = None
) -> web.Response:
    """Answer with a JSON body."""
    return web.json_response(data, status=status, headers=headers)


def _success(data: object) -> web.Response:
    """Answer ``{"data": ..., "meta": {"message": "success"}}``."""
    return _json({"data": data, "meta": {"message": "success"}})


def _invalid(field_name: str, message: str) -> web.Response:
    """Answer a validation error, HTTP 422."""
    return _json(
        {"data": {field_name: message}, "meta": {"message": "the parameter is invalid"}}, 422
    )


def _business(code: int, reason: str) -> web.Response:
    """Answer a business error, HTTP 422 ``{"code", "reason"}``."""
    return _json({"code": code, "reason": reason}, 422)


def _not_found() -> web.Response:
    """Answer 404 the documented way."""
    return _json({"data": [], "meta": {"message": "messages.resource_not_found"}}, 404)


type _Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class AiraloEmulator(EmulatorServer):
    """The Airalo Partner API on loopback, with a wallet, a ledger and fault switches."""

    api_prefix = API_PREFIX

    def __init__(
        self,
        *,
        client_id: str = DEFAULT_CLIENT_ID,
        client_secret: str = DEFAULT_CLIENT_SECRET,
        balance: Decimal | str = Decimal("100.00"),
        token_lifetime: int = DEFAULT_TOKEN_LIFETIME,
        token_rate_limit: int | None = 5,
        rate_limit: int | None = 5,
        usage_interval: timedelta | None = timedelta(minutes=15),
        retry_after: int = 1,
        timeout_delay: float = 35.0,
        packages: Iterable[TopupPackage] = DEFAULT_TOPUPS,
        clock: Callable[[], datetime] = _utcnow,
        port: int = 0,
    ) -> None:
        """Set the account up; ``port`` 0 picks a free one.

        ``token_rate_limit`` is per minute, ``rate_limit`` per second (None: off);
        ``usage_interval`` is the per-ICCID usage limit (None: off).
        """
        super().__init__(port=port, host=HOST)
        self.client_id = client_id
        self.client_secret = client_secret
        self.balance = Decimal(balance)
        self.token_lifetime = token_lifetime
        self.token_rate_limit = token_rate_limit
        self.rate_limit = rate_limit
        self.usage_interval = usage_interval
        self.retry_after = retry_after
        self.timeout_delay = timeout_delay
        self.clock = clock
        self.packages: dict[str, TopupPackage] = {p.package_id: p for p in packages}
        self.sims: dict[str, EmulatedSim] = {}
        self.orders: list[EmulatedOrder] = []
        self.ledger: list[Charge] = []
        self.request_log: list[RequestRecord] = []
        self.fail_next: dict[str, TokenApiFaultMode] = {}
        # Every call of POST /token, whatever its outcome.
        self.token_calls = 0
        # How each recycled eSIM answers its usage: 422 code 73, or 200 with RECYCLED.
        self.recycled_usage: Literal["code", "status"] = "code"
        # Whether usage carries ``is_unlimited`` (an unlimited plan then only shows 0/0).
        self.usage_has_unlimited_flag = True
        # Whether ``GET /orders`` applies ``filter[description]`` (False: lists everything).
        self.honour_description_filter = True
        # Answer every API call 403 code 89, as for a caller outside the IP allowlist.
        self.ip_blocked = False
        # How many requests were answered 429 by a limit (not by the fault switch).
        self.throttled = 0
        self._tokens: dict[str, datetime] = {}
        self._token_arrivals: deque[float] = deque()
        self._arrivals: deque[float] = deque()
        self._usage_reads: dict[str, datetime] = {}
        self._sim_ids = itertools.count(1)
        self._order_ids = itertools.count(111)
        self._token_ids = itertools.count(1)

    # --- lifecycle ---------------------------------------------------------------------

    def build_app(self) -> web.Application:
        """Route the documented endpoints through the log, limits, faults and auth."""
        app = web.Application()
        routes: list[tuple[str, str, str, _Handler]] = [
            ("POST", "/token", "token", self._token),
            ("GET", "/balance", "balance", self._balance),
            ("GET", "/sims", "sims", self._list_sims),
            ("GET", "/sims/{iccid}/usage", "usage", self._usage),
            ("GET", "/sims/{iccid}/topups", "topups", self._topups),
            ("POST", "/orders/topups", "order_topup", self._order_topup),
            ("GET", "/orders", "orders", self._list_orders),
            ("GET", "/orders/{order_id}", "order", self._get_order),
        ]
        for method, path, route, handler in routes:
            app.router.add_route(method, API_PREFIX + path, self._guard(route, handler))
        return app

    # --- account set-up ------------------------------------------------------------------

    def add_sim(
        self,
        *,
        iccid: str | None = None,
        total_mb: int | Decimal = 3072,
        remaining_mb: int | Decimal | None = None,
        expires_in: timedelta | None = timedelta(days=30),
        status: str = "ACTIVE",
        unlimited: bool = False,
        recycled: bool = False,
        topup_disabled: bool = False,
        package: str = "Change-3 GB - 30 Days",
        topups: Iterable[str] | None = None,
        usage_overrides: Mapping[str, object] | None = None,
    ) -> EmulatedSim:
        """Add an eSIM in any state.

        ``remaining_mb`` defaults to the whole allowance; an unlimited plan reports 0/0.
        ``expires_in`` is relative to the clock (None: not activated, no expiry yet).
        """
        number = next(self._sim_ids)
        now = self.clock()
        total = Decimal(0) if unlimited else Decimal(total_mb)
        remaining = (
            Decimal(0)
            if unlimited
            else Decimal(remaining_mb if remaining_mb is not None else total)
        )
        sim = EmulatedSim(
            sim_id=number,
            iccid=iccid or f"8937204016{number:09d}",
            package_id=package.lower().replace(" ", ""),
            package=package,
            total_mb=total,
            remaining_mb=remaining,
            expired_at=None if expires_in is None else now + expires_in,
            status=status,
            unlimited=unlimited,
            recycled=recycled,
            recycled_at=now - timedelta(days=1) if recycled else None,
            topup_disabled=topup_disabled,
            created_at=now - timedelta(days=2),
            topups=list(self.packages) if topups is None else list(topups),
            usage_overrides=dict(usage_overrides or {}),
        )
        self.sims[sim.iccid] = sim
        return sim

    def serve_implausible(self, iccid: str, value: ImplausibleValue) -> None:
        """Make the usage of one eSIM report an impossible ``value`` from now on (MB)."""
        self.sims[iccid].usage_overrides |= {
            "negative_size": {"remaining": -5},
            "huge_size": {"total": 2_000_000_000, "remaining": 1_000_000_000},
            "old_date": {"expired_at": "1999-12-31 00:00:00"},
            "far_date": {"expired_at": "2101-01-02 00:00:00"},
            "wrong_type": {"total": {"mb": 3072}},
        }[value]

    def seed(self, count: int, *, rng: random.Random | None = None) -> list[EmulatedSim]:
        """Add ``count`` plausible eSIMs: mostly active, some unlimited, one recycled."""
        rng = rng or random.Random(7)
        added: list[EmulatedSim] = []
        for index in range(count):
            roll = rng.random()
            total = rng.choice((1024, 3072, 5120, 10240))
            if index == count - 1 and count > 3:
                added.append(self.add_sim(recycled=True, status="EXPIRED"))
            elif roll < 0.15:
                added.append(self.add_sim(unlimited=True, package="Change-Unlimited - 7 Days"))
            elif roll < 0.25:
                added.append(self.add_sim(total_mb=total, remaining_mb=0, status="FINISHED"))
            elif roll < 0.3:
                added.append(self.add_sim(status="NOT_ACTIVE", expires_in=None))
            else:
                left = Decimal(int(total * rng.uniform(0.02, 1)))
                days = timedelta(days=rng.randint(1, 29), hours=rng.randint(0, 23))
                added.append(self.add_sim(total_mb=total, remaining_mb=left, expires_in=days))
        return added

    def expire_tokens(self) -> None:
        """Make every token issued so far invalid (the next request with one gets 401)."""
        self._tokens.clear()

    def calls(self, route: str) -> int:
        """Count the requests received for a route (see ``ROUTES``)."""
        return sum(1 for record in self.request_log if record.route == route)

    def usage_calls(self, iccid: str) -> int:
        """Count the usage requests received for one ICCID."""
        path = f"{API_PREFIX}/sims/{iccid}/usage"
        return sum(1 for record in self.request_log if record.path == path)

    # --- the request pipeline ----------------------------------------------------------

    def _guard(self, route: str, handler: _Handler) -> _Handler:
        """Wrap a handler with the log, the rate limit, faults and auth."""

        async def serve(request: web.Request) -> web.StreamResponse:
            record = RequestRecord(
                route=route, method=request.method, path=request.path, query=dict(request.query)
            )
            self.request_log.append(record)
            response = await self._serve(route, request, handler)
            record.status = response.status
            return response

        return serve

    async def _serve(
        self, route: str, request: web.Request, handler: _Handler
    ) -> web.StreamResponse:
        """Apply the limits, faults and auth around ``handler``."""
        if route != "token" and self._over(self._arrivals, self.rate_limit, 1.0):
            self.throttled += 1
            return self._too_many()
        fault = self.fail_next.pop(route, None)
        if (common := await self.common_fault(request, fault)) is not None:
            return common
        if (early := await self._before(fault)) is not None:
            return early
        if route != "token" and not self._authorized(request):
            return _json({"message": "Unauthenticated."}, 401)
        if route != "token" and self.ip_blocked:
            return _json({"code": 89, "reason": "The IP address is not allowlisted."}, 403)
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
            return self._too_many()
        if fault == "timeout":
            await self.park(self.timeout_delay)
            return web.Response(status=504, text="Gateway Timeout")
        if fault in {"http_500", "http_503"}:
            return web.Response(status=500 if fault == "http_500" else 503, text="Server Error")
        if fault == "malformed":
            return web.Response(text='{"data": {"id": ', content_type="application/json")
        if fault == "expired_token":
            self.expire_tokens()
        return None

    @staticmethod
    def _over(arrivals: deque[float], limit: int | None, period: float) -> bool:
        """Record an arrival; tell whether it is over ``limit`` per ``period`` seconds."""
        if limit is None:
            return False
        return over_limit(arrivals, limit, period - _RATE_WINDOW_SLACK, time.monotonic())

    def _too_many(self, retry_after: int | None = None) -> web.Response:
        """Answer HTTP 429 the documented way."""
        wait = self.retry_after if retry_after is None else retry_after
        return _json(
            {"message": "Too Many Attempts."},
            429,
            {"Retry-After": str(wait), "X-RateLimit-Remaining": "0"},
        )

    def _authorized(self, request: web.Request) -> bool:
        """Check the bearer token and its expiry."""
        header = request.headers.get("Authorization", "")
        token = header.removeprefix("Bearer ").strip()
        expires = self._tokens.get(token)
        return expires is not None and self.clock() < expires

    # --- endpoints -----------------------------------------------------------------------

    async def _token(self, request: web.Request) -> web.StreamResponse:
        """``POST /token``: client credentials in a form (multipart or urlencoded)."""
        self.token_calls += 1
        if self._over(self._token_arrivals, self.token_rate_limit, 60.0):
            self.throttled += 1
            return self._too_many(60)
        form = await request.post()
        if form.get("grant_type") != "client_credentials":
            return _invalid("grant_type", "The grant type field is required.")
        if (
            form.get("client_id") != self.client_id
            or form.get("client_secret") != self.client_secret
        ):
            return _json({"data": [], "meta": {"message": "Client authentication failed"}}, 401)
        token = f"airalo-token-{next(self._token_ids)}-{random.getrandbits(32):08x}"
        self._tokens[token] = self.clock() + timedelta(seconds=self.token_lifetime)
        return _json(
            {
                "data": {
                    "token_type": "Bearer",
                    "expires_in": self.token_lifetime,
                    "access_token": token,
                },
                "meta": {"message": "success"},
            }
        )

    async def _balance(self, request: web.Request) -> web.StreamResponse:
        """``GET /balance``."""
        return _success(
            {
                "balances": {
                    "name": "balance",
                    "availableBalance": {"amount": _number(self.balance), "currency": "USD"},
                }
            }
        )

    async def _list_sims(self, request: web.Request) -> web.StreamResponse:
        """``GET /sims``: paged with ``limit`` and ``page``."""
        try:
            limit = int(request.query.get("limit", "10"))
            page = int(request.query.get("page", "1"))
        except ValueError:
            return _invalid("limit", "The limit must be an integer.")
        if limit < 1 or page < 1:
            return _invalid("limit", "The limit must be at least 1.")
        sims = list(self.sims.values())
        last_page = max(math.ceil(len(sims) / limit), 1)
        chunk = sims[(page - 1) * limit : page * limit]
        url = f"{self.base_url}/sims"
        return _json(
            {
                "data": [sim.to_json() for sim in chunk],
                "links": {
                    "first": f"{url}?page=1",
                    "last": f"{url}?page={last_page}",
                    "prev": f"{url}?page={page - 1}" if page > 1 else None,
                    "next": f"{url}?page={page + 1}" if page < last_page else None,
                },
                "meta": {
                    "message": "success",
                    "current_page": page,
                    "from": (page - 1) * limit + 1 if chunk else None,
                    "last_page": last_page,
                    "path": url,
                    "per_page": limit,
                    "to": (page - 1) * limit + len(chunk) if chunk else None,
                    "total": len(sims),
                },
            }
        )

    def _usage_limited(self, iccid: str) -> int | None:
        """Apply the per-ICCID limit: the seconds to wait, or None when a call is allowed."""
        if self.usage_interval is None:
            return None
        now = self.clock()
        last = self._usage_reads.get(iccid)
        if last is not None and now - last < self.usage_interval:
            return max(math.ceil((last + self.usage_interval - now).total_seconds()), 1)
        self._usage_reads[iccid] = now
        return None

    def _recycled_reason(self, iccid: str) -> str:
        """Return the documented recycled message."""
        return (
            f"The eSIM with iccid {iccid} has been recycled. It can no longer be used or topped up."
        )

    async def _usage(self, request: web.Request) -> web.StreamResponse:
        """``GET /sims/{iccid}/usage``: megabytes, at most once per ICCID per interval."""
        iccid = request.match_info["iccid"]
        if (wait := self._usage_limited(iccid)) is not None:
            self.throttled += 1
            return self._too_many(wait)
        sim = self.sims.get(iccid)
        if sim is None:
            return _not_found()
        if sim.recycled and self.recycled_usage == "code":
            return _business(CODE_RECYCLED, self._recycled_reason(iccid))
        data: dict[str, object] = {
            "remaining": _number(sim.remaining_mb),
            "total": _number(sim.total_mb),
            "expired_at": None if sim.expired_at is None else format_time(sim.expired_at),
            "is_unlimited": sim.unlimited,
            "status": "RECYCLED" if sim.recycled else sim.status,
            "remaining_voice": 0,
            "remaining_text": 0,
            "total_voice": 0,
            "total_text": 0,
        }
        if sim.recycled:
            data["expired_at"] = None
        if not self.usage_has_unlimited_flag:
            del data["is_unlimited"]
        data.update(sim.usage_overrides)
        return _json({"data": data, "meta": {"message": "api.succes"}})

    async def _topups(self, request: web.Request) -> web.StreamResponse:
        """``GET /sims/{iccid}/topups``: the packages this eSIM can buy."""
        iccid = request.match_info["iccid"]
        sim = self.sims.get(iccid)
        if sim is None:
            return _not_found()
        if sim.recycled:
            return _business(CODE_RECYCLED, self._recycled_reason(iccid))
        offered = (
            []
            if sim.topup_disabled
            else [self.packages[p] for p in sim.topups if p in self.packages]
        )
        return _json(
            {
                "pricing": {"model": "net_pricing", "discount_percentage": 0},
                "data": [package.to_json() for package in offered],
            }
        )

    async def _order_topup(self, request: web.Request) -> web.StreamResponse:
        """``POST /orders/topups``: charge the wallet and add the package to the eSIM."""
        form = await request.post()
        package_id, iccid = form.get("package_id"), form.get("iccid")
        description = form.get("description")
        if not isinstance(package_id, str) or not package_id:
            return _invalid("package_id", "The package id field is required.")
        if not isinstance(iccid, str) or not iccid:
            return _invalid("iccid", "The iccid field is required.")
        sim = self.sims.get(iccid)
        if sim is None:
            return _invalid("iccid", "The selected iccid is invalid.")
        if sim.recycled:
            return _business(CODE_RECYCLED, self._recycled_reason(iccid))
        package = self.packages.get(package_id)
        if package is None or package_id not in sim.topups:
            return _invalid("package_id", "invalid topup package")
        if sim.topup_disabled:
            return _business(CODE_TOPUP_DISABLED, "Top-up is disabled by the operator.")
        if self.balance < package.net_price:
            return _business(CODE_INSUFFICIENT_CREDIT, "Insufficient Airalo Credit.")
        now = self.clock()
        order_id = next(self._order_ids)
        text = description if isinstance(description, str) and description else f"Topup ({iccid})"
        order = EmulatedOrder(
            order_id=order_id,
            code=f"{now:%Y%m%d}-{order_id:06d}",
            package=package,
            iccid=iccid,
            description=text,
            created_at=now,
        )
        self.orders.append(order)
        self.balance -= package.net_price
        self.ledger.append(
            Charge(
                order_id=order_id,
                iccid=iccid,
                package_id=package_id,
                amount=package.net_price,
                description=text,
                at=now,
            )
        )
        if not package.unlimited and not sim.unlimited:
            sim.total_mb += package.amount_mb
            sim.remaining_mb += package.amount_mb
        start = now if sim.expired_at is None else max(now, sim.expired_at)
        sim.expired_at = start + timedelta(days=package.days)
        if sim.status in {"FINISHED", "EXPIRED"}:
            sim.status = "ACTIVE"
        body = order.to_json(sims=False, status=False)
        body["manual_installation"] = "<p>Manual installation</p>"
        body["qrcode_installation"] = "<p>QR code installation</p>"
        body["installation_guides"] = {"en": "https://example.invalid/guide"}
        return _success(body)

    def _included(self, request: web.Request) -> tuple[bool, bool]:
        """Return whether ``include`` asks for the sims and the status."""
        include = {part.strip() for part in request.query.get("include", "").split(",")}
        return "sims" in include, "status" in include

    async def _list_orders(self, request: web.Request) -> web.StreamResponse:
        """``GET /orders``: newest first, LIKE filters on description and iccid, paged."""
        query = request.query
        orders = sorted(self.orders, key=lambda o: o.order_id, reverse=True)
        description = query.get("filter[description]")
        if description and self.honour_description_filter:
            orders = [o for o in orders if description.lower() in o.description.lower()]
        if iccid := query.get("filter[iccid]"):
            orders = [o for o in orders if iccid in o.iccid]
        if code := query.get("filter[code]"):
            orders = [o for o in orders if o.code == code]
        try:
            limit = int(query.get("limit", "25"))
            page = int(query.get("page", "1"))
        except ValueError:
            return _invalid("limit", "The limit must be an integer.")
        last_page = max(math.ceil(len(orders) / max(limit, 1)), 1)
        sims, status = self._included(request)
        chunk = orders[(page - 1) * limit : page * limit]
        return _json(
            {
                "data": [o.to_json(sims=sims, status=status) for o in chunk],
                "meta": {
                    "message": "success",
                    "current_page": page,
                    "last_page": last_page,
                    "per_page": limit,
                    "total": len(orders),
                },
            }
        )

    async def _get_order(self, request: web.Request) -> web.StreamResponse:
        """``GET /orders/{order_id}``."""
        wanted = request.match_info["order_id"]
        sims, status = self._included(request)
        for order in self.orders:
            if str(order.order_id) == wanted:
                return _success(order.to_json(sims=sims, status=status))
        return _not_found()


async def _serve(port: int, lines: int, client_id: str, client_secret: str) -> None:
    """Run a seeded emulator until interrupted."""
    emulator = AiraloEmulator(client_id=client_id, client_secret=client_secret, port=port)
    emulator.seed(lines)
    async with emulator:
        print(f"Airalo emulator on {emulator.base_url}")  # noqa: T201
        print(  # noqa: T201
            f"client_id: {client_id}; client_secret: {client_secret}; {lines} eSIMs; Ctrl-C to stop"
        )
        await asyncio.Event().wait()


def main() -> None:
    """Parse the command line and serve."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--port", type=int, default=8767)
    parser.add_argument("--lines", type=int, default=20)
    parser.add_argument("--client-id", default=DEFAULT_CLIENT_ID)
    parser.add_argument("--client-secret", default=DEFAULT_CLIENT_SECRET)
    args = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(args.port, args.lines, args.client_id, args.client_secret))


if __name__ == "__main__":
    main()
