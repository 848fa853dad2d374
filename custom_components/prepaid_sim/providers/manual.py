"""The manual tracker: prepaid lines of carriers without an API, entered by hand.

Most US prepaid brands have no public API. For those a line is described by its owner:
carrier, plan, price, allowance, validity and current expiry. Nothing here talks to a
carrier: the line counts down to its expiry, a "renewal" records one the owner made
elsewhere (the receipt) and moves the expiry on by the plan's validity, and corrections of
the remaining data or the expiry come from the owner.

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

    @classmethod
    def from_data(cls, line_id: str, data: Mapping[str, Any]) -> ManualLine:
        """Build a line from its stored definition."""
        allowance = data.get(KEY_ALLOWANCE_GB)
        remaining = data.get(KEY_REMAINING_GB)
        return cls(
            line_id=line_id,
            name=str(data[KEY_NAME]),
            carrier=str(data.get(KEY_CARRIER) or ""),
            plan_name=str(data.get(KEY_PLAN) or ""),
            price=Money(Decimal(str(data[KEY_PRICE])), str(data[KEY_CURRENCY]).upper()),
            allowance_bytes=int(float(allowance) * GIB) if allowance else None,
            validity=timedelta(days=float(data[KEY_VALIDITY_DAYS])),
            expires_at=_to_utc(data[KEY_EXPIRES]),
            remaining_bytes=None if remaining is None else int(float(remaining) * GIB),
            renewal_url=data.get(KEY_RENEWAL_URL) or None,
        )

    def changes(self) -> dict[str, Any]:
        """Return what a renewal or a correction changes in the stored definition."""
        return {
            KEY_EXPIRES: self.expires_at.isoformat(),
            KEY_REMAINING_GB: None
            if self.remaining_bytes is None
            else round(self.remaining_bytes / GIB, 3),
        }

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


class ManualBook:
    """The hand-entered lines of one account, and the renewals recorded for them."""

    def __init__(self, lines: Collection[ManualLine] = (), *, clock: Clock = _utcnow) -> None:
        """Start from the stored lines."""
        self.lines: dict[str, ManualLine] = {line.line_id: line for line in lines}
        self.orders: dict[str, Order] = {}
        self.clock = clock
        # Told (line id, changed fields) after a renewal or a correction, to save them.
        self.on_change: Callable[[str, dict[str, Any]], None] = lambda _line, _changes: None

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
            line = replace(line, remaining_bytes=max(remaining_bytes, 0))
        self.lines[line_id] = line
        self.on_change(line_id, line.changes())
        return line

    def record_renewal(self, line_id: str, reference: str) -> Order:
        """Record a renewal made with the carrier: a new allowance, the expiry moved on."""
        line = self.line(line_id)
        now = self.clock()
        renewed = replace(
            line,
            expires_at=max(line.expires_at, now) + line.validity,
            remaining_bytes=None,
        )
        self.lines[line_id] = renewed
        order = Order(
            order_id=f"MANUAL-{len(self.orders) + 1:05d}",
            line_id=line_id,
            package_id=line.package.package_id,
            reference=reference,
            status=OrderStatus.COMPLETED,
            price=line.price,
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
        if total is not None:
            if expired:
                remaining = 0
            elif manual.remaining_bytes is None:
                remaining = total
            else:
                remaining = min(manual.remaining_bytes, total)
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
            data_used_bytes=None if total is None or remaining is None else total - remaining,
            data_remaining_bytes=remaining,
            expires_at=manual.expires_at,
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
