"""A loopback emulator of the eSIM Go API v2.4, for tests and manual runs.

It serves the endpoints the client uses, with the documented shapes: eSIM listing with
pages, bundle assignments in bytes, the compatibility check, a paged catalogue (MB), orders
(``validate`` dry runs and charged ``transaction`` orders), the order history, ``X-API-Key``
auth, ``{"message": ...}`` errors and a 10 requests/second fixed window with
``X-Ratelimit-*`` headers and 429 + ``Retry-After``.

Fault switches (``fail_next``) make the next matching request fail the way a real provider
or network does, before or after the order is committed; ``reply_next`` serves a raw answer
of any shape instead (nothing processed). ``overrides`` / ``drop_fields`` on catalogue
bundles, assignments and orders build odd records.

Run it alone with ``python -m tests.emulators.esimgo --port 8766 --lines 20``.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Mapping
import contextlib
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from enum import Enum, auto
import itertools
import math
import time

from aiohttp import web
from aiohttp.typedefs import Handler

from .server import EmulatorServer, ImplausibleValue

API_PREFIX = "/v2.4"
MB = 1_000_000
DEFAULT_API_KEY = "esimgo-test-key"
DEFAULT_BUNDLE = "esim_1GB_7D_US_V2"
DEFAULT_UNLIMITED_BUNDLE = "esim_UL_7D_US_V2"

FAULT_MODES = frozenset(
    {
        # The order is committed and charged, then the connection drops unanswered.
        "drop_after_commit",
        # The server sits on the request (``timeout_seconds``) and never commits it.
        "timeout",
        # 500 before anything is processed.
        "http_500",
        # The order is committed and charged, then 503 "Processing" comes back.
        "http_503_after_commit",
        # 429 with Retry-After, before anything is processed.
        "rate_limit",
        # The request is processed (an order is committed), then the body is not JSON.
        "malformed",
        # 403 for the key, before anything is processed.
        "expired_key",
        # Answer normally, then stop accepting connections: the provider goes down.
        "outage_after",
        # See ``CommonFaultMode``.
        "redirect",
        "oversize",
    }
)
ESIM_STATES = frozenset(
    {
        "active",
        "depleted",
        "expired",
        "queued",
        "processing",
        "unlimited",
        "malformed",
        "revoked",
        "lapsed",
        "none",
    }
)
_USED_STATES = frozenset({"depleted", "expired", "revoked", "lapsed"})


class _Unset(Enum):
    """Marks an argument left to its per-state default."""

    UNSET = auto()


UNSET = _Unset.UNSET


def _iso(moment: datetime) -> str:
    """Format a time the way eSIM Go does (RFC 3339, UTC, ``Z``)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _utcnow() -> datetime:
    """Return the current time."""
    return datetime.now(UTC)


@dataclass(slots=True, kw_only=True)
class CatalogueBundle:
    """A bundle for sale."""

    name: str
    description: str
    countries: tuple[str, ...]
    data_mb: int
    days: int
    price: Decimal
    unlimited: bool = False
    # Values forced into (None: a field removed from) the JSON, to build odd bundles.
    overrides: dict[str, object] = field(default_factory=dict)

    def to_json(self) -> dict[str, object]:
        """Return the catalogue shape."""
        data: dict[str, object] = {
            "name": self.name,
            "description": self.description,
            "groups": ["Standard eSIM Bundles"],
            "countries": [{"name": iso, "region": "", "iso": iso} for iso in self.countries],
            "dataAmount": -1 if self.unlimited else self.data_mb,
            "duration": self.days,
            "speed": ["4G", "5G"],
            "autostart": True,
            "unlimited": self.unlimited,
            "roamingEnabled": [],
            "price": float(self.price),
            "billingType": "FixedCost",
        }
        return _apply(data, self.overrides)


@dataclass(slots=True, kw_only=True)
class EmulatedAssignment:
    """One bundle assignment on an eSIM."""

    id: str
    reference: str
    bundle: str
    description: str
    initial_bytes: int
    remaining_bytes: int
    state: str
    unlimited: bool
    assigned_at: datetime
    start_time: datetime | None
    end_time: datetime | None
    # Values forced into (None: a field removed from) the JSON, to build odd assignments.
    overrides: dict[str, object] = field(default_factory=dict)

    def to_json(self) -> dict[str, object]:
        """Return the assignment shape of ``GET /esims/{iccid}/bundles``."""
        data: dict[str, object] = {
            "id": self.id,
            "assignmentReference": self.reference,
            "callTypeGroup": "data",
            "initialQuantity": self.initial_bytes,
            "remainingQuantity": self.remaining_bytes,
            "assignmentDateTime": _iso(self.assigned_at),
            "bundleState": self.state,
            "unlimited": self.unlimited,
        }
        # "not displayed in response if bundle has not been started"
        if self.start_time is not None:
            data["startTime"] = _iso(self.start_time)
        if self.end_time is not None:
            data["endTime"] = _iso(self.end_time)
        return _apply(data, self.overrides)


@dataclass(slots=True, kw_only=True)
class EmulatedEsim:
    """An eSIM on the organisation."""

    iccid: str
    customer_ref: str | None = None
    assignments: list[EmulatedAssignment] = field(default_factory=list)
    incompatible: set[str] = field(default_factory=set)
    malformed: bool = False
    created: datetime = field(default_factory=_utcnow)


@dataclass(frozen=True, slots=True, kw_only=True)
class Charge:
    """Money actually taken from the balance."""

    order_reference: str
    iccid: str | None
    bundle: str
    amount: Decimal


@dataclass(slots=True, kw_only=True)
class EmulatedOrder:
    """A committed transaction order."""

    reference: str
    created: datetime
    items: list[dict[str, object]]
    total: Decimal
    currency: str
    status: str
    status_message: str
    # Values forced into (None: a field removed from) the history entry.
    overrides: dict[str, object] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class CannedReply:
    """A raw answer: ``body`` bytes or str are sent as they are, anything else as JSON."""

    status: int = 200
    body: object = None
    headers: Mapping[str, str] = field(default_factory=dict)

    def response(self) -> web.Response:
        """Build the HTTP answer (only the given headers: no X-Ratelimit-*)."""
        headers = dict(self.headers)
        if isinstance(self.body, bytes | str):
            raw = self.body.encode() if isinstance(self.body, str) else self.body
            return web.Response(
                status=self.status, body=raw, headers=headers, content_type="application/json"
            )
        return web.json_response(self.body, status=self.status, headers=headers)


@dataclass(slots=True, kw_only=True)
class RequestRecord:
    """One request the emulator received."""

    method: str
    path: str
    query: dict[str, str]
    at: float
    status: int = 0


@dataclass(slots=True, kw_only=True)
class Fault:
    """A pending fault for requests whose path starts with ``prefix``."""

    prefix: str
    mode: str
    method: str | None
    remaining: int
    retry_after: int
    delay: float | None
    reply: CannedReply | None = None


def _apply(data: dict[str, object], overrides: Mapping[str, object]) -> dict[str, object]:
    """Force ``overrides`` into ``data``; a None override removes the field."""
    for key, value in overrides.items():
        if value is None:
            data.pop(key, None)
        else:
            data[key] = value
    return data


class _RejectError(Exception):
    """An order check failed: answer ``status`` with ``{"message": ...}``."""

    def __init__(self, status: int, message: str) -> None:
        """Keep the HTTP status and the message."""
        super().__init__(message)
        self.status = status
        self.message = message


# name, description, countries, MB (-1 for unlimited), days, price
_EUROPE = ("AT", "BE", "DE", "ES", "FR", "GB", "IE", "IT", "NL", "PT")
_WORLD = (*_EUROPE, "AU", "CA", "JP", "MX", "US")
_CATALOGUE: tuple[tuple[str, str, tuple[str, ...], int, int, str], ...] = (
    (DEFAULT_BUNDLE, "eSIM, 1GB, 7 Days, United States, V2", ("US",), 1000, 7, "4.55"),
    ("esim_3GB_30D_US_V2", "eSIM, 3GB, 30 Days, United States, V2", ("US",), 3000, 30, "11.50"),
    ("esim_10GB_30D_US_V2", "eSIM, 10GB, 30 Days, United States, V2", ("US",), 10000, 30, "28"),
    (DEFAULT_UNLIMITED_BUNDLE, "eSIM, Unlimited, 7 Days, United States, V2", ("US",), -1, 7, "25"),
    ("esim_1GB_7D_GB_V2", "eSIM, 1GB, 7 Days, United Kingdom, V2", ("GB",), 1000, 7, "1.99"),
    ("esim_5GB_30D_EU_V2", "eSIM, 5GB, 30 Days, Europe, V2", _EUROPE, 5000, 30, "14.00"),
    ("esim_5GB_30D_GLOBAL_V2", "eSIM, 5GB, 30 Days, Global, V2", _WORLD, 5000, 30, "39.90"),
)


def default_catalogue() -> list[CatalogueBundle]:
    """Return a small catalogue: US, UK, Europe, global and an unlimited US bundle."""
    return [
        CatalogueBundle(
            name=name,
            description=description,
            countries=countries,
            data_mb=mb,
            days=days,
            price=Decimal(price),
            unlimited=mb < 0,
        )
        for name, description, countries, mb, days, price in _CATALOGUE
    ]


class EsimGoEmulator(EmulatorServer):
    """The emulated eSIM Go organisation and its HTTP server on 127.0.0.1."""

    api_prefix = API_PREFIX

    def __init__(
        self,
        *,
        api_key: str = DEFAULT_API_KEY,
        balance: Decimal | str = Decimal("100.00"),
        currency: str = "USD",
        rate_limit: int | None = 10,
        organisation_shape: str = "list",
        timeout_seconds: float = 2.0,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        """Create an empty organisation with the default catalogue; ``start`` serves it.

        ``organisation_shape`` is "list" (``{"organisations": [...]}``) or "flat".
        ``rate_limit`` None turns the fixed window off.
        """
        super().__init__(port=port, host=host)
        self.api_key = api_key
        self.balance = Decimal(balance)
        self.currency = currency
        self.rate_limit = rate_limit
        self.organisation_shape = organisation_shape
        self.organisation_id: str | None = "org-5f2c"
        self.organisation_name: str | None = "Emulated Org"
        self.timeout_seconds = timeout_seconds
        self.esims: dict[str, EmulatedEsim] = {}
        self.foreign_iccids: set[str] = set()
        self.catalogue: dict[str, CatalogueBundle] = {b.name: b for b in default_catalogue()}
        self.orders: list[EmulatedOrder] = []
        self.ledger: list[Charge] = []
        self.inventory: list[str] = []
        self.request_log: list[RequestRecord] = []
        self.last_order_bodies: list[object] = []
        # Whether the order history lists the ICCIDs of each order item.
        self.orders_include_iccids = True
        # How listings give pageCount: "number", "missing" or "text" (unreadable).
        self.listing_page_count = "number"
        self.rate_limited_count = 0
        self.max_requests_per_window = 0
        self._faults: list[Fault] = []
        self._window = 0
        self._window_count = 0
        self._iccids = itertools.count(1)
        self._ids = itertools.count(215009266)
        self._refs = itertools.count(1)
        self._server: asyncio.Server | None = None

    # --- lifecycle -----------------------------------------------------------------------

    def build_app(self) -> web.Application:
        """Route the documented endpoints through the window/fault/auth middleware."""
        app = web.Application(middlewares=[self._middleware])
        routes = [
            web.get(f"{API_PREFIX}/organisation", self._organisation),
            web.get(f"{API_PREFIX}/esims", self._list_esims),
            web.get(f"{API_PREFIX}/esims/{{iccid}}/bundles", self._esim_bundles),
            web.get(f"{API_PREFIX}/esims/{{iccid}}/compatible/{{bundle}}", self._compatible),
            web.get(f"{API_PREFIX}/catalogue", self._catalogue),
            web.get(f"{API_PREFIX}/catalogue/{{name}}", self._catalogue_bundle),
            web.post(f"{API_PREFIX}/orders", self._post_order),
            web.get(f"{API_PREFIX}/orders", self._list_orders),
            web.get(f"{API_PREFIX}/orders/{{reference}}", self._get_order),
        ]
        app.add_routes(routes)
        return app

    async def start(self) -> str:
        """Serve on ``host`` (a random port unless given); return the base URL."""
        base_url = await super().start()
        server = self._site._server if self._site is not None else None
        # The listening server, so that the ``outage_after`` fault can stop accepting.
        assert isinstance(server, asyncio.Server)
        self._server = server
        return base_url

    # --- set-up helpers ------------------------------------------------------------------

    def new_iccid(self) -> str:
        """Return a fresh 19-digit ICCID."""
        return f"89440000{next(self._iccids):011d}"

    def add_bundle(self, bundle: CatalogueBundle) -> None:
        """Put a bundle on sale."""
        self.catalogue[bundle.name] = bundle

    def add_esim(
        self,
        state: str = "active",
        *,
        iccid: str | None = None,
        bundle: str | None = None,
        customer_ref: str | None = None,
        initial_bytes: int | None = None,
        remaining_bytes: int | None = None,
        end_time: datetime | _Unset | None = UNSET,
        assigned_at: datetime | None = None,
        incompatible: tuple[str, ...] | list[str] = (),
    ) -> str:
        """Create an eSIM whose current bundle is in ``state``; return its ICCID.

        ``state`` is one of ``ESIM_STATES``: "none" has no bundle at all, "unlimited" is an
        active unlimited bundle and "malformed" answers its bundle listing with garbage.
        """
        if state not in ESIM_STATES:
            raise ValueError(f"unknown state {state!r}")
        iccid = iccid or self.new_iccid()
        esim = EmulatedEsim(
            iccid=iccid,
            customer_ref=customer_ref,
            incompatible=set(incompatible),
            malformed=state == "malformed",
        )
        self.esims[iccid] = esim
        if state not in {"none", "malformed"}:
            self.add_assignment(
                iccid,
                state,
                bundle=bundle,
                initial_bytes=initial_bytes,
                remaining_bytes=remaining_bytes,
                end_time=end_time,
                assigned_at=assigned_at,
            )
        return iccid

    def add_assignment(
        self,
        iccid: str,
        state: str = "active",
        *,
        bundle: str | None = None,
        initial_bytes: int | None = None,
        remaining_bytes: int | None = None,
        end_time: datetime | _Unset | None = UNSET,
        assigned_at: datetime | None = None,
    ) -> EmulatedAssignment:
        """Add a bundle assignment in ``state`` to an eSIM, with per-state defaults."""
        now = _utcnow()
        unlimited = state == "unlimited"
        name = bundle or (DEFAULT_UNLIMITED_BUNDLE if unlimited else DEFAULT_BUNDLE)
        sold = self.catalogue[name]
        initial = initial_bytes if initial_bytes is not None else max(sold.data_mb, 0) * MB
        default_remaining = {
            "active": initial * 3 // 5,
            "depleted": 0,
            "expired": initial // 4,
            "revoked": initial // 2,
        }
        remaining = (
            remaining_bytes
            if remaining_bytes is not None
            else default_remaining.get(state, initial)
        )
        waiting = state in {"queued", "processing"}
        if isinstance(end_time, _Unset):
            ends = {"expired": now - timedelta(days=2), "lapsed": now - timedelta(days=2)}
            end_time = None if waiting else ends.get(state, now + timedelta(days=5))
        assigned = assigned_at or (now - timedelta(hours=1) if waiting else now - timedelta(days=2))
        assignment = EmulatedAssignment(
            id=str(next(self._ids)),
            reference=f"emu-{next(self._refs):06d}-0",
            bundle=name,
            description=sold.description,
            initial_bytes=0 if unlimited else initial,
            remaining_bytes=0 if unlimited else remaining,
            state="active" if unlimited else state,
            unlimited=unlimited or sold.unlimited,
            assigned_at=assigned,
            start_time=None if waiting else assigned,
            end_time=end_time,
        )
        self.esims[iccid].assignments.append(assignment)
        return assignment

    def serve_implausible(self, iccid: str, value: ImplausibleValue) -> None:
        """Make the latest bundle assignment of one eSIM report an impossible ``value``."""
        self.esims[iccid].assignments[-1].overrides |= {
            "negative_size": {"remainingQuantity": -5},
            "huge_size": {"initialQuantity": 2 * 10**15, "remainingQuantity": 10**15 + 1},
            "old_date": {"endTime": "1999-12-31T00:00:00Z"},
            "far_date": {"endTime": "2101-01-02T00:00:00Z"},
            "wrong_type": {"initialQuantity": [1_000_000_000]},
        }[value]

    def fail_next(
        self,
        path_prefix: str,
        mode: str,
        *,
        method: str | None = None,
        times: int = 1,
        retry_after: int = 1,
        delay: float | None = None,
    ) -> None:
        """Make the next ``times`` requests under ``path_prefix`` fail as ``mode``.

        ``path_prefix`` may include the ``/v2.4`` prefix or not. ``delay`` overrides
        ``timeout_seconds`` for the "timeout" mode; ``retry_after`` is sent with 429/503.
        """
        if mode not in FAULT_MODES:
            raise ValueError(f"unknown fault {mode!r}")
        prefix = path_prefix.removeprefix(API_PREFIX)
        self._faults.append(
            Fault(
                prefix=prefix,
                mode=mode,
                method=method.upper() if method else None,
                remaining=times,
                retry_after=retry_after,
                delay=delay,
            )
        )

    def reply_next(
        self,
        path_prefix: str,
        body: object,
        *,
        status: int = 200,
        headers: Mapping[str, str] | None = None,
        method: str | None = None,
        times: int = 1,
    ) -> None:
        """Answer the next ``times`` requests under ``path_prefix`` with a raw reply.

        The key is still checked first; nothing is processed.
        """
        self._faults.append(
            Fault(
                prefix=path_prefix.removeprefix(API_PREFIX),
                mode="reply",
                method=method.upper() if method else None,
                remaining=times,
                retry_after=0,
                delay=None,
                reply=CannedReply(status=status, body=body, headers=dict(headers or {})),
            )
        )

    def requests_to(self, path_prefix: str, method: str | None = None) -> list[RequestRecord]:
        """Return the logged requests under ``path_prefix`` (without ``/v2.4``)."""
        prefix = path_prefix.removeprefix(API_PREFIX)
        return [
            r
            for r in self.request_log
            if r.path.startswith(prefix) and (method is None or r.method == method.upper())
        ]

    # --- middleware: log, rate limit, faults, auth ---------------------------------------

    def _take_fault(self, method: str, path: str) -> Fault | None:
        """Consume and return the first fault matching this request."""
        for fault in self._faults:
            if path.startswith(fault.prefix) and fault.method in {None, method}:
                fault.remaining -= 1
                if fault.remaining <= 0:
                    self._faults.remove(fault)
                return fault
        return None

    def _rate_headers(self) -> dict[str, str]:
        """Return the X-Ratelimit-* headers of the current window."""
        limit = self.rate_limit or 0
        reset = datetime.fromtimestamp(self._window + 1, UTC)
        return {
            "X-Ratelimit-Limit": str(limit),
            "X-Ratelimit-Remaining": str(max(limit - self._window_count, 0)),
            "X-Ratelimit-Reset": reset.isoformat().replace("+00:00", "Z"),
            "X-Ratelimit-Cost": "1",
        }

    @web.middleware
    async def _middleware(
        self,
        request: web.Request,
        handler: Handler,
    ) -> web.StreamResponse:
        """Log, count the window, apply faults and auth, then serve."""
        path = request.path.removeprefix(API_PREFIX)
        record = RequestRecord(
            method=request.method, path=path, query=dict(request.query), at=time.monotonic()
        )
        self.request_log.append(record)
        response = await self._serve(request, handler, path)
        record.status = response.status
        return response

    async def _serve(
        self,
        request: web.Request,
        handler: Handler,
        path: str,
    ) -> web.StreamResponse:
        """Apply the window, faults and auth around ``handler``."""
        headers, refused = self._count_window()
        if refused is not None:
            return refused
        fault = self._take_fault(request.method, path)
        if (early := await self._before(request, fault, headers)) is not None:
            return early
        response = await handler(request)
        response.headers.update(headers)
        return self._after(request, response, fault, headers)

    def _count_window(self) -> tuple[dict[str, str], web.Response | None]:
        """Count the request in its fixed one-second window; a 429 once it is full."""
        now = time.time()
        if int(now) != self._window:
            self._window, self._window_count = int(now), 0
        self._window_count += 1
        self.max_requests_per_window = max(self.max_requests_per_window, self._window_count)
        headers = self._rate_headers()
        if self.rate_limit is None or self._window_count <= self.rate_limit:
            return headers, None
        self.rate_limited_count += 1
        wait = max(math.ceil(self._window + 1 - now), 1)
        return headers, _error(429, "Rate limit exceeded", {**headers, "Retry-After": str(wait)})

    async def _before(
        self, request: web.Request, fault: Fault | None, headers: dict[str, str]
    ) -> web.StreamResponse | None:
        """Answer faults that strike before any work, and check the key."""
        mode = fault.mode if fault is not None else None
        if (common := await self.common_fault(request, mode)) is not None:
            return common
        if fault is not None and mode == "rate_limit":
            self.rate_limited_count += 1
            retry = {**headers, "Retry-After": str(fault.retry_after)}
            return _error(429, "Rate limit exceeded", retry)
        if mode == "expired_key":
            return _error(403, "Invalid API Key: the key has expired", headers)
        if request.headers.get("X-API-Key") != self.api_key:
            return _error(403, "Invalid API Key", headers)
        if fault is not None and fault.reply is not None:
            return fault.reply.response()
        if mode == "http_500":
            return _error(500, "Internal server error", headers)
        if fault is not None and mode == "timeout":
            delay = fault.delay if fault.delay is not None else self.timeout_seconds
            # Sits on the request without committing; ``close`` releases it early.
            await self.park(delay)
            return _error(504, "Gateway timeout", headers)
        return None

    def _after(
        self,
        request: web.Request,
        response: web.StreamResponse,
        fault: Fault | None,
        headers: dict[str, str],
    ) -> web.StreamResponse:
        """Spoil the answer of work already done, as the fault says."""
        if fault is None:
            return response
        if fault.mode == "drop_after_commit":
            # The work is done; the answer never leaves.
            if request.transport is not None:
                request.transport.abort()
            return response
        if fault.mode == "http_503_after_commit":
            return _error(
                503,
                "Processing - Please come back later or use the Retry-After (seconds) header",
                {**headers, "Retry-After": str(fault.retry_after)},
            )
        if fault.mode == "outage_after":
            # This answer still goes out (on a connection that then closes); every later
            # connection is refused.
            response.force_close()
            if self._server is not None:
                self._server.close()
            return response
        if fault.mode == "malformed":
            return web.Response(
                status=200, text="<html>upstream hiccup", content_type="text/html", headers=headers
            )
        return response

    # --- read endpoints ------------------------------------------------------------------

    async def _organisation(self, request: web.Request) -> web.Response:
        """Serve ``GET /organisation`` with the balance."""
        org: dict[str, object] = {
            "balance": float(self.balance),
            "currency": self.currency,
            "country": "GB",
        }
        # Either may be switched off (None) to exercise the client's fallbacks.
        if self.organisation_id is not None:
            org["id"] = self.organisation_id
        if self.organisation_name is not None:
            org["name"] = self.organisation_name
        if self.organisation_shape == "flat":
            return web.json_response(org)
        return web.json_response({"organisations": [org]})

    async def _list_esims(self, request: web.Request) -> web.Response:
        """Serve ``GET /esims`` in pages."""
        esims: list[dict[str, object]] = [
            {
                "iccid": esim.iccid,
                "customerRef": esim.customer_ref or "",
                "lastAction": "Bundle Assigned" if esim.assignments else "eSIM Created",
                "actionDate": _iso(esim.created),
                "physical": False,
            }
            for esim in self.esims.values()
        ]
        return _page(request, "esims", esims, page_count=self.listing_page_count)

    def _own_esim(self, iccid: str) -> EmulatedEsim:
        """Return an eSIM of the organisation or raise the documented error."""
        if iccid in self.foreign_iccids:
            raise _RejectError(403, "ICCID does not belong to your organisation")
        if (esim := self.esims.get(iccid)) is None:
            raise _RejectError(404, f"eSIM {iccid} not found")
        return esim

    async def _esim_bundles(self, request: web.Request) -> web.Response:
        """Serve ``GET /esims/{iccid}/bundles``: assignments grouped by bundle."""
        try:
            esim = self._own_esim(request.match_info["iccid"])
            limit = _int_param(request, "limit", 15, low=1, high=200)
        except _RejectError as err:
            return _error(err.status, err.message)
        if esim.malformed:
            broken = {"bundleState": "active", "initialQuantity": "a lot", "unlimited": "?"}
            return web.json_response({"bundles": [{"name": "?", "assignments": [broken]}]})
        include_used = request.query.get("includeUsed", "false").lower() == "true"
        grouped: dict[str, dict[str, object]] = {}
        for assignment in esim.assignments:
            if assignment.state in _USED_STATES and not include_used:
                continue
            entry = grouped.setdefault(
                assignment.bundle,
                {
                    "name": assignment.bundle,
                    "description": assignment.description,
                    "assignments": [],
                },
            )
            assignments = entry["assignments"]
            assert isinstance(assignments, list)
            assignments.append(assignment.to_json())
        return web.json_response({"bundles": list(grouped.values())[:limit]})

    async def _compatible(self, request: web.Request) -> web.Response:
        """Serve ``GET /esims/{iccid}/compatible/{bundle}``."""
        try:
            esim = self._own_esim(request.match_info["iccid"])
        except _RejectError as err:
            return _error(err.status, err.message)
        bundle = request.match_info["bundle"]
        if bundle not in self.catalogue:
            return _error(404, f"Bundle {bundle} not found")
        return web.json_response({"compatible": bundle not in esim.incompatible})

    async def _catalogue(self, request: web.Request) -> web.Response:
        """Serve ``GET /catalogue`` in pages, optionally filtered by countries (any of)."""
        wanted = {c.strip().upper() for c in request.query.get("countries", "").split(",")}
        wanted.discard("")
        bundles = [
            b.to_json()
            for b in self.catalogue.values()
            if not wanted or wanted.intersection(b.countries)
        ]
        return _page(request, "bundles", bundles, page_count=self.listing_page_count)

    async def _catalogue_bundle(self, request: web.Request) -> web.Response:
        """Serve ``GET /catalogue/{name}``."""
        if (bundle := self.catalogue.get(request.match_info["name"])) is None:
            return _error(404, "Bundle not found")
        return web.json_response(bundle.to_json())

    # --- orders --------------------------------------------------------------------------

    async def _post_order(self, request: web.Request) -> web.Response:
        """Serve ``POST /orders``: a free ``validate`` or a charged ``transaction``."""
        try:
            body = await request.json()
        except ValueError:
            return _error(400, "Request body is not valid JSON")
        self.last_order_bodies.append(body)
        try:
            return web.json_response(self._order(body))
        except _RejectError as err:
            return _error(err.status, err.message)

    def _order(self, body: object) -> dict[str, object]:
        """Check an order like eSIM Go does; commit it when it is a transaction."""
        if not isinstance(body, dict) or body.get("type") not in {"validate", "transaction"}:
            raise _RejectError(400, "type must be 'validate' or 'transaction'")
        assign = body.get("assign", False) is True
        lines = body.get("order")
        if not isinstance(lines, list) or not lines:
            raise _RejectError(400, "order must list at least one item")
        plan = [self._check_item(line, assign=assign) for line in lines]
        total = sum((b.price * qty for b, qty, _, _ in plan), Decimal(0))
        if total > self.balance:
            raise _RejectError(400, "Insufficient balance")
        now = _utcnow()
        items = [
            {
                "type": "bundle",
                "item": b.name,
                "quantity": qty,
                "subTotal": float(b.price * qty),
                "pricePerUnit": float(b.price),
            }
            for b, qty, _, _ in plan
        ]
        if body["type"] == "validate":
            return {
                "order": items,
                "total": float(total),
                "currency": self.currency,
                "valid": True,
                "createdDate": _iso(now),
                "assigned": False,
            }
        reference = f"{next(self._refs):08d}-emu0-4c1a-9e2f-{int(now.timestamp()):012d}"
        self.balance -= total
        all_iccids: list[str] = []
        for item, (bundle, qty, iccids, reassign) in zip(items, plan, strict=True):
            targets = self._targets(bundle, qty, iccids, assign=assign, reassign=reassign)
            for index, iccid in enumerate(targets or [None] * qty):
                if iccid is not None:
                    self._assign(iccid, bundle, f"{reference}-{index}", now)
                self.ledger.append(
                    Charge(
                        order_reference=reference,
                        iccid=iccid,
                        bundle=bundle.name,
                        amount=bundle.price,
                    )
                )
            item["iccids"] = targets
            all_iccids.extend(targets)
        message = f"Order completed: {len(all_iccids)} eSIMs assigned"
        order = EmulatedOrder(
            reference=reference,
            created=now,
            items=items,
            total=total,
            currency=self.currency,
            status="Completed",
            status_message=message,
        )
        self.orders.append(order)
        return {
            "order": items,
            "total": float(total),
            "currency": self.currency,
            "valid": True,
            "createdDate": _iso(now),
            "assigned": assign,
            "status": "Completed",
            "statusMessage": message,
            "orderReference": reference,
            "runningBalance": float(self.balance),
            "iccids": all_iccids,
        }

    def _check_item(
        self, line: object, *, assign: bool
    ) -> tuple[CatalogueBundle, int, list[str], bool]:
        """Check one order item; return its bundle, quantity, ICCIDs and allowReassign."""
        if not isinstance(line, dict) or line.get("type") != "bundle":
            raise _RejectError(400, "order item type must be 'bundle'")
        bundle = self.catalogue.get(str(line.get("item")))
        if bundle is None:
            raise _RejectError(400, f"Bundle {line.get('item')} not found")
        quantity = line.get("quantity")
        if not isinstance(quantity, int) or isinstance(quantity, bool) or quantity < 1:
            raise _RejectError(400, "quantity must be a positive integer")
        iccids = line.get("iccids") or []
        if not isinstance(iccids, list) or not all(isinstance(i, str) for i in iccids):
            raise _RejectError(400, "iccids must be a list of strings")
        if iccids and not assign:
            raise _RejectError(400, "eSIM ICCIDs can only be specified if assign is set to true")
        if iccids and len(iccids) != quantity:
            raise _RejectError(
                400, "If ICCIDs are provided, quantity is required to match the number of ICCIDs"
            )
        reassign = line.get("allowReassign", False) is True
        for iccid in iccids:
            esim = self._own_esim(iccid)
            if bundle.name in esim.incompatible and not reassign:
                raise _RejectError(400, f"Bundle {bundle.name} is not compatible with {iccid}")
        return bundle, quantity, iccids, reassign

    def _targets(
        self, bundle: CatalogueBundle, qty: int, iccids: list[str], *, assign: bool, reassign: bool
    ) -> list[str]:
        """Return the eSIMs an item lands on (new ones when reassigned); [] for inventory."""
        if not assign:
            self.inventory.extend([bundle.name] * qty)
            return []
        if not iccids:
            return [self.add_esim("none") for _ in range(qty)]
        # allowReassign: an incompatible bundle goes to a brand-new eSIM instead.
        return [
            self.add_esim("none") if reassign and bundle.name in self.esims[i].incompatible else i
            for i in iccids
        ]

    def _assign(self, iccid: str, bundle: CatalogueBundle, reference: str, now: datetime) -> None:
        """Add a bundle to an eSIM: active now, or queued behind a running one."""
        esim = self.esims[iccid]
        running = any(a.state == "active" for a in esim.assignments)
        esim.assignments.append(
            EmulatedAssignment(
                id=str(next(self._ids)),
                reference=reference,
                bundle=bundle.name,
                description=bundle.description,
                initial_bytes=0 if bundle.unlimited else bundle.data_mb * MB,
                remaining_bytes=0 if bundle.unlimited else bundle.data_mb * MB,
                state="queued" if running else "active",
                unlimited=bundle.unlimited,
                assigned_at=now,
                start_time=None if running else now,
                end_time=None if running else now + timedelta(days=bundle.days),
            )
        )

    def _order_json(self, order: EmulatedOrder, *, date_key: str) -> dict[str, object]:
        """Return an order in the history shape."""
        items = [
            item if self.orders_include_iccids else {k: v for k, v in item.items() if k != "iccids"}
            for item in order.items
        ]
        data: dict[str, object] = {
            "order": items,
            "total": float(order.total),
            "currency": order.currency,
            "status": order.status,
            "statusMessage": order.status_message,
            "orderReference": order.reference,
            date_key: _iso(order.created),
        }
        return _apply(data, order.overrides)

    async def _list_orders(self, request: web.Request) -> web.Response:
        """Serve ``GET /orders``, newest first, in pages."""
        orders = [self._order_json(o, date_key="createdDate") for o in reversed(self.orders)]
        return _page(request, "orders", orders, page_count=self.listing_page_count)

    async def _get_order(self, request: web.Request) -> web.Response:
        """Serve ``GET /orders/{orderReference}`` (the docs spell the date ``createDate``)."""
        for order in self.orders:
            if order.reference == request.match_info["reference"]:
                return web.json_response(self._order_json(order, date_key="createDate"))
        return _error(404, "Order not found")


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> web.Response:
    """Return eSIM Go's error shape."""
    return web.json_response({"message": message}, status=status, headers=headers)


def _int_param(request: web.Request, name: str, default: int, *, low: int, high: int) -> int:
    """Read an integer query parameter within bounds, or reject the request."""
    raw = request.query.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise _RejectError(400, f"{name} must be an integer") from None
    if not low <= value <= high:
        raise _RejectError(400, f"{name} must be between {low} and {high}")
    return value


def _page(
    request: web.Request, key: str, rows: list[dict[str, object]], *, page_count: str = "number"
) -> web.Response:
    """Answer one page of ``rows`` with ``pageCount`` (see ``listing_page_count``) and
    ``rows`` (the total)."""
    try:
        page = _int_param(request, "page", 1, low=1, high=1_000_000)
        per_page = _int_param(request, "perPage", 10, low=1, high=200)
    except _RejectError as err:
        return _error(err.status, err.message)
    start = (page - 1) * per_page
    data: dict[str, object] = {key: rows[start : start + per_page], "rows": len(rows)}
    if page_count == "number":
        data["pageCount"] = math.ceil(len(rows) / per_page)
    elif page_count == "text":
        data["pageCount"] = f"{math.ceil(len(rows) / per_page)} pages"
    return web.json_response(data)


def seed(emulator: EsimGoEmulator, lines: int) -> None:
    """Fill an emulator with ``lines`` eSIMs in a mix of states, for manual runs."""
    states = ["active", "active", "depleted", "expired", "queued", "unlimited", "active"]
    for index in range(lines):
        state = states[index % len(states)]
        emulator.add_esim(state, customer_ref=f"Line {index + 1} ({state})")


async def _serve_forever(args: argparse.Namespace) -> None:
    """Start a seeded emulator and wait until interrupted."""
    emulator = EsimGoEmulator(
        api_key=args.api_key, balance=Decimal(args.balance), host=args.host, port=args.port
    )
    seed(emulator, args.lines)
    async with emulator:
        print(f"eSIM Go emulator at {emulator.base_url}  (X-API-Key: {emulator.api_key})")  # noqa: T201
        await asyncio.Event().wait()


def main() -> None:
    """Parse the command line and run the emulator."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8766)
    parser.add_argument("--lines", type=int, default=20)
    parser.add_argument("--api-key", default=DEFAULT_API_KEY)
    parser.add_argument("--balance", default="100.00")
    args = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve_forever(args))


if __name__ == "__main__":
    main()
