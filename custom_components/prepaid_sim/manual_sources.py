"""What feeds a hand-entered line besides its owner: a data sensor, balance messages, mails.

No US prepaid carrier offers an API, but a Home Assistant often sees the line anyway:
- a data counter (a router's or modem's mobile-data sensor, the companion app's) or a
  reading of the data left: converted to bytes, counter resets handled by the book's meter;
- the carrier's balance SMS (the ``sms`` integration's event) or USSD answer (a text sensor,
  e.g. an ESPHome modem): parsed by the carrier's rule or the owner's pattern, and shown in a
  repair when it cannot be read;
- the carrier's renewal confirmation mail (the ``imap`` integration's event), matched by a
  sender and subject rule: it records the receipt and moves the expiry.

The sources are part of each line's stored definition; ``async_apply`` follows changes
without a reload.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
import hashlib
import re
from typing import Any, Final

from homeassistant.const import ATTR_UNIT_OF_MEASUREMENT, STATE_UNAVAILABLE, STATE_UNKNOWN
from homeassistant.core import (
    CALLBACK_TYPE,
    Event,
    EventStateChangedData,
    HomeAssistant,
    State,
    callback,
)
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers.event import async_track_state_change_event
from homeassistant.helpers.storage import Store
from homeassistant.util import dt as dt_util
from homeassistant.util.unit_conversion import InformationConverter

from . import issues
from .const import DOMAIN, LOGGER
from .coordinator import PrepaidSimCoordinator
from .providers.base import Money, Provider
from .providers.carrier_messages import DateOrder, MessageReading, parse_message
from .providers.manual import ManualBook, ManualProvider, UsageMeter
from .renewal import RenewalEngine
from .runtime import PrepaidSimConfigEntry

# Keys of a hand-entered line's sources (stored with its definition).
CONF_USAGE_ENTITY: Final = "usage_entity"
CONF_USAGE_KIND: Final = "usage_kind"
CONF_MESSAGE_SENDER: Final = "message_sender"
CONF_MESSAGE_ENTITY: Final = "message_entity"
CONF_MESSAGE_RULE: Final = "message_rule"
CONF_MESSAGE_PATTERN: Final = "message_pattern"
CONF_DATE_ORDER: Final = "date_order"
CONF_EMAIL_SENDER: Final = "email_sender"
CONF_EMAIL_SUBJECT: Final = "email_subject"

USAGE_USED: Final = "used"
USAGE_REMAINING: Final = "remaining"

# The events of the integrations that receive messages.
SMS_EVENT: Final = "sms.incoming_sms"
IMAP_EVENT: Final = "imap_content"

# What a repair shows of a message it could not read.
_SHOWN_TEXT: Final = 300
_METERS_SAVE_DELAY: Final = 30
# The total a confirmation mail states: "Total: $15.00", "Amount charged $15".
_AMOUNT = re.compile(
    r"(?:total|amount|charged|paid|price)\D{0,30}?\$\s?(\d{1,5}(?:,\d{3})*(?:\.\d{1,2})?)",
    re.IGNORECASE,
)
_ANY_DOLLARS = re.compile(r"\$\s?(\d{1,5}(?:,\d{3})*(?:\.\d{1,2})?)")


@dataclass(frozen=True, slots=True, kw_only=True)
class LineSources:
    """Where one hand-entered line's readings come from."""

    line_id: str
    usage_entity: str | None = None
    usage_kind: str = USAGE_USED
    message_sender: str | None = None
    message_entity: str | None = None
    message_rule: str | None = None
    message_pattern: str | None = None
    date_order: DateOrder = DateOrder.MONTH_FIRST
    email_sender: str | None = None
    email_subject: str | None = None

    @classmethod
    def from_data(cls, line_id: str, data: Mapping[str, Any]) -> LineSources:
        """Read a line's sources from its stored definition."""

        def text(key: str) -> str | None:
            value = str(data.get(key) or "").strip()
            return value or None

        try:
            order = DateOrder(data.get(CONF_DATE_ORDER) or DateOrder.MONTH_FIRST)
        except ValueError:
            order = DateOrder.MONTH_FIRST
        return cls(
            line_id=line_id,
            usage_entity=text(CONF_USAGE_ENTITY),
            usage_kind=USAGE_REMAINING
            if data.get(CONF_USAGE_KIND) == USAGE_REMAINING
            else USAGE_USED,
            message_sender=text(CONF_MESSAGE_SENDER),
            message_entity=text(CONF_MESSAGE_ENTITY),
            message_rule=text(CONF_MESSAGE_RULE),
            message_pattern=text(CONF_MESSAGE_PATTERN),
            date_order=order,
            email_sender=text(CONF_EMAIL_SENDER),
            email_subject=text(CONF_EMAIL_SUBJECT),
        )

    @property
    def reads_mail(self) -> bool:
        """Return True when the line takes renewals from confirmation mails."""
        return self.email_sender is not None or self.email_subject is not None


async def async_feed_manual_lines(
    hass: HomeAssistant,
    entry: PrepaidSimConfigEntry,
    provider: Provider,
    renewals: RenewalEngine,
    coordinator: PrepaidSimCoordinator,
) -> None:
    """Feed a manual account's lines from their sources until the account unloads."""
    if not isinstance(provider, ManualProvider):
        return

    @callback
    def _read_again() -> None:
        entry.async_create_background_task(
            hass, coordinator.async_request_refresh(), f"{DOMAIN} manual reading"
        )

    sources = ManualSources(hass, entry, provider.book, renewals, _read_again)
    await sources.async_start()
    entry.async_on_unload(sources.async_close)


def meters_store(hass: HomeAssistant, entry_id: str) -> Store[dict[str, Any]]:
    """Return the store of an account's data-counter meters."""
    return Store(hass, 1, f"{DOMAIN}.meters.{entry_id}", private=True)


def information_bytes(state: State) -> int | None:
    """Return a data sensor's state in bytes; None when it has no usable number.

    The unit is the sensor's own (B, kB, MB, GB, KiB, MiB, GiB, ...); a sensor without one
    is taken as megabytes, as mobile-data counters commonly report.
    """
    if state.state in (STATE_UNKNOWN, STATE_UNAVAILABLE):
        return None
    try:
        value = float(state.state)
    except ValueError:
        return None
    unit = state.attributes.get(ATTR_UNIT_OF_MEASUREMENT) or "MB"
    try:
        converted = InformationConverter.convert(value, unit, "B")
    except HomeAssistantError:
        LOGGER.warning("%s reports data in %s, which is not a unit of data", state.entity_id, unit)
        return None
    return int(converted)


def same_sender(expected: str, sender: str) -> bool:
    """Return True when a message's sender is the one a line expects.

    Phone numbers compare by their digits (a short code "6700" and "+1 (555) 010-6700" end
    alike); names compare without case.
    """
    want = re.sub(r"\D", "", expected)
    got = re.sub(r"\D", "", sender)
    if want and got:
        return got.endswith(want) or want.endswith(got)
    return expected.strip().casefold() == sender.strip().casefold()


def mail_amount(*texts: str, currency: str) -> Money | None:
    """Return the total a confirmation mail states, if it states one."""
    for pattern in (_AMOUNT, _ANY_DOLLARS):
        for text in texts:
            if match := pattern.search(text[:5000]):
                try:
                    return Money(Decimal(match.group(1).replace(",", "")), currency)
                except InvalidOperation:  # pragma: no cover - the pattern admits digits only
                    return None
    return None


def event_time(value: object) -> datetime:
    """Return an event's time as an aware UTC datetime (now when it has none)."""
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str) and (parsed := dt_util.parse_datetime(value)) is not None:
        moment = parsed
    else:
        return dt_util.utcnow()
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt_util.get_default_time_zone())
    return dt_util.as_utc(moment)


class ManualSources:
    """Feed the lines of a manual account from Home Assistant's own signals."""

    def __init__(
        self,
        hass: HomeAssistant,
        entry: PrepaidSimConfigEntry,
        book: ManualBook,
        renewals: RenewalEngine,
        refresh: Callable[[], None],
    ) -> None:
        """Feed ``book``; ``refresh`` asks the coordinator to read it again."""
        self._hass = hass
        self._entry = entry
        self._book = book
        self._renewals = renewals
        self._refresh = refresh
        self._sources: dict[str, LineSources] = {}
        self._unsubscribe: list[CALLBACK_TYPE] = []
        self._meters = meters_store(hass, entry.entry_id)

    async def async_start(self) -> None:
        """Restore the data counters' meters, then listen to the sources."""
        stored = await self._meters.async_load() or {}
        for line_id, raw in stored.items():
            if line_id in self._book.lines and isinstance(raw, Mapping):
                self._book.meters[line_id] = UsageMeter.from_json(raw)
        self._book.on_meter_change = self._meter_moved
        self.async_apply()
        # A line's new sources are followed without a reload.
        self._entry.async_on_unload(self._entry.add_update_listener(self._async_entry_updated))

    async def _async_entry_updated(self, _hass: HomeAssistant, _entry: Any) -> None:
        """Follow changes of the lines' sources."""
        self.async_apply()

    async def async_close(self) -> None:
        """Stop listening and keep the meters now (the next load reads them from disk)."""
        self.async_stop()
        if self._book.meters:
            await self._meters.async_save(self._meters_data())

    def _meters_data(self) -> dict[str, Any]:
        """Return the meters as stored."""
        return {line_id: meter.to_json() for line_id, meter in self._book.meters.items()}

    @callback
    def async_stop(self) -> None:
        """Stop listening."""
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        self._unsubscribe.clear()

    @callback
    def async_apply(self) -> None:
        """Listen to the sources the lines name now (after a change of their definitions)."""
        sources = {
            subentry.data["line_id"]: LineSources.from_data(subentry.data["line_id"], subentry.data)
            for subentry in self._entry.subentries.values()
            if subentry.data.get("line_id") in self._book.lines
        }
        if sources == self._sources and self._unsubscribe:
            return
        self.async_stop()
        self._sources = sources
        self._subscribe(sources.values())
        # Take what the sensors say now: a restart or a newly linked sensor starts current.
        moved = False
        for line in sources.values():
            if line.usage_entity and (state := self._hass.states.get(line.usage_entity)):
                moved |= self._take_usage(line, state)
        if moved:
            self._refresh()

    def _subscribe(self, sources: Collection[LineSources]) -> None:
        """Listen to the sensors and events the lines read."""
        watched = {
            entity_id
            for line in sources
            for entity_id in (line.usage_entity, line.message_entity)
            if entity_id is not None
        }
        if watched:
            self._unsubscribe.append(
                async_track_state_change_event(self._hass, sorted(watched), self._state_changed)
            )
        if any(line.message_sender for line in sources):
            self._unsubscribe.append(self._hass.bus.async_listen(SMS_EVENT, self._sms_received))
        if any(line.reads_mail for line in sources):
            self._unsubscribe.append(self._hass.bus.async_listen(IMAP_EVENT, self._mail_received))

    # --- data sensors ----------------------------------------------------------------------

    @callback
    def _state_changed(self, event: Event[EventStateChangedData]) -> None:
        """Take a new reading of a linked sensor."""
        state = event.data["new_state"]
        if state is None:
            return
        moved = False
        for line in self._sources.values():
            if state.entity_id == line.usage_entity:
                moved |= self._take_usage(line, state)
            if state.entity_id == line.message_entity and state.state not in (
                STATE_UNKNOWN,
                STATE_UNAVAILABLE,
                "",
            ):
                moved |= self._take_message(line, state.state, state.entity_id)
        if moved:
            self._refresh()

    def _take_usage(self, line: LineSources, state: State) -> bool:
        """Feed a data sensor's reading to the line; return True when its data moved."""
        if (value := information_bytes(state)) is None:
            return False
        if line.usage_kind == USAGE_REMAINING:
            return self._book.observe_remaining(line.line_id, value)
        return self._book.observe_counter(line.line_id, value)

    @callback
    def _meter_moved(self, _line_id: str) -> None:
        """Keep the meters across restarts (a counter ticks often: saves are batched)."""
        self._meters.async_delay_save(self._meters_data, _METERS_SAVE_DELAY)

    # --- balance messages ------------------------------------------------------------------

    @callback
    def _sms_received(self, event: Event[Mapping[str, Any]]) -> None:
        """Read an incoming SMS that comes from a line's carrier."""
        sender = str(event.data.get("phone") or "")
        text = str(event.data.get("text") or event.data.get("message") or "")
        moved = False
        for line in self._sources.values():
            if line.message_sender and sender and same_sender(line.message_sender, sender):
                moved |= self._take_message(line, text, sender)
        if moved:
            self._refresh()

    def _take_message(self, line: LineSources, text: str, source: str) -> bool:
        """Apply a balance message to the line, or show it in a repair when unreadable."""
        manual = self._book.line(line.line_id)
        reading: MessageReading | None = None
        try:
            reading = parse_message(
                text,
                carrier=line.message_rule,
                pattern=line.message_pattern,
                date_order=line.date_order,
                now=dt_util.utcnow(),
                time_zone=dt_util.get_default_time_zone(),
                currency=manual.price.currency,
            )
        except ValueError:
            # A stored pattern that no longer compiles: the repair shows the message.
            reading = None
        subentry_id = self._subentry_id(line.line_id)
        if reading is None:
            issues.async_create(
                self._hass,
                self._entry.entry_id,
                issues.IssueKind.MESSAGE_UNREAD,
                subentry_id,
                placeholders={
                    "line": manual.name,
                    "source": source,
                    "text": text[:_SHOWN_TEXT],
                },
            )
            return False
        issues.async_delete(
            self._hass, self._entry.entry_id, issues.IssueKind.MESSAGE_UNREAD, subentry_id
        )
        self._book.apply_reading(
            line.line_id,
            balance=reading.balance,
            remaining_bytes=None if reading.unlimited else reading.data_remaining_bytes,
            expires_at=reading.expires_at,
        )
        return True

    def _subentry_id(self, line_id: str) -> str | None:
        """Return the subentry of a line (repairs are named by it)."""
        return next(
            (
                subentry_id
                for subentry_id, subentry in self._entry.subentries.items()
                if subentry.data.get("line_id") == line_id
            ),
            None,
        )

    # --- renewal mails ---------------------------------------------------------------------

    @callback
    def _mail_received(self, event: Event[Mapping[str, Any]]) -> None:
        """Record a renewal from a carrier's confirmation mail that matches a line's rule."""
        sender = str(event.data.get("sender") or "")
        subject = str(event.data.get("subject") or "")
        for line in self._sources.values():
            if not line.reads_mail:
                continue
            if line.email_sender and line.email_sender.casefold() not in sender.casefold():
                continue
            if line.email_subject and line.email_subject.casefold() not in subject.casefold():
                continue
            self._entry.async_create_background_task(
                self._hass,
                self._async_record_mail(line, event.data),
                f"{DOMAIN} renewal mail {line.line_id}",
            )

    async def _async_record_mail(self, line: LineSources, data: Mapping[str, Any]) -> None:
        """Record the renewal a mail confirms (once, however often the mail is seen)."""
        text = str(data.get("text") or "")
        subject = str(data.get("subject") or "")
        manual = self._book.line(line.line_id)
        # The mail's identity, so the same mail seen again (an IMAP re-read) records nothing.
        identity = "|".join(
            (
                self._entry.entry_id,
                line.line_id,
                str(data.get("sender") or ""),
                subject,
                str(data.get("date") or ""),
            )
        )
        reference = "mail-" + hashlib.sha256(identity.encode()).hexdigest()[:20]
        await self._renewals.async_record_confirmed(
            line.line_id,
            reference=reference,
            price=mail_amount(subject, text, currency=manual.price.currency),
            confirmed_at=event_time(data.get("date")),
        )
