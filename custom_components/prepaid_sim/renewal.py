"""The only code that spends money.

Every renewal, from the action, the button, voice, a repair fix or auto-renew, goes through
``RenewalManager.async_renew``. It guarantees at most one charge per intent:

* a lock per line, so concurrent presses run one after another;
* a journal entry written to disk *before* the request goes out, with our reference
  (the idempotency key the provider sees), so a crash or a lost answer leaves a trace;
* an answer that never came is a state ("pending"), resolved by looking the order up by its
  reference, never by sending again; a pending line accepts no new renewal;
* repeats are refused: the same ``request_id`` returns the first result, and a second
  renewal of a line within a short window needs ``allow_repeat``;
* a monthly spend cap per line, checked before any request;
* after success the line is re-read and a repair issue is raised if the renewal does not
  show up.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any, Final
import uuid

from homeassistant.core import CALLBACK_TYPE, HomeAssistant, callback
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers import issue_registry as ir
from homeassistant.helpers.event import async_call_later
from homeassistant.helpers.storage import Store
from homeassistant.util import dt as dt_util

from .const import DEFAULT_REPEAT_WINDOW, DOMAIN, EVENT_RENEWAL, LOGGER
from .coordinator import PrepaidSimConfigEntry, PrepaidSimCoordinator, tracked_line_ids
from .providers.base import (
    AuthenticationError,
    Line,
    Order,
    OrderRejectedError,
    OrderStatus,
    Package,
    Provider,
    ProviderError,
    ProviderUnavailableError,
)
from .settings import LineSettings

STORAGE_VERSION: Final = 1
# Receipts kept per account; pending ones are never dropped.
MAX_RECEIPTS: Final = 500
# Backoff between look-ups of an order whose answer was lost.
RECONCILE_DELAYS: Final = (30, 60, 120, 300, 600, 1800)


class RenewalState(StrEnum):
    """Where a renewal stands."""

    SENDING = "sending"
    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class Caller(StrEnum):
    """Who asked for a renewal."""

    USER = "user"
    AUTOMATION = "automation"
    BUTTON = "button"
    VOICE = "voice"
    REPAIR = "repair"
    AUTO_RENEW = "auto_renew"


@dataclass(kw_only=True, slots=True)
class RenewalRecord:
    """One renewal attempt: the journal entry and, once settled, the receipt."""

    reference: str
    line_id: str
    line_name: str
    package_id: str
    package_name: str
    price: str
    currency: str
    caller: str
    created_at: str
    state: str = RenewalState.SENDING
    request_id: str | None = None
    order_id: str | None = None
    completed_at: str | None = None
    new_expires_at: str | None = None
    expires_before: str | None = None
    data_total_before: int | None = None
    error: str | None = None
    verified: bool | None = None
    # Sends and look-ups so far; drives the look-up backoff.
    attempts: int = 0

    @property
    def created(self) -> datetime:
        """Return when the renewal was asked for."""
        return dt_util.parse_datetime(self.created_at) or dt_util.utcnow()

    @property
    def amount(self) -> Decimal:
        """Return the price as a number."""
        return Decimal(self.price)

    def as_dict(self) -> dict[str, Any]:
        """Return the record as stored and as shown to users."""
        return asdict(self)


def journal_store(hass: HomeAssistant, entry_id: str) -> Store[dict[str, Any]]:
    """Return the store that keeps an account's renewal journal."""
    return Store(hass, STORAGE_VERSION, f"{DOMAIN}.{entry_id}.renewals", private=True)


def _new_reference() -> str:
    """Return a fresh idempotency key; short enough for every provider (<= 50 chars)."""
    return f"ps-{uuid.uuid4().hex}"


class RenewalManager:
    """Renew the lines of one account, exactly once per intent."""

    def __init__(
        self,
        hass: HomeAssistant,
        entry: PrepaidSimConfigEntry,
        provider: Provider,
        coordinator: PrepaidSimCoordinator,
    ) -> None:
        """Keep the journal of ``entry`` in its own store."""
        self.hass = hass
        self.entry = entry
        self.provider = provider
        self.coordinator = coordinator
        self.repeat_window = DEFAULT_REPEAT_WINDOW
        self._store = journal_store(hass, entry.entry_id)
        self._records: list[RenewalRecord] = []
        self._catalogue: dict[str, list[Package]] = {}
        self._settings: dict[str, tuple[str, Mapping[str, Any], LineSettings]] = {}
        # Per line: the package list, preferred and current package ids, and the default.
        self._defaults: dict[str, tuple[list[Package], str | None, str | None, Package | None]] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._timers: dict[str, CALLBACK_TYPE] = {}

    @property
    def records(self) -> list[RenewalRecord]:
        """Return every kept record, oldest first."""
        return list(self._records)

    async def async_load(self) -> None:
        """Load the journal and settle renewals left unresolved by a stop or crash."""
        stored = await self._store.async_load()
        self._records = [RenewalRecord(**raw) for raw in (stored or {}).get("records", [])]
        for record in self._records:
            if record.state in (RenewalState.SENDING, RenewalState.PENDING):
                # Whatever happened while we were away, the answer is unknown now.
                record.state = RenewalState.PENDING
                await self._async_reconcile(record)

    @callback
    def async_shutdown(self) -> None:
        """Stop the timers of pending look-ups and verifications."""
        for cancel in self._timers.values():
            cancel()
        self._timers.clear()

    def last_record(self, line_id: str) -> RenewalRecord | None:
        """Return the line's newest record."""
        return next((r for r in reversed(self._records) if r.line_id == line_id), None)

    async def async_list_packages(self, line_id: str, *, show: bool = True) -> list[Package]:
        """Return the line's packages fresh from the provider (and keep them for the UI).

        A list that differs from the one kept is shown at once (the select, the suggestion)
        unless ``show`` is False, for a caller that reads many and shows them together.
        """
        try:
            packages = await self.provider.async_list_packages(line_id)
        except ProviderError as err:
            raise HomeAssistantError(
                translation_domain=DOMAIN,
                translation_key="provider_error",
                translation_placeholders={"error": str(err)},
            ) from err
        previous = self._catalogue.get(line_id)
        self._catalogue[line_id] = packages
        if show and packages != previous:
            self.coordinator.async_local_update()
        return packages

    def cached_packages(self, line_id: str) -> list[Package] | None:
        """Return the packages last read for the line, without asking the provider."""
        return self._catalogue.get(line_id)

    async def async_load_catalogues(self) -> None:
        """Read every tracked line's packages once, in the background after setup."""
        for line_id in tracked_line_ids(self.entry):
            if line_id in self._catalogue:
                continue
            try:
                await self.async_list_packages(line_id, show=False)
            except HomeAssistantError as err:
                LOGGER.debug("Packages of %s not read: %s", line_id, err)
        self.coordinator.async_local_update()

    def default_package(self, line_id: str, packages: list[Package]) -> Package | None:
        """Return the line's preferred package, else its current one, else the cheapest."""
        line = self.coordinator.data.lines.get(line_id) if self.coordinator.data else None
        wanted = (
            self.settings(line_id).preferred_package
            if line_id in tracked_line_ids(self.entry)
            else None
        )
        current = line.package_id if line else None
        # Asked per line on every refresh (repairs, the select): the answer changes only
        # with the package list, the preferred or the current package.
        cached = self._defaults.get(line_id)
        if cached is not None and cached[0] is packages and cached[1:3] == (wanted, current):
            return cached[3]
        chosen = next(
            (
                package
                for package_id in (wanted, current)
                for package in packages
                if package.package_id == package_id
            ),
            None,
        ) or min(packages, key=lambda package: package.price.amount, default=None)
        self._defaults[line_id] = (packages, wanted, current, chosen)
        return chosen

    async def async_renew(
        self,
        line_id: str,
        package_id: str | None = None,
        *,
        caller: Caller,
        dry_run: bool = False,
        request_id: str | None = None,
        allow_repeat: bool = False,
    ) -> dict[str, Any]:
        """Renew a line once; return the order, or the quote of a dry run."""
        lock = self._locks.setdefault(line_id, asyncio.Lock())
        async with lock:
            if request_id is not None and (
                first := next((r for r in self._records if r.request_id == request_id), None)
            ):
                return self._result_of(first)
            line_name = self._line_name(line_id)
            self._check_not_pending(line_id, line_name)
            # Refused repeats cost no request: checked before the package list is read.
            if not dry_run and not allow_repeat:
                self._check_repeat_window(line_id, line_name)
            package = await self._async_resolve_package(line_id, package_id)
            self._check_spend_cap(line_id, line_name, package)
            line = self.coordinator.data.lines.get(line_id) if self.coordinator.data else None
            if dry_run:
                return await self._async_quote(line_id, line, package)
            record = RenewalRecord(
                reference=_new_reference(),
                line_id=line_id,
                line_name=line_name,
                package_id=package.package_id,
                package_name=package.name,
                price=str(package.price.amount),
                currency=package.price.currency,
                caller=caller,
                created_at=dt_util.utcnow().isoformat(),
                request_id=request_id,
                expires_before=line.expires_at.isoformat() if line and line.expires_at else None,
                data_total_before=line.data_total_bytes if line else None,
            )
            self._records.append(record)
            # The journal reaches the disk before the provider hears of the order.
            await self._async_save()
            return await self._async_send(record, package)

    async def _async_send(self, record: RenewalRecord, package: Package) -> dict[str, Any]:
        """Send the order and settle the record from whatever comes back."""
        record.attempts += 1
        try:
            order = await self.provider.async_purchase(record.line_id, package, record.reference)
        except OrderRejectedError as err:
            await self._async_fail(record, err.code)
            key = "insufficient_funds" if err.insufficient_funds else "order_rejected"
            raise HomeAssistantError(
                translation_domain=DOMAIN,
                translation_key=key,
                translation_placeholders={
                    "line": record.line_name,
                    "code": err.code,
                    "message": err.message,
                },
            ) from err
        except (AuthenticationError, ProviderUnavailableError) as err:
            # Refused at the door or never delivered: nothing was charged.
            await self._async_fail(record, type(err).__name__)
            raise HomeAssistantError(
                translation_domain=DOMAIN,
                translation_key="provider_error",
                translation_placeholders={"error": str(err)},
            ) from err
        except Exception as err:
            LOGGER.warning(
                "Renewal %s of %s: the answer was lost (%s); looking the order up",
                record.reference,
                record.line_name,
                err,
            )
            record.state = RenewalState.PENDING
            await self._async_save()
            settled = await self._async_reconcile(record)
            if record.state == RenewalState.SUCCEEDED:
                return self._result_of(record)
            raise HomeAssistantError(
                translation_domain=DOMAIN,
                translation_key="order_not_placed" if settled else "outcome_unknown",
                translation_placeholders={"line": record.line_name},
            ) from err
        if not await self._async_settle(record, order):
            # Accepted but still processing: it is followed up like a lost answer.
            self._raise_pending_issue(record)
            self._schedule(record, self._retry_delay(record))
        elif record.state == RenewalState.FAILED:
            raise HomeAssistantError(
                translation_domain=DOMAIN,
                translation_key="order_rejected",
                translation_placeholders={
                    "line": record.line_name,
                    "code": "order_failed",
                    "message": f"order {order.order_id} failed at the provider",
                },
            )
        return self._result_of(record)

    async def _async_settle(self, record: RenewalRecord, order: Order) -> bool:
        """Record what the provider says of an order; return False while it processes."""
        if order.status is OrderStatus.COMPLETED:
            await self._async_succeed(record, order)
            return True
        record.order_id = order.order_id
        if order.status is OrderStatus.FAILED:
            await self._async_fail(record, "order_failed")
            return True
        record.state = RenewalState.PENDING
        await self._async_save()
        return False

    async def _async_reconcile(self, record: RenewalRecord) -> bool:
        """Look a pending order up by its reference; return True once it is settled."""
        try:
            order = await self.provider.async_find_order(
                record.line_id, record.reference, record.created
            )
        except ProviderError as err:
            LOGGER.debug("Look-up of renewal %s failed: %s", record.reference, err)
            order = None
        else:
            if order is not None:
                if await self._async_settle(record, order):
                    return True
            elif dt_util.utcnow() - record.created >= self.provider.order_lookup_settles_after:
                # The provider's order history is complete by now: it never happened.
                await self._async_fail(record, "not_placed")
                return True
        self._raise_pending_issue(record)
        self._schedule(record, self._retry_delay(record))
        return False

    def _retry_delay(self, record: RenewalRecord) -> float:
        """Return the next look-up delay, backing off with each attempt."""
        record.attempts += 1
        return RECONCILE_DELAYS[min(record.attempts, len(RECONCILE_DELAYS)) - 1]

    def _schedule(self, record: RenewalRecord, delay: float) -> None:
        """Look the record up again after ``delay`` seconds."""

        @callback
        def _retry(_now: datetime) -> None:
            self._timers.pop(record.reference, None)
            self.entry.async_create_background_task(
                self.hass, self._async_reconcile(record), f"{DOMAIN} reconcile"
            )

        self._timers[record.reference] = async_call_later(self.hass, delay, _retry)

    async def _async_succeed(self, record: RenewalRecord, order: Order) -> None:
        """Record a completed order, tell automations, and re-read the line."""
        record.state = RenewalState.SUCCEEDED
        record.order_id = order.order_id
        record.completed_at = dt_util.utcnow().isoformat()
        if order.new_expires_at is not None:
            record.new_expires_at = order.new_expires_at.isoformat()
        record.error = None
        self._clear_pending_issue(record)
        await self._async_save()
        self._fire(record)
        await self.coordinator.async_refresh()
        self._verify(record, final=False)

    async def _async_fail(self, record: RenewalRecord, error: str) -> None:
        """Record a renewal that charged nothing."""
        record.state = RenewalState.FAILED
        record.error = error
        record.completed_at = dt_util.utcnow().isoformat()
        self._clear_pending_issue(record)
        await self._async_save()
        self._fire(record)

    def _verify(self, record: RenewalRecord, *, final: bool) -> None:
        """Check that the renewal shows in the line; raise a repair issue if it never does."""
        line = self.coordinator.data.lines.get(record.line_id) if self.coordinator.data else None
        if line is not None and self._renewal_visible(record, line):
            record.verified = True
            ir.async_delete_issue(self.hass, DOMAIN, f"not_verified_{record.reference}")
            self._async_save_later()
            return
        if not final:

            @callback
            def _check_again(_now: datetime) -> None:
                self._timers.pop(f"verify_{record.reference}", None)

                async def _refresh_and_verify() -> None:
                    await self.coordinator.async_refresh()
                    self._verify(record, final=True)

                self.entry.async_create_background_task(
                    self.hass, _refresh_and_verify(), f"{DOMAIN} verify"
                )

            self._timers[f"verify_{record.reference}"] = async_call_later(
                self.hass, self.provider.renewal_visible_within, _check_again
            )
            return
        record.verified = False
        self._async_save_later()
        ir.async_create_issue(
            self.hass,
            DOMAIN,
            f"not_verified_{record.reference}",
            is_fixable=False,
            severity=ir.IssueSeverity.WARNING,
            translation_key="renewal_not_verified",
            translation_placeholders={
                "line": record.line_name,
                "package": record.package_name,
                "price": f"{record.price} {record.currency}",
                "order_id": record.order_id or "-",
                "time": record.completed_at or record.created_at,
            },
        )

    @staticmethod
    def _renewal_visible(record: RenewalRecord, line: Line) -> bool:
        """Return True when the line shows a later expiry or a larger allowance."""
        before = dt_util.parse_datetime(record.expires_before) if record.expires_before else None
        if line.expires_at is not None and (before is None or line.expires_at > before):
            return True
        return (
            line.data_total_bytes is not None
            and record.data_total_before is not None
            and line.data_total_bytes > record.data_total_before
        )

    def _raise_pending_issue(self, record: RenewalRecord) -> None:
        """Explain why the line's renewals are on hold."""
        ir.async_create_issue(
            self.hass,
            DOMAIN,
            f"pending_{record.reference}",
            is_fixable=False,
            severity=ir.IssueSeverity.WARNING,
            translation_key="renewal_pending",
            translation_placeholders={
                "line": record.line_name,
                "package": record.package_name,
                "time": record.created_at,
            },
        )

    def _clear_pending_issue(self, record: RenewalRecord) -> None:
        """Remove the pending issue and timer of a settled record."""
        ir.async_delete_issue(self.hass, DOMAIN, f"pending_{record.reference}")
        if cancel := self._timers.pop(record.reference, None):
            cancel()

    def _fire(self, record: RenewalRecord) -> None:
        """Fire the renewal event for automations (the save before it updated the entities)."""
        self.hass.bus.async_fire(
            EVENT_RENEWAL, {"entry_id": self.entry.entry_id, **record.as_dict()}
        )

    def _line_name(self, line_id: str) -> str:
        """Return the tracked line's title, or refuse a line this account does not track."""
        if (subentry_id := tracked_line_ids(self.entry).get(line_id)) is None:
            raise ServiceValidationError(
                translation_domain=DOMAIN,
                translation_key="unknown_line",
                translation_placeholders={"line": line_id},
            )
        return self.entry.subentries[subentry_id].title

    def settings(self, line_id: str) -> LineSettings:
        """Return the line's settings (subentry data with defaults), read once per change.

        Asked several times per line and refresh, so the common case is two lookups: Home
        Assistant replaces a subentry's data on every update and never mutates it, so the
        same data object under the same subentry means the same settings.
        """
        read = self._settings.get(line_id)
        if read is not None:
            subentry = self.entry.subentries.get(read[0])
            if subentry is not None and subentry.data is read[1]:
                return read[2]
        subentry_id = tracked_line_ids(self.entry)[line_id]
        data = self.entry.subentries[subentry_id].data
        self._settings[line_id] = (subentry_id, data, settings := LineSettings.from_data(data))
        return settings

    def _check_not_pending(self, line_id: str, line_name: str) -> None:
        """Refuse a renewal while an earlier one's outcome is unknown."""
        for record in self._records:
            if record.line_id == line_id and record.state in (
                RenewalState.SENDING,
                RenewalState.PENDING,
            ):
                raise HomeAssistantError(
                    translation_domain=DOMAIN,
                    translation_key="renewal_pending",
                    translation_placeholders={"line": line_name, "time": record.created_at},
                )

    async def _async_resolve_package(self, line_id: str, package_id: str | None) -> Package:
        """Return the package asked for, or the line's default one."""
        packages = await self.async_list_packages(line_id)
        if package_id is None:
            if (package := self.default_package(line_id, packages)) is None:
                raise ServiceValidationError(
                    translation_domain=DOMAIN,
                    translation_key="no_packages",
                    translation_placeholders={"line": self._line_name(line_id)},
                )
            return package
        for package in packages:
            if package.package_id == package_id:
                return package
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="unknown_package",
            translation_placeholders={
                "package": package_id,
                "line": self._line_name(line_id),
                "packages": ", ".join(p.package_id for p in packages),
            },
        )

    def _check_repeat_window(self, line_id: str, line_name: str) -> None:
        """Refuse a second renewal of the line within the repeat window."""
        now = dt_util.utcnow()
        for record in reversed(self._records):
            if (
                record.line_id == line_id
                and record.state == RenewalState.SUCCEEDED
                and now - record.created < self.repeat_window
            ):
                raise ServiceValidationError(
                    translation_domain=DOMAIN,
                    translation_key="renewed_recently",
                    translation_placeholders={
                        "line": line_name,
                        "time": dt_util.as_local(record.created).strftime("%H:%M"),
                        "minutes": str(int(self.repeat_window.total_seconds() // 60)),
                    },
                )

    def _check_spend_cap(self, line_id: str, line_name: str, package: Package) -> None:
        """Refuse a renewal that would take this month's spend over the line's cap."""
        if (cap := self.settings(line_id).spend_cap) is None:
            return
        month_start = dt_util.start_of_local_day().replace(day=1)
        spent = sum(
            (
                record.amount
                for record in self._records
                if record.line_id == line_id
                and record.state != RenewalState.FAILED
                and record.currency == package.price.currency
                and record.created >= month_start
            ),
            Decimal(0),
        )
        if spent + package.price.amount > cap:
            raise ServiceValidationError(
                translation_domain=DOMAIN,
                translation_key="spend_cap_reached",
                translation_placeholders={
                    "line": line_name,
                    "cap": f"{cap} {package.price.currency}",
                    "spent": f"{spent} {package.price.currency}",
                    "price": str(package.price),
                },
            )

    async def _async_quote(
        self, line_id: str, line: Line | None, package: Package
    ) -> dict[str, Any]:
        """Answer a dry run: what would be bought, for how much, and until when."""
        if self.provider.validates_with_provider:
            try:
                await self.provider.async_validate_purchase(line_id, package)
            except OrderRejectedError as err:
                raise HomeAssistantError(
                    translation_domain=DOMAIN,
                    translation_key="order_rejected",
                    translation_placeholders={
                        "line": self._line_name(line_id),
                        "code": err.code,
                        "message": err.message,
                    },
                ) from err
        now = dt_util.utcnow()
        start = max(line.expires_at, now) if line and line.expires_at else now
        return {
            "dry_run": True,
            "line_id": line_id,
            "package": {"id": package.package_id, "name": package.name},
            "price": float(package.price.amount),
            "currency": package.price.currency,
            "new_expires_at": (start + package.validity).isoformat(),
        }

    @staticmethod
    def _result_of(record: RenewalRecord) -> dict[str, Any]:
        """Return what the action answers for a record."""
        if record.state == RenewalState.FAILED:
            raise HomeAssistantError(
                translation_domain=DOMAIN,
                translation_key="renewal_failed_before",
                translation_placeholders={"line": record.line_name, "error": record.error or ""},
            )
        return {
            "dry_run": False,
            "state": record.state,
            "line_id": record.line_id,
            "order_id": record.order_id,
            "reference": record.reference,
            "package": {"id": record.package_id, "name": record.package_name},
            "price": float(record.amount),
            "currency": record.currency,
            "new_expires_at": record.new_expires_at,
        }

    def receipts(
        self,
        line_id: str | None = None,
        since: datetime | None = None,
    ) -> list[dict[str, Any]]:
        """Return receipts, newest first, filtered by line and time."""
        return [
            record.as_dict()
            for record in reversed(self._records)
            if (line_id is None or record.line_id == line_id)
            and (since is None or record.created >= since)
        ]

    def _trimmed(self) -> list[RenewalRecord]:
        """Drop the oldest settled receipts beyond the limit."""
        excess = len(self._records) - MAX_RECEIPTS
        if excess <= 0:
            return self._records
        kept: list[RenewalRecord] = []
        for record in self._records:
            if excess > 0 and record.state in (RenewalState.SUCCEEDED, RenewalState.FAILED):
                excess -= 1
                continue
            kept.append(record)
        return kept

    def _data(self) -> dict[str, Any]:
        """Return what the store keeps."""
        self._records = self._trimmed()
        return {"records": [record.as_dict() for record in self._records]}

    async def _async_save(self) -> None:
        """Write the journal now (money decisions depend on it) and show the change."""
        await self._store.async_save(self._data())
        self.coordinator.async_local_update()

    @callback
    def _async_save_later(self) -> None:
        """Write a change that guards no money (verification) soon, and show it now."""
        self._store.async_delay_save(self._data, 1)
        self.coordinator.async_local_update()
