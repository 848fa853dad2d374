"""The manual tracker: prepaid lines of carriers without an API, entered by hand.

Most US prepaid brands have no public API. For those a line is described by its owner:
carrier, plan, price, allowance, validity and current expiry. Nothing here talks to a
carrier: the line counts down to its expiry, a "renewal" records one the owner made
elsewhere (the receipt) and moves the expiry on by the plan's validity, and corrections of
the remaining data or the expiry come from the owner.

Where Home Assistant has better signals than the owner's memory, the integration feeds them
in: a data counter (``observe_counter``), a reading of data left (``observe_remaining``),
the carrier's balance message (``apply_reading``) and a renewal confirmed by email
(``record_renewal`` with the mail's amount and time).

The definitions live with the integration's settings; ``ManualBook.on_change`` tells the
integration what to save after a renewal or a correction.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, Final

from .base import (
    Account,
    Line,
    LineNotFoundError,
    LineStatus,
    LineSummary,
    Money,
    Order,
    OrderStatus,
    Package,
    Provider,
    Snapshot,
)

MANUAL_PROVIDER_KEY: Final = "manual"
MANUAL_ACCOUNT_ID: Final = "manual"

# Keys of a manual line's definition (as the integration stores them).
KEY_NAME: Final = "name"
KEY_CARRIER: Final = "carrier"
KEY_PLAN: Final = "plan_name"
KEY_PRICE: Final = "price"
KEY_CURRENCY: Final = "currency"
KEY_ALLOWANCE_GB: Final = "allowance_gb"
KEY_VALIDITY_DAYS: Final = "validity_days"
KEY_EXPIRES: Final = "expires_at"
KEY_REMAINING_GB: Final = "remaining_gb"
KEY_RENEWAL_URL: Final = "renewal_url"
# Carrier rules: recharge at least every N days to keep the number; renew only within N days
# before expiry.
KEY_KEEP_ALIVE_DAYS: Final = "keep_alive_days"
KEY_RENEWAL_WINDOW_DAYS: Final = "renewal_window_days"
KEY_LAST_RECHARGED: Final = "last_recharged_at"
KEY_BALANCE: Final = "balance"

GIB: Final = 1024**3

type Clock = Callable[[], datetime]


def _utcnow() -> datetime:
    """Return the current time; the default clock."""
    return datetime.now(UTC)


def _to_utc(value: str | datetime) -> datetime:
    """Read a stored time; a date or a time without a zone is taken as UTC."""
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(value)
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


@dataclass(frozen=True, slots=True, kw_only=True)
class ManualLine:
    """One hand-entered line."""

    line_id: str
    name: str
    carrier: str
    plan_name: str
    price: Money
    # None: unlimited.
    allowance_bytes: int | None
    validity: timedelta
    expires_at: datetime
    # What the owner last said is left; None: the full allowance.
    remaining_bytes: int | None = None
    renewal_url: str | None = None
    # Data used this period, where a counter tells it (the remaining follows from it).
    used_bytes: int | None = None
    # The line's own credit, from the carrier's balance message.
    balance: Money | None = None
    keep_alive_days: int | None = None
    renewal_window_days: int | None = None
    # When the line was last recharged; None: taken as its expiry less its validity.
    last_recharged_at: datetime | None = None

    @classmethod
    def from_data(cls, line_id: str, data: Mapping[str, Any]) -> ManualLine:
        """Build a line from its stored definition."""
        allowance = data.get(KEY_ALLOWANCE_GB)
        remaining = data.get(KEY_REMAINING_GB)
        keep_alive = data.get(KEY_KEEP_ALIVE_DAYS)
        window = data.get(KEY_RENEWAL_WINDOW_DAYS)
        recharged = data.get(KEY_LAST_RECHARGED)
        balance = data.get(KEY_BALANCE)
        currency = str(data[KEY_CURRENCY]).upper()
        return cls(
            line_id=line_id,
            name=str(data[KEY_NAME]),
            carrier=str(data.get(KEY_CARRIER) or ""),
            plan_name=str(data.get(KEY_PLAN) or ""),
            price=Money(Decimal(str(data[KEY_PRICE])), currency),
            allowance_bytes=int(float(allowance) * GIB) if allowance else None,
            validity=timedelta(days=float(data[KEY_VALIDITY_DAYS])),
            expires_at=_to_utc(data[KEY_EXPIRES]),
            remaining_bytes=None if remaining is None else int(float(remaining) * GIB),
            renewal_url=data.get(KEY_RENEWAL_URL) or None,
            balance=None if balance is None else Money(Decimal(str(balance)), currency),
            keep_alive_days=int(keep_alive) if keep_alive else None,
            renewal_window_days=int(window) if window else None,
            last_recharged_at=_to_utc(recharged) if recharged else None,
        )

    def changes(self) -> dict[str, Any]:
        """Return what a renewal, a correction or a message changes in the stored definition."""
        return {
            KEY_EXPIRES: self.expires_at.isoformat(),
            KEY_REMAINING_GB: None
            if self.remaining_bytes is None
            else round(self.remaining_bytes / GIB, 3),
            KEY_BALANCE: None if self.balance is None else str(self.balance.amount),
            KEY_LAST_RECHARGED: None
            if self.last_recharged_at is None
            else self.last_recharged_at.isoformat(),
        }

    @property
    def keep_alive_by(self) -> datetime | None:
        """Return when the number is lost unless recharged (None: no such rule)."""
        if self.keep_alive_days is None:
            return None
        recharged = self.last_recharged_at or self.expires_at - self.validity
        return recharged + timedelta(days=self.keep_alive_days)

    @property
    def renewal_opens_at(self) -> datetime | None:
        """Return when the carrier starts accepting the next renewal (None: any time)."""
        if self.renewal_window_days is None:
            return None
        return self.expires_at - timedelta(days=self.renewal_window_days)

    @property
    def used_before_counter(self) -> int:
        """Return the data already used when a counter is first linked (from what is left)."""
        if self.allowance_bytes is None or self.remaining_bytes is None:
            return 0
        return max(self.allowance_bytes - self.remaining_bytes, 0)

    @property
    def package(self) -> Package:
        """Return the line's plan as the package its renewals buy."""
        return Package(
            package_id=f"manual-{self.line_id}",
            name=self.plan_name or self.name,
            price=self.price,
            data_bytes=self.allowance_bytes,
            validity=self.validity,
        )


@dataclass(slots=True)
class UsageMeter:
    """Data used this plan period, read from a counter that only grows until it resets.

    A router's or a phone's mobile-data counter counts from whenever it last started (a
    reboot, the start of its own month), not from the plan's start. The meter keeps the
    counter's value when the period started and what was counted before any reset, so the
    period's usage survives both. A reading below the last one is a reset to zero.
    """

    # The counter's value when this period's counting began (None: no reading yet).
    base: int | None = None
    last: int | None = None
    # Bytes of this period counted before the counter's resets, and before it was linked.
    carried: int = 0

    def read(self, counter: int) -> int:
        """Take a reading of the counter; return the data used this period."""
        if self.base is None or self.last is None:
            self.base = self.last = counter
        elif counter < self.last:
            self.carried += self.last - self.base
            self.base = 0
        self.last = counter
        return self.carried + counter - self.base

    def rebase(self, used: int) -> None:
        """Make the current reading count as ``used`` (the carrier said what is left)."""
        counted = 0 if self.base is None or self.last is None else self.last - self.base
        # Negative when the counter saw more than the carrier counts (other traffic).
        self.carried = used - counted

    def start_period(self) -> None:
        """Count from zero again from the counter's current value (a renewal)."""
        self.carried = 0
        self.base = self.last

    def to_json(self) -> dict[str, int | None]:
        """Return the meter as stored."""
        return {"base": self.base, "last": self.last, "carried": self.carried}

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> UsageMeter:
        """Read a stored meter; anything unreadable starts afresh."""
        try:
            base, last = raw.get("base"), raw.get("last")
            return cls(
                base=None if base is None else int(base),
                last=None if last is None else int(last),
                carried=int(raw.get("carried", 0)),
            )
        except TypeError, ValueError:
            return cls()


class ManualBook:
    """The hand-entered lines of one account, and the renewals recorded for them."""

    def __init__(self, lines: Collection[ManualLine] = (), *, clock: Clock = _utcnow) -> None:
        """Start from the stored lines."""
        self.lines: dict[str, ManualLine] = {line.line_id: line for line in lines}
        self.orders: dict[str, Order] = {}
        self.clock = clock
        # Data counters linked to lines (line id -> meter), kept by the integration.
        self.meters: dict[str, UsageMeter] = {}
        # Told (line id, changed fields) after a renewal or a correction, to save them.
        self.on_change: Callable[[str, dict[str, Any]], None] = lambda _line, _changes: None
        # Told the line id when its meter moved, to keep the meter across restarts.
        self.on_meter_change: Callable[[str], None] = lambda _line: None

    def line(self, line_id: str) -> ManualLine:
        """Return a line or raise ``LineNotFoundError``."""
        if (line := self.lines.get(line_id)) is None:
            raise LineNotFoundError(line_id)
        return line

    def correct(
        self,
        line_id: str,
        *,
        expires_at: datetime | None = None,
        remaining_bytes: int | None = None,
    ) -> ManualLine:
        """Set what the carrier's own app says: the expiry, the data left, or both."""
        line = self.line(line_id)
        if expires_at is not None:
            line = replace(line, expires_at=_to_utc(expires_at))
        if remaining_bytes is not None:
            line = self._with_remaining(line, remaining_bytes)
        self.lines[line_id] = line
        self.on_change(line_id, line.changes())
        return line

    def _with_remaining(self, line: ManualLine, remaining_bytes: int) -> ManualLine:
        """Return the line with what the owner or carrier says is left.

        A linked counter counts on from there: its meter is set to match.
        """
        remaining = max(remaining_bytes, 0)
        used = None if line.allowance_bytes is None else max(line.allowance_bytes - remaining, 0)
        if used is not None and (meter := self.meters.get(line.line_id)) is not None:
            meter.rebase(used)
            self.on_meter_change(line.line_id)
        return replace(line, remaining_bytes=remaining, used_bytes=used)

    def observe_counter(self, line_id: str, counter_bytes: int) -> bool:
        """Take a data counter's reading; return True when the line's data moved."""
        line = self.line(line_id)
        meter = self.meters.get(line_id)
        if meter is None:
            meter = self.meters[line_id] = UsageMeter(carried=line.used_before_counter)
        used = meter.read(max(counter_bytes, 0))
        self.on_meter_change(line_id)
        remaining = None if line.allowance_bytes is None else max(line.allowance_bytes - used, 0)
        if used == line.used_bytes and remaining == line.remaining_bytes:
            return False
        self.lines[line_id] = replace(line, used_bytes=used, remaining_bytes=remaining)
        return True

    def observe_remaining(self, line_id: str, remaining_bytes: int) -> bool:
        """Take a reading of the data left; return True when it moved."""
        line = self.line(line_id)
        if max(remaining_bytes, 0) == line.remaining_bytes:
            return False
        self.lines[line_id] = self._with_remaining(line, remaining_bytes)
        return True

    def apply_reading(
        self,
        line_id: str,
        *,
        balance: Money | None = None,
        remaining_bytes: int | None = None,
        expires_at: datetime | None = None,
    ) -> ManualLine:
        """Take what the carrier's balance message says; the rest of the line is kept."""
        line = self.line(line_id)
        if balance is not None:
            line = replace(line, balance=balance)
        if expires_at is not None:
            line = replace(line, expires_at=_to_utc(expires_at))
        if remaining_bytes is not None:
            line = self._with_remaining(line, remaining_bytes)
        self.lines[line_id] = line
        self.on_change(line_id, line.changes())
        return line

    def record_renewal(
        self,
        line_id: str,
        reference: str,
        *,
        price: Money | None = None,
        at: datetime | None = None,
    ) -> Order:
        """Record a renewal made with the carrier: a new allowance, the expiry moved on.

        ``price`` and ``at`` are what a confirmation email states; by default the plan's
        price, now.
        """
        line = self.line(line_id)
        now = self.clock() if at is None else _to_utc(at)
        renewed = replace(
            line,
            expires_at=max(line.expires_at, now) + line.validity,
            remaining_bytes=None,
            used_bytes=None if line_id not in self.meters else 0,
            last_recharged_at=now,
        )
        self.lines[line_id] = renewed
        if (meter := self.meters.get(line_id)) is not None:
            meter.start_period()
            self.on_meter_change(line_id)
        order = Order(
            order_id=f"MANUAL-{len(self.orders) + 1:05d}",
            line_id=line_id,
            package_id=line.package.package_id,
            reference=reference,
            status=OrderStatus.COMPLETED,
            price=price or line.price,
            created_at=now,
            new_expires_at=renewed.expires_at,
            new_data_total_bytes=renewed.allowance_bytes,
        )
        self.orders[reference] = order
        self.on_change(line_id, renewed.changes())
        return order


class ManualProvider(Provider):
    """Lines without an API: everything comes from the owner, nothing from a carrier."""

    # Renewals are recorded here, so the record is complete at once.
    order_lookup_settles_after = timedelta(0)
    renewal_visible_within = timedelta(minutes=1)

    def __init__(self, book: ManualBook) -> None:
        """Read and record into ``book``; its changes are saved through ``save_line``."""
        self.book = book
        book.on_change = self.save_line

    async def async_get_account(self) -> Account:
        """Return the one manual account."""
        return Account(account_id=MANUAL_ACCOUNT_ID, name="Manual lines")

    async def async_list_lines(self) -> list[LineSummary]:
        """Return the lines entered so far."""
        return [
            LineSummary(line_id=line.line_id, name=line.name, plan_name=line.plan_name)
            for line in self.book.lines.values()
        ]

    async def async_fetch(self, line_ids: Collection[str]) -> Snapshot:
        """Return the lines as their owner described them, counted down to now."""
        now = self.book.clock()
        lines: dict[str, Line] = {}
        for line_id in line_ids:
            if (manual := self.book.lines.get(line_id)) is not None:
                lines[line_id] = self._normalize(manual, now)
        return Snapshot(
            wallet=None,
            lines=lines,
            missing_line_ids=frozenset(set(line_ids) - set(lines)),
            fetched_at=now,
        )

    @staticmethod
    def _normalize(manual: ManualLine, now: datetime) -> Line:
        """Turn a hand-entered line into the normalized model."""
        expired = now >= manual.expires_at
        total = manual.allowance_bytes
        remaining: int | None = None
        used = manual.used_bytes
        if total is not None:
            if expired:
                remaining = 0
            elif manual.remaining_bytes is None:
                remaining = total
            else:
                remaining = min(manual.remaining_bytes, total)
            used = total - remaining
        status = LineStatus.ACTIVE
        if expired:
            status = LineStatus.EXPIRED
        elif remaining == 0:
            status = LineStatus.DEPLETED
        return Line(
            line_id=manual.line_id,
            name=manual.name,
            status=status,
            plan_name=manual.plan_name or None,
            package_id=manual.package.package_id,
            unlimited=total is None,
            data_total_bytes=total,
            data_used_bytes=used,
            data_remaining_bytes=remaining,
            expires_at=manual.expires_at,
            balance=manual.balance,
            keep_alive_by=manual.keep_alive_by,
            renewal_opens_at=manual.renewal_opens_at,
            last_topup_at=manual.last_recharged_at,
        )

    async def async_list_packages(self, line_id: str) -> list[Package]:
        """Return the line's own plan: the one thing a manual renewal records."""
        return [self.book.line(line_id).package]

    async def async_purchase(self, line_id: str, package: Package, reference: str) -> Order:
        """Record a renewal the owner made with the carrier (nothing is bought here)."""
        return self.book.record_renewal(line_id, reference)

    async def async_find_order(
        self, line_id: str, reference: str, sent_at: datetime
    ) -> Order | None:
        """Return a recorded renewal."""
        order = self.book.orders.get(reference)
        return order if order is not None and order.line_id == line_id else None
