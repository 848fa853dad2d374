"""An expiry calendar per account: when each line's plan ends, and the renewals made.

Usable in the calendar card and in calendar triggers ("15 minutes before a line's plan
ends"). A plan's end is an instant (start and end are the same time); a renewal spans
from when it was sent until the provider confirmed it.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Mapping
from datetime import datetime
from typing import NamedTuple, override

from homeassistant.components.calendar import CalendarEntity, CalendarEvent
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback
from homeassistant.helpers.update_coordinator import CoordinatorEntity
from homeassistant.util import dt as dt_util

from .coordinator import PrepaidSimCoordinator
from .messages import async_message
from .providers.base import Line
from .records import RenewalState
from .runtime import PrepaidSimConfigEntry, PrepaidSimData

# Read-only: the calendar changes nothing at the provider.
PARALLEL_UPDATES = 0
# The calendar's name (entity.calendar.<key> in the translations).
EXPIRIES_KEY = "expiries"


async def async_setup_entry(
    hass: HomeAssistant,
    entry: PrepaidSimConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the account's expiry calendar."""
    async_add_entities([PrepaidSimExpiryCalendar(entry)])


class _Planned(NamedTuple):
    """An event as the calendar keeps it, made into a ``CalendarEvent`` only when shown.

    A ``CalendarEvent`` validates itself when made (about 35 µs here), so an account of
    1,000 lines would spend tens of milliseconds in one go making events nobody asked for;
    the state shows one, and the calendar card asks for a range. Times are aware, so
    comparing them orders them as their local times do.
    """

    start: datetime
    summary: str
    end: datetime
    uid: str
    description: str | None = None

    def made(self) -> CalendarEvent:
        """Return the event for Home Assistant."""
        return CalendarEvent(
            start=self.start,
            end=self.end,
            summary=self.summary,
            uid=self.uid,
            description=self.description,
        )

    def ends_after(self, now: datetime) -> bool:
        """Return True when not over at ``now`` (an instant counts until it passes)."""
        return self.end > now or (self.start == self.end and self.end >= now)


def _by_start(planned: _Planned) -> tuple[datetime, str]:
    """Order events by start, then by title."""
    return planned.start, planned.summary


class PrepaidSimExpiryCalendar(CoordinatorEntity[PrepaidSimCoordinator], CalendarEntity):
    """Each tracked line's plan end and its renewals, from the latest read and the receipts."""

    _attr_has_entity_name = True
    _attr_translation_key = EXPIRIES_KEY

    def __init__(self, entry: PrepaidSimConfigEntry) -> None:
        """Show the lines of ``entry``."""
        data: PrepaidSimData = entry.runtime_data
        super().__init__(data.coordinator)
        self.data = data
        self._entry = entry
        self._attr_unique_id = f"{entry.unique_id}_expiries"
        self._attr_translation_placeholders = {"account": entry.title}
        # Event titles in the server's language, loaded once the entity is added.
        self._plan_ends = "{line}"
        self._renewed = "{line}"
        self._keep_alive = "{line}"
        self._window = "{line}"
        # The events as last planned (see _events): each line's deadlines (its plan end and
        # keep-alive date, instants) and renewal window (a span), with what they came from.
        self._inputs_by_line: dict[str, tuple[object, ...]] = {}
        self._plan_ends_by_line: dict[str, list[_Planned]] = {}
        self._windows_by_line: dict[str, _Planned] = {}
        self._windows: list[_Planned] = []
        self._renewals: list[_Planned] = []
        self._plan_ends_sorted: list[_Planned] | None = None
        self._lines_seen: Mapping[str, Line] | None = None
        self._journal_seen = -1
        # What the state was last written from (see _handle_coordinator_update).
        self._written: tuple[object, ...] | None = None
        # Each line's journal key and name, for the renewal events.
        self._names: dict[str, str] | None = None
        # What the state last showed: the planned event and the CalendarEvent made of it.
        self._shown: tuple[_Planned, CalendarEvent] | None = None

    @override
    async def async_added_to_hass(self) -> None:
        """Load the event titles (receipts arrive as coordinator updates, as reads do)."""
        await super().async_added_to_hass()
        language = self.hass.config.language
        self._plan_ends = await async_message(
            self.hass, language, "calendar_plan_ends", line="{line}"
        )
        self._renewed = await async_message(self.hass, language, "calendar_renewed", line="{line}")
        self._keep_alive = await async_message(
            self.hass, language, "calendar_keep_alive", line="{line}"
        )
        self._window = await async_message(
            self.hass, language, "calendar_renewal_window", line="{line}"
        )
        # Anything planned before the titles were loaded is planned again.
        self._inputs_by_line.clear()
        self._lines_seen = None
        self._journal_seen = -1

    @callback
    @override
    def _handle_coordinator_update(self) -> None:
        """Write the state when a plan end, a receipt or availability moved.

        Usage readings move none of them; the calendar platform itself updates the state
        when an event starts or ends.
        """
        plan_ends_moved = self._refresh_plan_ends()
        inputs = (self.data.journal.revision, self.coordinator.last_update_success)
        if not plan_ends_moved and inputs == self._written:
            return
        self._written = inputs
        super()._handle_coordinator_update()

    def _kept_events(self) -> tuple[list[_Planned], list[_Planned]]:
        """Return the deadlines and the spans, each by start, planned again as needed.

        A line's plan end is planned again only when its expiry or name moved, and the
        renewals only when the journal changed.
        """
        self._refresh_plan_ends()
        revision = self.data.journal.revision
        if revision != self._journal_seen:
            self._journal_seen = revision
            self._renewals = sorted(self._renewal_events(), key=_by_start)
        if self._plan_ends_sorted is None:
            self._plan_ends_sorted = sorted(
                (
                    planned
                    for deadlines in self._plan_ends_by_line.values()
                    for planned in deadlines
                ),
                key=_by_start,
            )
            self._windows = sorted(self._windows_by_line.values(), key=_by_start)
        spans = self._renewals
        if self._windows:
            spans = sorted([*self._windows, *self._renewals], key=_by_start)
        return self._plan_ends_sorted, spans

    def _events(self) -> list[_Planned]:
        """Return every event the calendar knows, in time order."""
        plan_ends, spans = self._kept_events()
        return sorted([*plan_ends, *spans], key=_by_start)

    def _refresh_plan_ends(self) -> bool:
        """Plan the events of lines whose expiry, rules or name moved; True if any did.

        What was made from them (their order, the renewals' names) is made again then.
        """
        lines = self.coordinator.data.lines if self.coordinator.data else {}
        if lines is self._lines_seen:
            return False
        self._lines_seen = lines
        subentries = self._entry.subentries
        changed = False
        for line_id, subentry_id in self.data.line_subentries.items():
            line = lines.get(line_id)
            name = subentries[subentry_id].title
            inputs: tuple[object, ...] = (
                (line.expires_at, line.keep_alive_by, line.renewal_opens_at, name)
                if line is not None
                else (None, None, None, name)
            )
            if self._inputs_by_line.get(line_id) == inputs:
                continue
            self._inputs_by_line[line_id] = inputs
            changed = True
            self._plan_ends_by_line.pop(line_id, None)
            self._windows_by_line.pop(line_id, None)
            if line is not None:
                self._plan_line_events(line, subentry_id, name)
        if changed:
            self._plan_ends_sorted = None
            self._names = None
            self._journal_seen = -1
        return changed

    def _plan_line_events(self, line: Line, subentry_id: str, name: str) -> None:
        """Plan one line's plan end, keep-alive date and renewal window."""
        deadlines = [
            _Planned(moment, title.replace("{line}", name), moment, f"{subentry_id}_{kind}")
            for moment, title, kind in (
                (line.expires_at, self._plan_ends, "plan_end"),
                (line.keep_alive_by, self._keep_alive, "keep_alive"),
            )
            if moment is not None
        ]
        if deadlines:
            self._plan_ends_by_line[line.line_id] = deadlines
        opens, expires = line.renewal_opens_at, line.expires_at
        if opens is not None and expires is not None and opens < expires:
            self._windows_by_line[line.line_id] = _Planned(
                opens,
                self._window.replace("{line}", name),
                expires,
                f"{subentry_id}_renewal_window",
            )

    def _renewal_events(self) -> list[_Planned]:
        """Return an event per succeeded renewal of the account's lines (one journal pass)."""
        if self._names is None:
            subentries = self._entry.subentries
            self._names = {
                self.data.renewals.key(line_id): subentries[subentry_id].title
                for line_id, subentry_id in self.data.line_subentries.items()
            }
        names = self._names
        return [
            _Planned(
                record.created_at,
                self._renewed.replace("{line}", names[record.line_key]),
                max(record.completed_at or record.created_at, record.created_at),
                record.reference,
                f"{record.package_name} ({record.price})",
            )
            for record in self.data.journal.records
            if record.state is RenewalState.SUCCEEDED and record.line_key in names
        ]

    @property
    @override
    def event(self) -> CalendarEvent | None:
        """Return the event under way, or else the next one.

        Plan ends are instants kept in time order: the next is found by bisection, so a
        state write costs the same for 10 lines or 1,000.
        """
        now = dt_util.utcnow()
        plan_ends, spans = self._kept_events()
        found = bisect_left(plan_ends, now, key=lambda planned: planned.start)
        candidates = [plan_ends[found]] if found < len(plan_ends) else []
        if (span := next((e for e in spans if e.ends_after(now)), None)) is not None:
            candidates.append(span)
        shown = min(candidates, key=_by_start, default=None)
        if shown is None:
            return None
        if self._shown is None or self._shown[0] != shown:
            self._shown = (shown, shown.made())
        return self._shown[1]

    @override
    async def async_get_events(
        self, hass: HomeAssistant, start_date: datetime, end_date: datetime
    ) -> list[CalendarEvent]:
        """Return the events that overlap the range (an instant inside it counts)."""
        return [
            planned.made()
            for planned in self._events()
            if planned.start < end_date and planned.ends_after(start_date)
        ]
