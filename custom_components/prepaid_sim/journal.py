"""The renewal journal: every renewal of every account, kept per provider line.

One journal serves all accounts and outlives reloads: a renewal belongs to a provider line
(``line_key``), not to a config entry, so two entries tracking the same line, or an entry
reloaded mid-purchase, share its records, its repeat window and its spend. A record is
written before the provider hears of an order and is never trimmed while it guards money
(unsettled, or paid this calendar month).

A damaged file (truncated, an unknown version, malformed records) never fails a setup and
is never silently forgotten: the valid records are kept, the file is copied aside, and the
lines the damage may concern take no renewal until the user acknowledges it in a repair.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
import json
from pathlib import Path
import re
import shutil
from typing import Any, Final, override

from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.storage import STORAGE_DIR, Store
from homeassistant.util import dt as dt_util
from homeassistant.util.hass_dict import HassKey

from .const import DOMAIN, LOGGER
from .records import RenewalRecord, RenewalState, line_key

STORAGE_KEY: Final = f"{DOMAIN}.renewals"
STORAGE_VERSION: Final = 2
# Version 1 was one journal per account entry, without line keys.
LEGACY_VERSION: Final = 1
# Records kept in all; those that guard money are kept beyond it.
MAX_RECORDS: Final = 500
# A request_id names one renewal of one line for this long.
REQUEST_ID_LIFETIME: Final = timedelta(hours=24)

DATA_JOURNAL: HassKey[Journal] = HassKey(f"{DOMAIN}_journal")
_DATA_LOAD_LOCK: HassKey[asyncio.Lock] = HassKey(f"{DOMAIN}_journal_lock")


def _legacy_record(raw: object, entry_id: str, provider_key: str) -> object:
    """Turn a version-1 record (one journal per entry) into the current form."""
    if not isinstance(raw, Mapping):
        return raw
    record = dict(raw)
    line_id = record.get("line_id")
    record["entry_id"] = entry_id
    if isinstance(line_id, str):
        record["line_key"] = line_key(provider_key, line_id)
    # Version 1 kept only these two parts of the baseline.
    record["baseline"] = {
        "expires_at": record.pop("expires_before", None),
        "data_total_bytes": record.pop("data_total_before", None),
    }
    # Its times were written with dt_util.utcnow().isoformat(): aware, as required.
    return record


@dataclass(frozen=True, slots=True, kw_only=True)
class JournalDamage:
    """What a damaged journal lost, and which lines it may concern."""

    reason: str
    lost: int
    # None when the damage may concern any line.
    line_keys: frozenset[str] | None
    found_at: datetime
    backup: str | None = None

    def concerns(self, key: str) -> bool:
        """Return True when renewals of the line must wait for the user."""
        return self.line_keys is None or key in self.line_keys

    def to_json(self) -> dict[str, Any]:
        """Return the damage as stored (it outlives restarts until acknowledged)."""
        return {
            "reason": self.reason,
            "lost": self.lost,
            "line_keys": None if self.line_keys is None else sorted(self.line_keys),
            "found_at": self.found_at.isoformat(),
            "backup": self.backup,
        }

    @classmethod
    def from_json(cls, raw: object) -> JournalDamage:
        """Read stored damage; unreadable damage concerns every line."""
        if not isinstance(raw, Mapping):
            return cls(reason="unreadable", lost=0, line_keys=None, found_at=dt_util.utcnow())
        keys = raw.get("line_keys")
        lost = raw.get("lost")
        return cls(
            reason=str(raw.get("reason") or "unreadable"),
            lost=lost if isinstance(lost, int) and not isinstance(lost, bool) else 0,
            line_keys=frozenset(str(key) for key in keys) if isinstance(keys, list) else None,
            found_at=dt_util.parse_datetime(str(raw.get("found_at"))) or dt_util.utcnow(),
            backup=raw["backup"] if isinstance(raw.get("backup"), str) else None,
        )


@dataclass(slots=True)
class DecodedJournal:
    """What could be read of a journal document."""

    records: list[RenewalRecord] = field(default_factory=list)
    damage: JournalDamage | None = None


_LINE_KEY_FIELD: Final = re.compile(r'"line_key"\s*:\s*"((?:[^"\\]|\\.)*)"')


def decode_journal(
    document: object, *, legacy_entry: tuple[str, str] | None = None
) -> DecodedJournal:
    """Read a stored journal document ({"version", "data"}); never raise.

    ``legacy_entry`` (entry id, provider key) reads a version-1 journal of one entry.
    """
    version: object = None
    data: object = document
    if isinstance(document, Mapping) and "data" in document:
        version, data = document.get("version"), document["data"]
    raw_records = data.get("records") if isinstance(data, Mapping) else None
    legacy = version == LEGACY_VERSION and legacy_entry is not None
    if not isinstance(raw_records, list):
        raw_records, reason = [], "unreadable"
    elif version in (STORAGE_VERSION, None) or legacy:
        reason = "bad_records"
    else:
        reason = "unknown_version"
    decoded = DecodedJournal()
    unreadable = 0
    concerned: set[str] = set()
    any_line = reason != "bad_records"
    for raw in raw_records:
        item = _legacy_record(raw, *legacy_entry) if legacy and legacy_entry else raw
        try:
            decoded.records.append(RenewalRecord.from_json(item))
        except (ValueError, TypeError, KeyError) as err:
            LOGGER.debug("Renewal journal: a record was not read: %s", err)
            unreadable += 1
            key = item.get("line_key") if isinstance(item, Mapping) else None
            if isinstance(key, str) and key:
                concerned.add(key)
            else:
                any_line = True
    if isinstance(data, Mapping) and data.get("damage") is not None:
        # Damage found earlier and not acknowledged yet.
        decoded.damage = JournalDamage.from_json(data["damage"])
    if reason == "bad_records" and not unreadable:
        return decoded
    decoded.damage = _merge(
        decoded.damage,
        JournalDamage(
            reason=reason,
            lost=unreadable,
            # An unknown format, or records without a readable line: any line may be concerned.
            line_keys=None if any_line else frozenset(concerned),
            found_at=dt_util.utcnow(),
        ),
    )
    return decoded


def salvage_journal_text(text: str) -> DecodedJournal:
    """Read what survives of a journal file that is not valid JSON (e.g. truncated).

    Whole records before the damage are kept; the lines named in the rest are the ones the
    damage concerns (every line, when none can be named).
    """
    decoded = DecodedJournal()
    decoder = json.JSONDecoder()
    start = text.find('"records"')
    position = text.find("[", start) + 1 if start >= 0 else 0
    while 0 < position < len(text):
        position = _skip_separators(text, position)
        if position >= len(text) or text[position] != "{":
            break
        try:
            raw, end = decoder.raw_decode(text, position)
        except json.JSONDecodeError:
            break
        try:
            decoded.records.append(RenewalRecord.from_json(raw))
        except ValueError, TypeError, KeyError:
            break
        position = end
    rest = text[position:] if position > 0 else text
    named = frozenset(match.group(1) for match in _LINE_KEY_FIELD.finditer(rest))
    decoded.damage = JournalDamage(
        reason="truncated",
        lost=max(len(named), 1),
        line_keys=named or None,
        found_at=dt_util.utcnow(),
    )
    return decoded


def _skip_separators(text: str, position: int) -> int:
    """Return the position after whitespace and commas."""
    while position < len(text) and text[position] in " \t\r\n,":
        position += 1
    return position


def _merge(old: JournalDamage | None, new: JournalDamage) -> JournalDamage:
    """Combine damage found now with damage not acknowledged yet."""
    if old is None:
        return new
    keys = None if old.line_keys is None or new.line_keys is None else old.line_keys | new.line_keys
    return replace(new, lost=old.lost + new.lost, line_keys=keys, backup=new.backup or old.backup)


class JournalStore(Store[dict[str, Any]]):
    """The journal's store; reads the per-entry journals of version 1 (with migration)."""

    def __init__(
        self, hass: HomeAssistant, key: str, legacy_entry: tuple[str, str] | None = None
    ) -> None:
        """Keep the journal under ``key``; ``legacy_entry`` for a version-1 journal."""
        super().__init__(
            hass,
            STORAGE_VERSION,
            key,
            private=True,
            atomic_writes=True,
            # Newer versions are read by decode_journal, never refused outright.
            max_readable_version=1_000_000,
        )
        self.legacy_entry = legacy_entry

    @override
    async def _async_migrate_func(
        self, old_major_version: int, old_minor_version: int, old_data: dict[str, Any]
    ) -> dict[str, Any]:
        """Bring an older (or unknown) journal to the current form, losing nothing."""
        decoded = decode_journal(
            {"version": old_major_version, "data": old_data}, legacy_entry=self.legacy_entry
        )
        return _document(decoded.records, decoded.damage)


def _document(records: Iterable[RenewalRecord], damage: JournalDamage | None) -> dict[str, Any]:
    """Return what the store keeps."""
    return {
        "records": [record.to_json() for record in records],
        "damage": None if damage is None else damage.to_json(),
    }


def _read_file(path: Path) -> str | None:
    """Return a file's text, or None when there is no file (runs in the executor)."""
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return None


def _keep_copy(path: Path, stamp: str) -> str:
    """Copy a damaged file aside; return the copy's name (runs in the executor)."""
    copy = path.with_name(f"{path.name}.damaged-{stamp}")
    shutil.copyfile(path, copy)
    return copy.name


async def _async_read(hass: HomeAssistant, store: JournalStore) -> DecodedJournal:
    """Read a journal from its file, tolerating any damage; never raise."""
    path = Path(hass.config.path(STORAGE_DIR, store.key))
    try:
        text = await hass.async_add_executor_job(_read_file, path)
    except OSError as err:
        LOGGER.error("The renewal journal %s cannot be read: %s", store.key, err)
        return DecodedJournal(
            damage=JournalDamage(
                reason="unreadable", lost=0, line_keys=None, found_at=dt_util.utcnow()
            )
        )
    if text is None:
        # Not on disk: new, or kept by the store in memory (Home Assistant's test harness).
        try:
            data = await store.async_load()
        except Exception:  # noqa: BLE001 - whatever the store says, setup goes on
            LOGGER.exception("The renewal journal %s cannot be loaded", store.key)
            return DecodedJournal(
                damage=JournalDamage(
                    reason="unreadable", lost=0, line_keys=None, found_at=dt_util.utcnow()
                )
            )
        if not data:
            return DecodedJournal()
        return decode_journal({"version": STORAGE_VERSION, "data": data})
    try:
        document = json.loads(text)
    except ValueError:
        decoded = salvage_journal_text(text)
    else:
        decoded = decode_journal(document, legacy_entry=store.legacy_entry)
    if decoded.damage is not None and decoded.damage.backup is None:
        stamp = dt_util.utcnow().strftime("%Y%m%dT%H%M%S")
        try:
            backup = await hass.async_add_executor_job(_keep_copy, path, stamp)
        except OSError as err:
            LOGGER.error("A copy of the damaged journal could not be kept: %s", err)
        else:
            decoded.damage = replace(decoded.damage, backup=backup)
        LOGGER.error(
            "The renewal journal %s was damaged (%s): %d valid records kept, a copy saved as %s",
            store.key,
            decoded.damage.reason,
            len(decoded.records),
            decoded.damage.backup,
        )
    return decoded


class Journal:
    """Every renewal record of this Home Assistant, with one writer: this object."""

    def __init__(self, hass: HomeAssistant) -> None:
        """Start empty; ``async_load`` reads the file."""
        self.hass = hass
        self._store = JournalStore(hass, STORAGE_KEY)
        self._records: list[RenewalRecord] = []
        self.damage: JournalDamage | None = None
        # Counts the changes, for readers that keep what they made from the records.
        self.revision = 0
        # Told of every change, with the provider line keys it concerns (None: any line).
        self._listeners: list[Callable[[frozenset[str] | None], None]] = []

    @property
    def records(self) -> list[RenewalRecord]:
        """Return every kept record, oldest first."""
        return list(self._records)

    async def async_load(self) -> None:
        """Read the journal file; a damaged one keeps what is valid."""
        decoded = await _async_read(self.hass, self._store)
        self._records = sorted(decoded.records, key=lambda record: record.created_at)
        self.damage = decoded.damage
        if decoded.damage is not None:
            await self.async_save()

    async def async_import_legacy(self, entry_id: str, provider_key: str) -> None:
        """Take in an account's own journal of version 1, then delete it."""
        legacy = JournalStore(
            self.hass, f"{DOMAIN}.{entry_id}.renewals", legacy_entry=(entry_id, provider_key)
        )
        decoded = await _async_read(self.hass, legacy)
        known = {record.reference for record in self._records}
        new = [record for record in decoded.records if record.reference not in known]
        if not new and decoded.damage is None:
            await legacy.async_remove()
            return
        self._records = sorted([*self._records, *new], key=lambda record: record.created_at)
        if decoded.damage is not None:
            self.damage = _merge(self.damage, decoded.damage)
        await self.async_save()
        await legacy.async_remove()

    def add_listener(self, listener: Callable[[frozenset[str] | None], None]) -> Callable[[], None]:
        """Call ``listener(keys)`` after every change; return a remover.

        ``keys`` are the provider line keys whose records changed; None when any may have.
        """
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    def _changed(self, keys: tuple[str, ...]) -> None:
        """Tell the listeners (entities, repairs) that records of ``keys`` changed."""
        self.revision += 1
        changed = frozenset(keys) if keys else None
        for listener in list(self._listeners):
            listener(changed)

    def add(self, record: RenewalRecord) -> None:
        """Add a record (saved by the caller before anything is sent)."""
        self._records.append(record)

    async def async_save(self, *keys: str) -> None:
        """Write the journal now: money decisions depend on it.

        ``keys`` name the lines whose records changed; none: any line may have.
        """
        self._trim()
        await self._store.async_save(_document(self._records, self.damage))
        self._changed(keys)

    @callback
    def async_save_later(self, *keys: str) -> None:
        """Write a change that guards no money (a verification) soon; show it now."""
        self._store.async_delay_save(lambda: _document(self._records, self.damage), 1)
        self._changed(keys)

    async def async_acknowledge_damage(self) -> None:
        """Take note that the user saw the damage report: the lines take renewals again."""
        self.damage = None
        await self.async_save()

    def of_line(self, key: str) -> list[RenewalRecord]:
        """Return the line's records, oldest first."""
        return [record for record in self._records if record.line_key == key]

    def last(self, key: str) -> RenewalRecord | None:
        """Return the line's newest record."""
        return next((r for r in reversed(self._records) if r.line_key == key), None)

    def unsettled(self, key: str | None = None) -> list[RenewalRecord]:
        """Return the unsettled records (of one line, when given)."""
        return [
            record
            for record in self._records
            if record.unsettled and (key is None or record.line_key == key)
        ]

    def by_reference(self, reference: str) -> RenewalRecord | None:
        """Return the record with our reference."""
        return next((r for r in self._records if r.reference == reference), None)

    def by_request(self, key: str, request_id: str, now: datetime) -> RenewalRecord | None:
        """Return the line's renewal named ``request_id`` within its lifetime."""
        return next(
            (
                record
                for record in reversed(self._records)
                if record.line_key == key
                and record.request_id == request_id
                and now - record.created_at < REQUEST_ID_LIFETIME
            ),
            None,
        )

    def this_month(self, key: str, since: datetime) -> list[RenewalRecord]:
        """Return the line's records of this calendar month that may have charged."""
        return [
            record
            for record in self._records
            if record.line_key == key and record.may_have_charged and record.created_at >= since
        ]

    def receipts(
        self,
        *,
        entry_id: str | None = None,
        key: str | None = None,
        since: datetime | None = None,
    ) -> list[RenewalRecord]:
        """Return records newest first, filtered by account, line and time."""
        return [
            record
            for record in reversed(self._records)
            if (entry_id is None or record.entry_id == entry_id)
            and (key is None or record.line_key == key)
            and (since is None or record.created_at >= since)
        ]

    async def async_forget_entry(self, entry_id: str, tracked_elsewhere: set[str]) -> None:
        """Drop a removed account's receipts, except those that still guard money.

        Unsettled renewals and this month's paid ones stay (keyed by line), so an account
        added again keeps its spend cap and never resends; they go once they guard nothing.
        """
        start = month_start()
        self._records = [
            record
            for record in self._records
            if record.entry_id != entry_id
            or record.line_key in tracked_elsewhere
            or _guards_money(record, start)
        ]
        await self.async_save()

    def _trim(self) -> None:
        """Keep at most MAX_RECORDS, dropping failed ones first, never those guarding money."""
        excess = len(self._records) - MAX_RECORDS
        if excess <= 0:
            return
        start = month_start()
        drop: set[int] = set()
        for wanted in (RenewalState.FAILED, RenewalState.SUCCEEDED):
            for index, record in enumerate(self._records):
                if len(drop) >= excess:
                    break
                if record.state is wanted and not _guards_money(record, start):
                    drop.add(index)
        self._records = [r for index, r in enumerate(self._records) if index not in drop]


def month_start() -> datetime:
    """Return the start of this calendar month in the local time zone."""
    return dt_util.start_of_local_day().replace(day=1)


def _guards_money(record: RenewalRecord, since: datetime) -> bool:
    """Return True for a record the spend cap, auto-renew or a look-up still needs."""
    if record.unsettled:
        return True
    return record.may_have_charged and record.created_at >= since


async def async_get_journal(hass: HomeAssistant) -> Journal:
    """Return the journal of this Home Assistant, loading it once."""
    if (journal := hass.data.get(DATA_JOURNAL)) is not None:
        return journal
    lock = hass.data.setdefault(_DATA_LOAD_LOCK, asyncio.Lock())
    async with lock:
        if (journal := hass.data.get(DATA_JOURNAL)) is None:
            journal = Journal(hass)
            await journal.async_load()
            hass.data[DATA_JOURNAL] = journal
    return journal
