"""The demo provider: a simulated prepaid account built into the integration.

It lets anyone try every feature, and every test run, with no carrier account. The account
has lines in different states, a wallet, packages with prices, data that drains with time
(on an injected clock, so it is deterministic) and purchases that debit the wallet. Switches
on ``DemoBackend`` make it fail the way real providers do.

The backend (the "carrier") is shared per process, so a restarted integration sees the same
account, ledger and orders, just as it would after a restart against a real provider.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Collection
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from enum import StrEnum

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
)

DEMO_PROVIDER_KEY = "demo"
DEMO_ACCOUNT_ID = "demo-account"
DEMO_CURRENCY = "USD"

MIB = 1024**2
GIB = 1024**3

type Clock = Callable[[], datetime]


def _utcnow() -> datetime:
    """Return the current time; the default clock."""
    return datetime.now(UTC)


class PurchaseFault(StrEnum):
    """How the next purchase should fail, for tests and demos."""

    # The order is committed and charged, then the answer is lost.
    LOSE_RESPONSE_AFTER_COMMIT = "lose_response_after_commit"
    # The request times out before the carrier processed it: nothing charged.
    TIMEOUT_BEFORE_COMMIT = "timeout_before_commit"
    # The request cannot reach the carrier at all (connection refused): nothing charged.
    UNREACHABLE = "unreachable"
    # The carrier takes the order, then reports it failed: nothing charged.
    ORDER_FAILS = "order_fails"


@dataclass(slots=True, kw_only=True)
class DemoLine:
    """A simulated line; usage grows linearly from an anchor point."""

    line_id: str
    name: str
    plan_name: str
    package_id: str
    catalogue: str
    total_bytes: int | None
    used_at_anchor: int
    anchor: datetime
    bytes_per_hour: int
    expires_at: datetime
    activated: bool = True
    iccid: str = ""
    phone_number: str | None = None

    def used_bytes(self, now: datetime) -> int:
        """Return the bytes used by ``now``; usage stops at expiry and at the allowance."""
        until = min(now, self.expires_at)
        if not self.activated or until <= self.anchor:
            return self.used_at_anchor
        hours = (until - self.anchor).total_seconds() / 3600
        used = self.used_at_anchor + int(hours * self.bytes_per_hour)
        return used if self.total_bytes is None else min(used, self.total_bytes)

    def usage_changed_at(self, now: datetime) -> datetime:
        """Return when the usage last moved: now while data flows, else when it stopped."""
        if not self.activated or self.bytes_per_hour <= 0:
            return self.anchor
        stopped = min(now, self.expires_at)
        if self.total_bytes is not None:
            hours_left = (self.total_bytes - self.used_at_anchor) / self.bytes_per_hour
            stopped = min(stopped, self.anchor + timedelta(hours=max(hours_left, 0)))
        return max(stopped, self.anchor)

    def status(self, now: datetime) -> LineStatus:
        """Return the line's status at ``now``."""
        if not self.activated:
            return LineStatus.NOT_ACTIVE
        if now >= self.expires_at:
            return LineStatus.EXPIRED
        if self.total_bytes is not None and self.used_bytes(now) >= self.total_bytes:
            return LineStatus.DEPLETED
        return LineStatus.ACTIVE


@dataclass(frozen=True, slots=True, kw_only=True)
class Charge:
    """One entry of the demo carrier's ledger: money actually taken."""

    reference: str
    order_id: str
    line_id: str
    package_id: str
    amount: Money
    at: datetime


def _package(package_id: str, name: str, price: str, data: int | None, days: int) -> Package:
    """Build a catalogue entry priced in the demo currency."""
    return Package(
        package_id=package_id,
        name=name,
        price=Money(Decimal(price), DEMO_CURRENCY),
        data_bytes=data,
        validity=timedelta(days=days),
    )


CATALOGUES: dict[str, tuple[Package, ...]] = {
    "us": (
        _package("us-1gb-7d", "US 1 GB, 7 days", "5.00", 1 * GIB, 7),
        _package("us-10gb-30d", "US 10 GB, 30 days", "20.00", 10 * GIB, 30),
        _package("us-25gb-30d", "US 25 GB, 30 days", "35.00", 25 * GIB, 30),
    ),
    "iot": (
        _package("iot-1gb-30d", "IoT 1 GB, 30 days", "4.00", 1 * GIB, 30),
        _package("iot-500mb-90d", "IoT 500 MB, 90 days", "6.00", 500 * MIB, 90),
        _package("iot-5gb-365d", "IoT 5 GB, 365 days", "25.00", 5 * GIB, 365),
    ),
    "europe": (
        _package("eu-1gb-7d", "Europe 1 GB, 7 days", "4.50", 1 * GIB, 7),
        _package("eu-5gb-15d", "Europe 5 GB, 15 days", "12.00", 5 * GIB, 15),
        _package("eu-10gb-30d", "Europe 10 GB, 30 days", "19.00", 10 * GIB, 30),
    ),
    "unlimited": (_package("us-unlimited-30d", "US Unlimited, 30 days", "45.00", None, 30),),
}


def _initial_lines(now: datetime) -> dict[str, DemoLine]:
    """Return the demo account's lines, each in a state worth showing."""
    day = timedelta(days=1)
    lines = [
        # Healthy: plenty of data, weeks to go.
        DemoLine(
            line_id="us-travel",
            name="US Travel SIM",
            plan_name="US 10 GB, 30 days",
            package_id="us-10gb-30d",
            catalogue="us",
            total_bytes=10 * GIB,
            used_at_anchor=3 * GIB + 200 * MIB,
            anchor=now,
            bytes_per_hour=40 * MIB,
            expires_at=now + 24 * day,
            iccid="8901260000000000011",
            phone_number="+15550100001",
        ),
        # Low data: under 10 % left.
        DemoLine(
            line_id="camera-iot",
            name="Camera IoT SIM",
            plan_name="IoT 1 GB, 30 days",
            package_id="iot-1gb-30d",
            catalogue="iot",
            total_bytes=1 * GIB,
            used_at_anchor=930 * MIB,
            anchor=now,
            bytes_per_hour=4 * MIB,
            expires_at=now + 17 * day,
            iccid="8901260000000000029",
        ),
        # Expiring within days.
        DemoLine(
            line_id="europe-esim",
            name="Europe eSIM",
            plan_name="Europe 5 GB, 15 days",
            package_id="eu-5gb-15d",
            catalogue="europe",
            total_bytes=5 * GIB,
            used_at_anchor=1 * GIB + 512 * MIB,
            anchor=now,
            bytes_per_hour=20 * MIB,
            expires_at=now + 3 * day,
            iccid="8901260000000000037",
        ),
        # Unlimited plan: no allowance to run out of, only an expiry.
        DemoLine(
            line_id="home-hotspot",
            name="Home Hotspot",
            plan_name="US Unlimited, 30 days",
            package_id="us-unlimited-30d",
            catalogue="unlimited",
            total_bytes=None,
            used_at_anchor=48 * GIB,
            anchor=now,
            bytes_per_hour=150 * MIB,
            expires_at=now + 12 * day,
            iccid="8901260000000000045",
            phone_number="+15550100004",
        ),
        # Bought but not yet activated.
        DemoLine(
            line_id="pet-tracker",
            name="Pet Tracker SIM",
            plan_name="IoT 500 MB, 90 days",
            package_id="iot-500mb-90d",
            catalogue="iot",
            total_bytes=500 * MIB,
            used_at_anchor=0,
            anchor=now,
            bytes_per_hour=0,
            expires_at=now + 90 * day,
            activated=False,
            iccid="8901260000000000052",
        ),
    ]
    return {line.line_id: line for line in lines}


@dataclass(slots=True)
class DemoBackend:
    """The simulated carrier: account state, a ledger of charges and fault switches."""

    clock: Clock = _utcnow
    wallet: Decimal = Decimal("60.00")
    lines: dict[str, DemoLine] = field(default_factory=dict)
    ledger: list[Charge] = field(default_factory=list)
    orders: dict[str, Order] = field(default_factory=dict)
    # Fault switches.
    unavailable: bool = False
    auth_invalid: bool = False
    # Seconds of Retry-After to answer every request with (an HTTP 429), or None.
    rate_limited_for: float | None = None
    # The package catalogue cannot be read (the rest of the account can).
    catalogue_unavailable: bool = False
    # The order history cannot be read (a lost answer stays unresolved).
    order_history_unavailable: bool = False
    # The order history answers something no client expects (an unexpected error).
    order_history_garbled: bool = False
    # When set, a purchase waits for it after reaching the carrier (a slow carrier).
    purchase_gate: asyncio.Event | None = None
    # Answers a client does not expect: surfaces as an unexpected (non-provider) error.
    garbled: bool = False
    # The address answers, but not as the provider's API (a wrong base URL: HTTP 404).
    not_provider_api: bool = False
    reject_orders_with: str | None = None
    next_purchase_fault: PurchaseFault | None = None
    # Orders are answered as still processing (they complete by the next look-up).
    orders_processing: bool = False
    # The carrier charges but the line does not change (a renewal that never arrives).
    orders_not_applied: bool = False
    # Event-loop turns a purchase takes; lets tests overlap concurrent presses
    # without depending on the (possibly frozen) clock.
    purchase_turns: int = 0
    request_count: int = 0
    # Orders taken so far (order ids count on from it).
    order_seq: int = 0
    # Called after every change a restart must not forget (an order taken).
    on_change: Callable[[], None] | None = None
    # Whether this process already put back the state saved by an earlier one.
    remembered: bool = False

    def __post_init__(self) -> None:
        """Create the account's lines relative to the clock's now."""
        if not self.lines:
            self.lines = _initial_lines(self.clock())

    def packages_for(self, line_id: str) -> tuple[Package, ...]:
        """Return the catalogue a line can buy from."""
        return CATALOGUES[self._line(line_id).catalogue]

    def _line(self, line_id: str) -> DemoLine:
        """Return a line or raise ``LineNotFoundError``."""
        if (line := self.lines.get(line_id)) is None:
            raise LineNotFoundError(line_id)
        return line

    def check_reachable(self) -> None:
        """Count a request and raise the configured connection or auth fault."""
        self.request_count += 1
        if self.unavailable:
            raise ProviderUnavailableError("demo provider switched to unavailable")
        if self.rate_limited_for is not None:
            raise RateLimitedError("demo provider switched to rate limited", self.rate_limited_for)
        if self.auth_invalid:
            raise AuthenticationError("demo credentials switched to invalid")
        if self.garbled:
            raise ValueError("demo answer switched to garbled")
        if self.not_provider_api:
            raise NotProviderApiError("demo address switched to not the provider's API")

    def check_order(self, line_id: str, package: Package) -> DemoLine:
        """Return the line an order is for, or raise why the carrier refuses it."""
        line = self._line(line_id)
        if package not in self.packages_for(line_id):
            raise OrderRejectedError("package_not_offered", f"{package.package_id} not offered")
        if self.reject_orders_with is not None:
            raise OrderRejectedError(self.reject_orders_with, "rejected by demo switch")
        if self.wallet < package.price.amount:
            raise OrderRejectedError(
                "insufficient_funds", "wallet balance too low", insufficient_funds=True
            )
        return line

    def commit_order(self, line_id: str, package: Package, reference: str) -> Order:
        """Charge the wallet and apply the package to the line."""
        line = self.check_order(line_id, package)
        now = self.clock()
        self.wallet -= package.price.amount
        new_expiry = max(line.expires_at, now) + package.validity
        if not self.orders_not_applied:
            self._apply(line, package, now)
        self.order_seq += 1
        order = Order(
            order_id=f"DEMO-{self.order_seq:05d}",
            line_id=line_id,
            package_id=package.package_id,
            reference=reference,
            status=OrderStatus.COMPLETED,
            price=package.price,
            created_at=now,
            new_expires_at=new_expiry,
            new_data_total_bytes=line.total_bytes,
        )
        self.orders[reference] = order
        self.ledger.append(
            Charge(
                reference=reference,
                order_id=order.order_id,
                line_id=line_id,
                package_id=package.package_id,
                amount=package.price,
                at=now,
            )
        )
        self._changed()
        return order

    def fail_order(self, line_id: str, package: Package, reference: str) -> Order:
        """Record an order the carrier took but could not fulfil; nothing is charged."""
        self.check_order(line_id, package)
        self.order_seq += 1
        order = Order(
            order_id=f"DEMO-{self.order_seq:05d}",
            line_id=line_id,
            package_id=package.package_id,
            reference=reference,
            status=OrderStatus.FAILED,
            price=package.price,
            created_at=self.clock(),
        )
        self.orders[reference] = order
        self._changed()
        return order

    def apply_late(self, reference: str) -> None:
        """Apply an order charged earlier but not applied (a renewal that arrives late)."""
        order = self.orders[reference]
        package = next(
            p for p in self.packages_for(order.line_id) if p.package_id == order.package_id
        )
        self._apply(self._line(order.line_id), package, self.clock())

    def _changed(self) -> None:
        """Tell whoever keeps the carrier's state that it changed."""
        if self.on_change is not None:
            self.on_change()

    @staticmethod
    def _apply(line: DemoLine, package: Package, now: datetime) -> None:
        """Add the package's data and validity to the line."""
        used = line.used_bytes(now)
        if line.total_bytes is not None and package.data_bytes is not None:
            # A top-up adds to whatever is left; used data carries over.
            line.total_bytes = max(line.total_bytes, used) + package.data_bytes
        line.used_at_anchor, line.anchor = used, now
        line.expires_at = max(line.expires_at, now) + package.validity
        line.activated = True


_backend: DemoBackend | None = None


def get_demo_backend() -> DemoBackend:
    """Return the process-wide demo carrier, creating it on first use."""
    global _backend  # noqa: PLW0603 - one simulated carrier per process, like a real one
    if _backend is None:
        _backend = DemoBackend()
    return _backend


def reset_demo_backend(clock: Clock = _utcnow) -> DemoBackend:
    """Start the demo carrier afresh (tests use this for isolation)."""
    global _backend  # noqa: PLW0603
    _backend = DemoBackend(clock=clock)
    return _backend


class DemoProvider(Provider):
    """A client of the simulated carrier, with the same contract as a real one."""

    order_lookup_settles_after = timedelta(0)
    renewal_visible_within = timedelta(minutes=2)

    def __init__(self, backend: DemoBackend) -> None:
        """Talk to ``backend``."""
        self.backend = backend

    async def async_get_account(self) -> Account:
        """Return the demo account."""
        self.backend.check_reachable()
        return Account(
            account_id=DEMO_ACCOUNT_ID,
            name="Demo account",
            wallet=Money(self.backend.wallet, DEMO_CURRENCY),
        )

    async def async_list_lines(self) -> list[LineSummary]:
        """Return every line on the demo account."""
        self.backend.check_reachable()
        return [
            LineSummary(line_id=line.line_id, name=line.name, plan_name=line.plan_name)
            for line in self.backend.lines.values()
        ]

    async def async_fetch(self, line_ids: Collection[str]) -> Snapshot:
        """Read the wallet and the tracked lines in one simulated request."""
        self.backend.check_reachable()
        now = self.backend.clock()
        lines: dict[str, Line] = {}
        missing: set[str] = set()
        for line_id in line_ids:
            if (demo := self.backend.lines.get(line_id)) is None:
                missing.add(line_id)
                continue
            lines[line_id] = self._normalize(demo, now)
        return Snapshot(
            wallet=Money(self.backend.wallet, DEMO_CURRENCY),
            lines=lines,
            missing_line_ids=frozenset(missing),
            fetched_at=now,
        )

    @staticmethod
    def _normalize(demo: DemoLine, now: datetime) -> Line:
        """Turn a simulated line into the normalized model."""
        used = demo.used_bytes(now)
        remaining = None if demo.total_bytes is None else max(demo.total_bytes - used, 0)
        return Line(
            line_id=demo.line_id,
            name=demo.name,
            status=demo.status(now),
            plan_name=demo.plan_name,
            package_id=demo.package_id,
            unlimited=demo.total_bytes is None,
            data_total_bytes=demo.total_bytes,
            data_used_bytes=used,
            data_remaining_bytes=remaining,
            expires_at=demo.expires_at,
            iccid=demo.iccid,
            phone_number=demo.phone_number,
            # A line whose usage stands still reads the same on every refresh.
            usage_updated_at=demo.usage_changed_at(now),
        )

    async def async_list_packages(self, line_id: str) -> list[Package]:
        """Return the line's catalogue."""
        self.backend.check_reachable()
        if self.backend.catalogue_unavailable:
            raise ProviderUnavailableError("demo catalogue switched to unavailable")
        return list(self.backend.packages_for(line_id))

    async def async_purchase(self, line_id: str, package: Package, reference: str) -> Order:
        """Buy a package, failing as the switches say."""
        self.backend.check_reachable()
        fault, self.backend.next_purchase_fault = self.backend.next_purchase_fault, None
        if fault is PurchaseFault.UNREACHABLE:
            raise ProviderUnavailableError("demo purchase could not reach the carrier")
        for _ in range(self.backend.purchase_turns):
            await asyncio.sleep(0)
        if self.backend.purchase_gate is not None:
            await self.backend.purchase_gate.wait()
        if fault is PurchaseFault.ORDER_FAILS:
            return self.backend.fail_order(line_id, package, reference)
        if fault is PurchaseFault.TIMEOUT_BEFORE_COMMIT:
            raise OrderOutcomeUnknownError(reference, "timed out before the carrier answered")
        order = self.backend.commit_order(line_id, package, reference)
        if fault is PurchaseFault.LOSE_RESPONSE_AFTER_COMMIT:
            raise OrderOutcomeUnknownError(reference, "connection dropped after sending")
        if self.backend.orders_processing:
            return replace(order, status=OrderStatus.PROCESSING)
        return order

    async def async_validate_purchase(self, line_id: str, package: Package) -> None:
        """Check an order as a carrier's free dry run does, charging nothing.

        Only asked when ``validates_with_provider`` is turned on (as for eSIM Access).
        """
        self.backend.check_reachable()
        self.backend.check_order(line_id, package)

    async def async_find_order(
        self, line_id: str, reference: str, sent_at: datetime
    ) -> Order | None:
        """Look an order up by our reference, as the carrier's order history allows."""
        self.backend.check_reachable()
        if self.backend.order_history_unavailable:
            raise ProviderUnavailableError("demo order history switched to unavailable")
        if self.backend.order_history_garbled:
            raise TypeError("demo order history answered something unreadable")
        order = self.backend.orders.get(reference)
        return order if order is not None and order.line_id == line_id else None
