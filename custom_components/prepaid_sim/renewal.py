"""The only code that spends money.

Every renewal, from the action, the button, voice, an AI agent, a repair or auto-renew,
goes through ``RenewalEngine.async_renew``. It guarantees at most one charge per intent,
across entries, reloads and restarts:

* one lock per *provider line* (shared by every entry that tracks it), so concurrent
  presses run one after another and a reloaded entry waits for its predecessor;
* a journal record written to disk *before* the request goes out, with our reference (the
  idempotency key the provider sees), in one journal that every entry shares;
* an answer that never came is a state (pending), resolved by looking the order up, never
  by sending again; a renewal is never ruled "not placed" while the line shows evidence of
  it, and one that cannot be told either way stays *unconfirmed* until the user settles it;
* while a renewal of a line is unsettled the line takes no new one; repeats within a short
  window and renewals over the line's monthly spend cap or the account's monthly budget are
  refused before any request;
* only administrators and automations spend; a quote binds package, price, user and device;
* after success the line is re-read (also after a restart) and a repair is raised if the
  renewal does not show up.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
import contextlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Any, Final
import uuid

from homeassistant.config_entries import ConfigEntry
from homeassistant.core import CALLBACK_TYPE, HomeAssistant, callback
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers.event import async_call_later, async_track_point_in_utc_time
from homeassistant.util import dt as dt_util
from homeassistant.util.hass_dict import HassKey

from . import issues
from .alerts import is_expired
from .catalogue import PackageCatalogue
from .const import DOMAIN, EVENT_RENEWAL, LOGGER, line_device_identifier
from .coordinator import PrepaidSimCoordinator
from .errors import person_facing_error
from .journal import Journal, month_start
from .providers.base import (
    AuthenticationError,
    Line,
    Money,
    Order,
    OrderRejectedError,
    OrderStatus,
    Package,
    Provider,
    ProviderError,
    ProviderUnavailableError,
    Snapshot,
    line_ref,
)
from .providers.manual import ManualProvider
from .providers.ratelimit import fail_fast
from .records import LineBaseline, RenewalRecord, RenewalState, line_key
from .settings import LineSettings, MonthlyBudget, SettingsReader

# A second renewal of a line within this window needs allow_repeat.
REPEAT_WINDOW: Final = timedelta(minutes=10)
# Backoff between look-ups of an order whose answer was lost, in seconds.
RECONCILE_DELAYS: Final = (30, 60, 120, 300, 600, 1800)
# How long an unload waits for a purchase in flight.
DRAIN_TIMEOUT: Final = 120.0
# Renewals not seen on the line are raised again after a restart for this long.
NOT_VERIFIED_KEPT: Final = timedelta(days=30)

_DATA_LOCKS: HassKey[dict[str, asyncio.Lock]] = HassKey(f"{DOMAIN}_line_locks")


# A renewal recorded here this close to a carrier's confirmation mail is the one it confirms.
CONFIRMATION_MATCHES_WITHIN = timedelta(days=2)


class CallerKind(StrEnum):
    """What asked for a renewal."""

    # The renew action, by a person or by an automation or script (no user).
    USER = "user"
    AUTOMATION = "automation"
    BUTTON = "button"
    VOICE = "voice"
    # An AI agent's tool call.
    ASSISTANT = "assistant"
    REPAIR = "repair"
    AUTO_RENEW = "auto_renew"
    # The carrier's confirmation email of a renewal made outside Home Assistant.
    EMAIL = "email"


@dataclass(frozen=True, slots=True, kw_only=True)
class Requester:
    """Who asks for a renewal, and from where."""

    kind: CallerKind
    # None for automations, scripts and voice satellites nobody is signed in to.
    user_id: str | None = None
    # The device (a voice satellite) a spoken request came from, where known.
    device_id: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Quote:
    """What a renewal would buy, for how much, and until when; bound to who asked."""

    entry_id: str
    line_id: str
    line_name: str
    package: Package
    new_expires_at: datetime
    requester: Requester
    quoted_at: datetime

    @property
    def price(self) -> Money:
        """Return the quoted price."""
        return self.package.price

    def as_response(self) -> dict[str, Any]:
        """Return the quote as the renew action answers a dry run."""
        return {
            "dry_run": True,
            "line": self.line_name,
            "package": {"id": self.package.package_id, "name": self.package.name},
            "price": float(self.price.amount),
            "currency": self.price.currency,
            "new_expires_at": self.new_expires_at.isoformat(),
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class RenewalResult:
    """What a renewal bought, as settled so far."""

    reference: str
    state: RenewalState
    line_name: str
    order_id: str | None
    package_id: str
    package_name: str
    price: Money
    new_expires_at: datetime | None

    @classmethod
    def of(cls, record: RenewalRecord) -> RenewalResult:
        """Return the result a record stands for."""
        return cls(
            reference=record.reference,
            state=record.state,
            line_name=record.line_name,
            order_id=record.order_id,
            package_id=record.package_id,
            package_name=record.package_name,
            price=record.price,
            new_expires_at=record.new_expires_at,
        )

    def as_response(self) -> dict[str, Any]:
        """Return the result as the renew action answers."""
        return {
            "dry_run": False,
            "state": self.state.value,
            "line": self.line_name,
            "order_id": self.order_id,
            "reference": self.reference,
            "package": {"id": self.package_id, "name": self.package_name},
            "price": float(self.price.amount),
            "currency": self.price.currency,
            "new_expires_at": self.new_expires_at.isoformat() if self.new_expires_at else None,
        }


def new_reference() -> str:
    """Return a fresh idempotency key; short enough for every provider (<= 50 chars)."""
    return f"ps-{uuid.uuid4().hex}"


def line_lock(hass: HomeAssistant, key: str) -> asyncio.Lock:
    """Return the lock of a provider line, shared by every entry and every reload."""
    return hass.data.setdefault(_DATA_LOCKS, {}).setdefault(key, asyncio.Lock())


async def async_check_may_spend(
    hass: HomeAssistant, requester: Requester, line_name: str, settings: LineSettings
) -> None:
    """Refuse a renewal asked by someone who may not spend.

    Administrators and automations spend (an automation or script runs with no user; a
    repair is fixed in the administrators-only Repairs dashboard; auto-renew is the
    user's own policy). A voice request without a signed-in user may only when the line
    allows it.
    """
    if requester.kind in (CallerKind.AUTO_RENEW, CallerKind.REPAIR):
        return
    if requester.user_id is None:
        if (
            requester.kind in (CallerKind.VOICE, CallerKind.ASSISTANT)
            and not settings.voice_without_user
        ):
            raise ServiceValidationError(
                translation_domain=DOMAIN,
                translation_key="voice_needs_user",
                translation_placeholders={"line": line_name},
            )
        return
    user = await hass.auth.async_get_user(requester.user_id)
    if user is None or not user.is_admin:
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="admin_required",
            translation_placeholders={"line": line_name},
        )


class RenewalEngine:
    """Renew the lines of one account, exactly once per intent."""

    def __init__(
        self,
        hass: HomeAssistant,
        entry: ConfigEntry,
        *,
        provider: Provider,
        provider_key: str,
        coordinator: PrepaidSimCoordinator,
        catalogue: PackageCatalogue,
        settings: SettingsReader,
        journal: Journal,
        line_subentries: Mapping[str, str],
    ) -> None:
        """Renew the lines of ``entry`` (line id -> subentry id in ``line_subentries``)."""
        self.hass = hass
        self.entry = entry
        self.provider = provider
        self.provider_key = provider_key
        self.coordinator = coordinator
        self.catalogue = catalogue
        self.settings = settings
        self.journal = journal
        self._line_subentries = line_subentries
        self._keys = {line_key(provider_key, line_id): line_id for line_id in line_subentries}
        self._timers: dict[str, CALLBACK_TYPE] = {}
        self._in_flight = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self._closing = False

    # --- reading --------------------------------------------------------------------------

    def key(self, line_id: str) -> str:
        """Return the provider line key of one of the account's lines."""
        return line_key(self.provider_key, line_id)

    def spent_this_month(self, currency: str) -> Decimal:
        """Return what the account's lines spent this calendar month in ``currency``.

        The rule of the spend checks: every renewal that may have charged counts (an
        unsettled one too), whichever entry asked, so a budget is never passed by a renewal
        whose outcome is not known yet.
        """
        since = month_start()
        return sum(
            (
                record.price.amount
                for record in self.journal.records
                if record.line_key in self._keys
                and record.may_have_charged
                and record.created_at >= since
                and record.price.currency == currency
            ),
            Decimal(0),
        )

    def line_of(self, key: str) -> str | None:
        """Return the account's line with the provider line key ``key``, if it tracks it."""
        return self._keys.get(key)

    def last_record(self, line_id: str) -> RenewalRecord | None:
        """Return the newest record of the line, whichever entry asked."""
        return self.journal.last(self.key(line_id))

    def line_name(self, line_id: str) -> str:
        """Return the tracked line's title, or refuse a line this account does not track."""
        if (subentry_id := self._line_subentries.get(line_id)) is None or (
            subentry := self.entry.subentries.get(subentry_id)
        ) is None:
            raise ServiceValidationError(
                translation_domain=DOMAIN,
                translation_key="unknown_line",
                translation_placeholders={"line": line_ref(line_id)},
            )
        return subentry.title

    def _line(self, line_id: str) -> Line | None:
        """Return the line as last read."""
        data = self.coordinator.data
        return data.lines.get(line_id) if data is not None else None

    def device_id(self, line_id: str) -> str | None:
        """Return the device of a line (events name it instead of the line id)."""
        device = dr.async_get(self.hass).async_get_device_by_identifier(
            (DOMAIN, line_device_identifier(self.entry.unique_id, line_id)), self.entry.entry_id
        )
        return device.id if device else None

    # --- quotes and renewals ---------------------------------------------------------------

    async def async_quote(
        self, line_id: str, package_id: str | None = None, *, requester: Requester
    ) -> Quote:
        """Price a renewal without buying: the package, its price and the new expiry."""
        name = self.line_name(line_id)
        settings = self.settings.of(line_id)
        await async_check_may_spend(self.hass, requester, name, settings)
        key = self.key(line_id)
        self._check_journal_damage(key, name)
        self._check_settled(key, name)
        line = self._line(line_id)
        now = dt_util.utcnow()
        self._check_renewable(line, name, now)
        package = await self._async_package(line_id, package_id, name, settings, line)
        self._check_spend_cap(key, name, package, settings)
        self._check_budget(name, package)
        if self.provider.validates_with_provider:
            try:
                with fail_fast():
                    await self.provider.async_validate_purchase(line_id, package)
            except OrderRejectedError as err:
                raise _rejected(name, err) from err
            except ProviderError as err:
                raise person_facing_error(err) from err
        start = max(line.expires_at, now) if line and line.expires_at else now
        return Quote(
            entry_id=self.entry.entry_id,
            line_id=line_id,
            line_name=name,
            package=package,
            new_expires_at=start + package.validity,
            requester=requester,
            quoted_at=now,
        )

    async def async_renew(
        self,
        line_id: str,
        package_id: str | None = None,
        *,
        requester: Requester,
        request_id: str | None = None,
        allow_repeat: bool = False,
        max_price: Money | None = None,
    ) -> RenewalResult:
        """Renew a line once; ``max_price`` holds a confirmed quote to its price."""
        name = self.line_name(line_id)
        if request_id is not None and not request_id.strip():
            raise ServiceValidationError(
                translation_domain=DOMAIN, translation_key="empty_request_id"
            )
        settings = self.settings.of(line_id)
        await async_check_may_spend(self.hass, requester, name, settings)
        self._check_open(name)
        self._in_flight += 1
        self._idle.clear()
        try:
            async with line_lock(self.hass, self.key(line_id)):
                # Queued behind a press that was in flight when the account began to unload.
                self._check_open(name)
                return await self._async_renew_locked(
                    line_id,
                    package_id,
                    name=name,
                    settings=settings,
                    requester=requester,
                    request_id=request_id,
                    allow_repeat=allow_repeat,
                    max_price=max_price,
                )
        finally:
            self._in_flight -= 1
            if not self._in_flight:
                self._idle.set()

    async def async_record_confirmed(
        self,
        line_id: str,
        *,
        reference: str,
        price: Money | None,
        confirmed_at: datetime,
    ) -> RenewalRecord | None:
        """Record a renewal the carrier confirmed by email (a hand-kept line only).

        Nothing is bought here: the owner paid the carrier. The mail moves the line's expiry
        and keeps the receipt. The same mail seen twice, or one confirming a renewal already
        recorded here within the last days, records nothing new. Return the new record, or
        None when nothing was recorded.
        """
        provider = self.provider
        if not isinstance(provider, ManualProvider):
            return None
        name = self.line_name(line_id)
        key = self.key(line_id)
        async with line_lock(self.hass, key):
            if self.journal.by_reference(reference) is not None:
                return None
            if (last := self.journal.last(key)) is not None and (
                last.state is RenewalState.SUCCEEDED
                and confirmed_at - CONFIRMATION_MATCHES_WITHIN
                <= last.created_at
                <= confirmed_at + CONFIRMATION_MATCHES_WITHIN
            ):
                # The owner told Home Assistant already (the Renew button of a manual line);
                # the mail is its confirmation, not a second renewal.
                return None
            package = provider.book.line(line_id).package
            order = provider.book.record_renewal(line_id, reference, price=price, at=confirmed_at)
            record = RenewalRecord(
                reference=reference,
                line_key=key,
                line_id=line_id,
                entry_id=self.entry.entry_id,
                line_name=name,
                package_id=package.package_id,
                package_name=package.name,
                price=order.price or package.price,
                caller=CallerKind.EMAIL.value,
                created_at=confirmed_at,
                state=RenewalState.SUCCEEDED,
                order_id=order.order_id,
                completed_at=confirmed_at,
                new_expires_at=order.new_expires_at,
                settled_by="provider",
                verified=True,
            )
            self.journal.add(record)
            await self._async_save(record)
            self._fire(record)
        await self.coordinator.async_refresh()
        return record

    async def _async_renew_locked(
        self,
        line_id: str,
        package_id: str | None,
        *,
        name: str,
        settings: LineSettings,
        requester: Requester,
        request_id: str | None,
        allow_repeat: bool,
        max_price: Money | None,
    ) -> RenewalResult:
        """Check, journal and send one renewal (the line's lock is held)."""
        key = self.key(line_id)
        now = dt_util.utcnow()
        if request_id is not None and (first := self.journal.by_request(key, request_id, now)):
            return _result_of(first)
        self._check_journal_damage(key, name)
        self._check_settled(key, name)
        line = self._line(line_id)
        self._check_renewable(line, name, now)
        # Refused repeats cost no request: checked before the package list is read.
        if not allow_repeat:
            self._check_repeat_window(key, name, now)
        package = await self._async_package(line_id, package_id, name, settings, line)
        if max_price is not None:
            _check_quoted_price(package, max_price, name)
        self._check_spend_cap(key, name, package, settings)
        # The budget spans the account's lines, each under its own lock: nothing awaits
        # between this check and the journal taking the record, so two renewals of
        # different lines cannot both pass it.
        self._check_budget(name, package)
        record = RenewalRecord(
            reference=new_reference(),
            line_key=key,
            line_id=line_id,
            entry_id=self.entry.entry_id,
            line_name=name,
            package_id=package.package_id,
            package_name=package.name,
            price=package.price,
            caller=requester.kind.value,
            user_id=requester.user_id,
            created_at=now,
            request_id=request_id,
            baseline=LineBaseline.of(line),
        )
        self.journal.add(record)
        # The journal reaches the disk before the provider hears of the order.
        await self._async_save(record)
        return await self._async_send(record, package)

    async def _async_send(self, record: RenewalRecord, package: Package) -> RenewalResult:
        """Send the order and settle the record from whatever comes back."""
        record.attempts += 1
        try:
            with fail_fast():
                order = await self.provider.async_purchase(
                    record.line_id, package, record.reference
                )
        except OrderRejectedError as err:
            await self._async_fail(record, err.code, settled_by="provider")
            raise _rejected(record.line_name, err) from err
        except (AuthenticationError, ProviderUnavailableError) as err:
            # Refused at the door, rate limited before sending, or never delivered.
            await self._async_fail(record, type(err).__name__, settled_by="provider")
            raise person_facing_error(err) from err
        except Exception as err:  # noqa: BLE001 - anything after sending may have charged
            LOGGER.warning(
                "Renewal %s of %s: the answer was lost (%s); looking the order up",
                record.reference,
                record.line_name,
                type(err).__name__,
            )
            record.state = RenewalState.PENDING
            record.answer_lost = True
            await self._async_save(record)
            await self._async_reconcile_locked(record, person_waits=True)
            return self._result_after_lost_answer(record)
        if not await self._async_settle(record, order):
            # Accepted but still processing: followed up like a lost answer.
            self._keep_looking(record)
        elif record.state is RenewalState.FAILED:
            raise HomeAssistantError(
                translation_domain=DOMAIN,
                translation_key="order_failed",
                translation_placeholders={
                    "line": record.line_name,
                    "order": record.order_id or "-",
                },
            )
        return RenewalResult.of(record)

    @staticmethod
    def _result_after_lost_answer(record: RenewalRecord) -> RenewalResult:
        """Return the result of a renewal whose answer was lost, or say where it stands."""
        if record.state is RenewalState.SUCCEEDED:
            return RenewalResult.of(record)
        key = {
            RenewalState.FAILED: "order_not_placed",
            RenewalState.UNCONFIRMED: "outcome_unconfirmed",
        }.get(record.state, "outcome_unknown")
        raise HomeAssistantError(
            translation_domain=DOMAIN,
            translation_key=key,
            translation_placeholders={"line": record.line_name},
        )

    # --- settling ----------------------------------------------------------------------

    async def _async_settle(self, record: RenewalRecord, order: Order) -> bool:
        """Record what the provider says of an order; return False while it processes."""
        if order.status is OrderStatus.COMPLETED:
            await self._async_succeed(record, order, settled_by="provider")
            return True
        record.order_id = order.order_id
        if order.status is OrderStatus.FAILED:
            await self._async_fail(record, "order_failed", settled_by="provider")
            return True
        record.state = RenewalState.PENDING
        await self._async_save(record)
        return False

    async def _async_reconcile_locked(
        self, record: RenewalRecord, *, person_waits: bool = False
    ) -> None:
        """Look an unsettled order up (the line's lock is held); never raise.

        Found: settled as the provider says. Not found once the provider's history is
        complete: the line is read again; evidence of the purchase settles it as charged,
        and otherwise it is "not placed" only where a look-up proves absence; anything else
        leaves it unconfirmed for the user. Any failure keeps it pending, retried later.
        """
        try:
            with fail_fast() if person_waits else contextlib.nullcontext():
                order = await self.provider.async_find_order(
                    record.line_id, record.reference, record.created_at
                )
            if order is not None:
                if not await self._async_settle(record, order):
                    self._keep_looking(record)
                return
            if dt_util.utcnow() - record.created_at < self.provider.order_lookup_settles_after:
                self._keep_looking(record)
                return
            with fail_fast() if person_waits else contextlib.nullcontext():
                line = (await self.provider.async_fetch([record.line_id])).lines.get(record.line_id)
        except Exception as err:  # noqa: BLE001 - a failed look-up keeps the renewal pending
            if isinstance(err, ProviderError):
                LOGGER.debug("Look-up of renewal %s failed: %s", record.reference, err)
            else:
                LOGGER.warning(
                    "Look-up of renewal %s failed unexpectedly; retrying later",
                    record.reference,
                    exc_info=True,
                )
            self._keep_looking(record, look_up_failed=True)
            return
        if (
            line is not None
            and record.baseline is not None
            and record.baseline.purchase_shows_in(line, record.created_at)
        ):
            # The provider shows no order, but the line shows the purchase: charged.
            await self._async_succeed(record, None, settled_by="evidence", verified=True)
        elif self.provider.lookup_proves_absence and line is not None:
            await self._async_fail(record, "not_placed", settled_by="provider")
        else:
            await self._async_unconfirm(record)

    async def _async_unconfirm(self, record: RenewalRecord) -> None:
        """Leave the renewal to the user: charged or not, nothing here can tell."""
        first = record.state is not RenewalState.UNCONFIRMED
        record.state = RenewalState.UNCONFIRMED
        issues.async_delete(
            self.hass, self.entry.entry_id, issues.IssueKind.RENEWAL_PENDING, record.reference
        )
        self._raise_unconfirmed(record)
        if first:
            LOGGER.warning(
                "Renewal %s of %s cannot be confirmed or ruled out; it waits for you in Repairs",
                record.reference,
                record.line_name,
            )
            await self._async_save(record)
        # The provider may still tell later: keep looking, slowly.
        self._schedule_lookup(record, RECONCILE_DELAYS[-1])

    async def async_settle_by_user(self, reference: str, *, charged: bool) -> bool:
        """Settle an unconfirmed renewal as the user says; False when nothing was left to do."""
        record = self.journal.by_reference(reference)
        if record is None:
            return False
        async with line_lock(self.hass, record.line_key):
            if not record.unsettled:
                return False
            if charged:
                await self._async_succeed(record, None, settled_by="user", verified=None)
            else:
                await self._async_fail(record, "not_charged", settled_by="user")
        return True

    async def _async_succeed(
        self,
        record: RenewalRecord,
        order: Order | None,
        *,
        settled_by: str,
        verified: bool | None = None,
    ) -> None:
        """Record a charged renewal, tell automations, and check that it arrived."""
        now = dt_util.utcnow()
        record.state = RenewalState.SUCCEEDED
        record.settled_by = settled_by
        record.completed_at = now
        record.error = None
        record.verified = verified
        if order is not None:
            record.order_id = order.order_id
            record.new_expires_at = order.new_expires_at
        if verified is None and settled_by != "user":
            record.verify_due_at = now + self.provider.renewal_visible_within
        self._clear_unsettled(record)
        await self._async_save(record)
        self._fire(record)
        if record.verify_due_at is not None:
            await self.coordinator.async_refresh()
            self._verify(record, final=False)

    async def _async_fail(self, record: RenewalRecord, error: str, *, settled_by: str) -> None:
        """Record a renewal that charged nothing."""
        record.state = RenewalState.FAILED
        record.error = error
        record.settled_by = settled_by
        record.completed_at = dt_util.utcnow()
        self._clear_unsettled(record)
        await self._async_save(record)
        self._fire(record)

    # --- follow-ups --------------------------------------------------------------------

    def _keep_looking(self, record: RenewalRecord, *, look_up_failed: bool = False) -> None:
        """Look the order up again later; explain the wait in a repair when it is not normal.

        An order the provider is still processing is a renewal in flight; a lost answer or
        a look-up that failed is worth telling the user about.
        """
        if record.state is RenewalState.UNCONFIRMED:
            self._schedule_lookup(record, RECONCILE_DELAYS[-1])
            return
        if record.answer_lost or look_up_failed:
            issues.async_create(
                self.hass,
                self.entry.entry_id,
                issues.IssueKind.RENEWAL_PENDING,
                record.reference,
                placeholders={
                    "line": record.line_name,
                    "package": record.package_name,
                    "time": _local_time(record.created_at),
                },
            )
        record.attempts += 1
        delay = RECONCILE_DELAYS[min(record.attempts, len(RECONCILE_DELAYS)) - 1]
        self._schedule_lookup(record, delay)

    def _schedule_lookup(self, record: RenewalRecord, delay: float) -> None:
        """Look the record up again after ``delay`` seconds (under the line's lock)."""

        @callback
        def _look_up(_now: datetime) -> None:
            self._timers.pop(record.reference, None)
            self.entry.async_create_background_task(
                self.hass, self._async_look_up(record), f"{DOMAIN} look-up"
            )

        if cancel := self._timers.pop(record.reference, None):
            cancel()
        self._timers[record.reference] = async_call_later(self.hass, delay, _look_up)

    async def _async_look_up(self, record: RenewalRecord) -> None:
        """Look an unsettled record up, unless it settled meanwhile."""
        async with line_lock(self.hass, record.line_key):
            if record.unsettled and self.journal.by_reference(record.reference) is record:
                await self._async_reconcile_locked(record)

    def _verify(self, record: RenewalRecord, *, final: bool) -> None:
        """Check that the renewal shows on the line; raise a repair if it never does."""
        line = self._line(record.line_id)
        if line is not None and _renewal_visible(record, line):
            self._mark_verified(record)
            self.journal.async_save_later(record.line_key)
            return
        if not final and record.verify_due_at is not None:
            self._schedule_verification(record, record.verify_due_at)
            return
        record.verified = False
        record.verify_due_at = None
        self.journal.async_save_later(record.line_key)
        self._raise_not_verified(record)

    @callback
    def _async_recheck_not_arrived(self, snapshot: Snapshot) -> None:
        """Clear the repair of a renewal judged not arrived once its line shows it."""
        changed: set[str] = set()
        # One pass over the journal per refresh, not one per line.
        for record in self.journal.records:
            if (
                record.verified is False
                and record.state is RenewalState.SUCCEEDED
                and (line_id := self._keys.get(record.line_key)) is not None
                and (line := snapshot.lines.get(line_id)) is not None
                and _renewal_visible(record, line)
            ):
                self._mark_verified(record)
                changed.add(record.line_key)
        if changed:
            self.journal.async_save_later(*changed)

    def _mark_verified(self, record: RenewalRecord) -> None:
        """Record that the renewal shows on its line; its "has not arrived" repair goes."""
        record.verified = True
        record.verify_due_at = None
        issues.async_delete(
            self.hass,
            self.entry.entry_id,
            issues.IssueKind.RENEWAL_NOT_VERIFIED,
            record.reference,
        )

    def _schedule_verification(self, record: RenewalRecord, when: datetime) -> None:
        """Re-read the line at ``when`` and verify the renewal for good."""

        @callback
        def _check_again(_now: datetime) -> None:
            self._timers.pop(f"verify {record.reference}", None)

            async def _refresh_and_verify() -> None:
                await self.coordinator.async_refresh()
                if record.state is RenewalState.SUCCEEDED and record.verified is None:
                    self._verify(record, final=True)

            self.entry.async_create_background_task(
                self.hass, _refresh_and_verify(), f"{DOMAIN} verify"
            )

        self._timers[f"verify {record.reference}"] = async_track_point_in_utc_time(
            self.hass, _check_again, max(when, dt_util.utcnow())
        )

    # --- setup and unload --------------------------------------------------------------

    async def async_resume(self) -> None:
        """Take up the account's unsettled and unverified renewals left by a stop or reload.

        Runs in the background after setup: the lines' unsettled records already refuse
        new renewals, so nothing waits for it, and nothing in it can fail the setup.
        """
        # A renewal that shows on its line late still clears its "has not arrived" repair.
        self.entry.async_on_unload(
            self.coordinator.async_add_fetch_hook(self._async_recheck_not_arrived)
        )
        damage = self.journal.damage
        if damage is not None and any(damage.concerns(key) for key in self._keys):
            issues.async_create_journal_damaged(self.hass, damage)
        for record in self.journal.records:
            if record.line_key not in self._keys:
                continue
            try:
                await self._async_resume_record(record)
            except Exception:  # noqa: BLE001 - one record never stops the others
                LOGGER.exception("Renewal %s could not be taken up", record.reference)

    async def _async_resume_record(self, record: RenewalRecord) -> None:
        """Take up one record after a start or reload."""
        if record.unsettled:
            async with line_lock(self.hass, record.line_key):
                if record.state is RenewalState.SENDING:
                    # Sent before a stop: whatever happened, the answer is lost now.
                    record.state = RenewalState.PENDING
                    record.answer_lost = True
                    await self._async_save(record)
                if record.state is RenewalState.UNCONFIRMED:
                    self._raise_unconfirmed(record)
                    self._schedule_lookup(record, RECONCILE_DELAYS[-1])
                elif record.unsettled:
                    await self._async_reconcile_locked(record)
            return
        if record.state is not RenewalState.SUCCEEDED:
            return
        if record.verified is None and record.verify_due_at is not None:
            if record.verify_due_at <= dt_util.utcnow():
                self._verify(record, final=True)
            else:
                self._schedule_verification(record, record.verify_due_at)
        elif record.verified is False and dt_util.utcnow() - record.created_at < NOT_VERIFIED_KEPT:
            self._raise_not_verified(record)

    async def async_drain(self) -> None:
        """Refuse new renewals and wait for the one in flight (an unload or reload)."""
        self._closing = True
        if self._in_flight:
            LOGGER.debug("Waiting for a renewal in flight before unloading")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._idle.wait(), DRAIN_TIMEOUT)
        for cancel in self._timers.values():
            cancel()
        self._timers.clear()

    @callback
    def async_reopen(self) -> None:
        """Take renewals again (the unload did not happen)."""
        self._closing = False

    # --- checks --------------------------------------------------------------------------

    def _check_open(self, name: str) -> None:
        """Refuse a renewal while the account unloads (a reload); it can be asked again."""
        if self._closing:
            raise HomeAssistantError(
                translation_domain=DOMAIN,
                translation_key="account_reloading",
                translation_placeholders={"line": name},
            )

    def _check_journal_damage(self, key: str, name: str) -> None:
        """Refuse a renewal the damaged journal may have lost track of."""
        if (damage := self.journal.damage) is not None and damage.concerns(key):
            raise HomeAssistantError(
                translation_domain=DOMAIN,
                translation_key="journal_damaged",
                translation_placeholders={"line": name},
            )

    def _check_settled(self, key: str, name: str) -> None:
        """Refuse a renewal while an earlier one's charge is not settled."""
        for record in self.journal.unsettled(key):
            raise HomeAssistantError(
                translation_domain=DOMAIN,
                translation_key="renewal_unconfirmed"
                if record.state is RenewalState.UNCONFIRMED
                else "renewal_pending",
                translation_placeholders={
                    "line": name,
                    "time": _local_time(record.created_at),
                },
            )

    def _check_renewable(self, line: Line | None, name: str, now: datetime) -> None:
        """Refuse a renewal the provider would refuse for an expired line."""
        if line is not None and not self.provider.renews_expired_lines and is_expired(line, now):
            raise ServiceValidationError(
                translation_domain=DOMAIN,
                translation_key="line_expired_no_renewal",
                translation_placeholders={"line": name},
            )

    def _check_repeat_window(self, key: str, name: str, now: datetime) -> None:
        """Refuse a second renewal of the line within the repeat window."""
        for record in reversed(self.journal.of_line(key)):
            if record.state is RenewalState.SUCCEEDED and now - record.created_at < REPEAT_WINDOW:
                raise ServiceValidationError(
                    translation_domain=DOMAIN,
                    translation_key="renewed_recently",
                    translation_placeholders={
                        "line": name,
                        "time": dt_util.as_local(record.created_at).strftime("%H:%M"),
                        "minutes": str(int(REPEAT_WINDOW.total_seconds() // 60)),
                    },
                )

    def _check_spend_cap(
        self, key: str, name: str, package: Package, settings: LineSettings
    ) -> None:
        """Refuse a renewal that would take this month's spend over the line's cap.

        Unsettled renewals count: they may have charged.
        """
        if (cap := settings.spend_cap) is None:
            return
        currency = package.price.currency
        spent = sum(
            (
                record.price.amount
                for record in self.journal.this_month(key, month_start())
                if record.price.currency == currency
            ),
            Decimal(0),
        )
        if spent + package.price.amount > cap:
            raise ServiceValidationError(
                translation_domain=DOMAIN,
                translation_key="spend_cap_reached",
                translation_placeholders={
                    "line": name,
                    "cap": str(Money(cap, currency)),
                    "spent": str(Money(spent, currency)),
                    "price": str(package.price),
                },
            )

    def _check_budget(self, name: str, package: Package) -> None:
        """Refuse a renewal that would take the account's spend this month over its budget.

        All the account's lines count, by the line cap's rule (``spent_this_month``). Only
        the budget's currency counts: a package priced in another is not held by it.
        """
        budget = MonthlyBudget.from_options(self.entry.options)
        if budget is None or package.price.currency != budget.limit.currency:
            return
        spent = self.spent_this_month(budget.limit.currency)
        if spent + package.price.amount > budget.limit.amount:
            raise ServiceValidationError(
                translation_domain=DOMAIN,
                translation_key="monthly_budget_reached",
                translation_placeholders={
                    "line": name,
                    "account": self.entry.title,
                    "budget": str(budget.limit),
                    "spent": str(Money(spent, budget.limit.currency)),
                    "price": str(package.price),
                },
            )

    async def _async_package(
        self,
        line_id: str,
        package_id: str | None,
        name: str,
        settings: LineSettings,
        line: Line | None,
    ) -> Package:
        """Return the package asked for, or the one the line renews with."""
        packages = await self.catalogue.async_read(line_id)
        if package_id is None:
            if (
                package := self.catalogue.chosen(line_id, settings.preferred_package, line)
            ) is None:
                raise ServiceValidationError(
                    translation_domain=DOMAIN,
                    translation_key="no_packages",
                    translation_placeholders={"line": name},
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
                "line": name,
                "packages": ", ".join(p.package_id for p in packages),
            },
        )

    # --- issues, events, saving ---------------------------------------------------------

    def _raise_unconfirmed(self, record: RenewalRecord) -> None:
        """Ask the user whether the provider charged for a renewal nobody can confirm."""
        issues.async_create(
            self.hass,
            self.entry.entry_id,
            issues.IssueKind.RENEWAL_UNCONFIRMED,
            record.reference,
            placeholders={
                "line": record.line_name,
                "package": record.package_name,
                "price": str(record.price),
                "time": _local_time(record.created_at),
            },
            data={"reference": record.reference},
            severity=issues.IssueSeverity.ERROR,
        )

    def _raise_not_verified(self, record: RenewalRecord) -> None:
        """Tell the user a confirmed renewal does not show on the line."""
        issues.async_create(
            self.hass,
            self.entry.entry_id,
            issues.IssueKind.RENEWAL_NOT_VERIFIED,
            record.reference,
            placeholders={
                "line": record.line_name,
                "package": record.package_name,
                "price": str(record.price),
                "order_id": record.order_id or "-",
                "time": _local_time(record.completed_at or record.created_at),
            },
        )

    def _clear_unsettled(self, record: RenewalRecord) -> None:
        """Remove the issues and timer of a record that settled."""
        for kind in (issues.IssueKind.RENEWAL_PENDING, issues.IssueKind.RENEWAL_UNCONFIRMED):
            issues.async_delete(self.hass, self.entry.entry_id, kind, record.reference)
        if cancel := self._timers.pop(record.reference, None):
            cancel()

    def _fire(self, record: RenewalRecord) -> None:
        """Tell automations; the line is named by its device, never by its id."""
        self.hass.bus.async_fire(
            EVENT_RENEWAL,
            {
                "entry_id": self.entry.entry_id,
                "device_id": self.device_id(record.line_id),
                **record.as_receipt(),
            },
        )

    async def _async_save(self, record: RenewalRecord) -> None:
        """Write the journal now (money decisions depend on it); ``record`` changed."""
        await self.journal.async_save(record.line_key)


def _renewal_visible(record: RenewalRecord, line: Line) -> bool:
    """Return True when the line shows the renewal (queued top-ups count)."""
    if record.baseline is not None:
        return record.baseline.purchase_shows_in(line, record.created_at)
    return line.expires_at is not None and (
        record.new_expires_at is None or line.expires_at >= record.new_expires_at
    )


def _result_of(record: RenewalRecord) -> RenewalResult:
    """Return the first result of a repeated request, or say that it failed."""
    if record.state is RenewalState.FAILED:
        raise HomeAssistantError(
            translation_domain=DOMAIN,
            translation_key="renewal_failed_before",
            translation_placeholders={"line": record.line_name, "error": record.error or ""},
        )
    return RenewalResult.of(record)


def _rejected(name: str, err: OrderRejectedError) -> HomeAssistantError:
    """Return the translated refusal of an order."""
    return HomeAssistantError(
        translation_domain=DOMAIN,
        translation_key="insufficient_funds" if err.insufficient_funds else "order_rejected",
        translation_placeholders={"line": name, "code": err.code, "message": err.message},
    )


def _check_quoted_price(package: Package, quoted: Money, name: str) -> None:
    """Refuse to buy a confirmed quote whose price went up since."""
    if package.price.currency != quoted.currency or package.price.amount > quoted.amount:
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="price_changed",
            translation_placeholders={
                "line": name,
                "quoted": str(quoted),
                "price": str(package.price),
            },
        )


def _local_time(value: datetime) -> str:
    """Return a time as people read it in repairs and messages."""
    return dt_util.as_local(value).strftime("%Y-%m-%d %H:%M")
