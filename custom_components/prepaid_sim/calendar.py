"""An expiry calendar per account: when each line's plan ends, and the renewals made.

Usable in the calendar card and in calendar triggers ("15 minutes before a line's plan
ends"). A plan's end is an instant (start and end are the same time); a renewal spans
from when it was sent until the provider confirmed it.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Mapping
from datetime import datetime
from typing import override

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
        # The events as last made (see _events).
        self._plan_ends_by_line: dict[str, tuple[datetime, str, CalendarEvent]] = {}
        self._renewals: list[CalendarEvent] = []
        self._plan_ends_sorted: list[tuple[datetime, str, CalendarEvent]] | None = None
        self._lines_seen: Mapping[str, Line] | None = None
        self._journal_seen = -1
        # What the state was last written from (see _handle_coordinator_update).
        self._written: tuple[object, ...] | None = None
        # Each line's journal key and name, for the renewal events.
        self._names: dict[str, str] | None = None

    @override
    async def async_added_to_hass(self) -> None:
        """Load the event titles (receipts arrive as coordinator updates, as reads do)."""
        await super().async_added_to_hass()
        language = self.hass.config.language
        self._plan_ends = await async_message(
            self.hass, language, "calendar_plan_ends", line="{line}"
        )
        self._renewed = await async_message(self.hass, language, "calendar_renewed", line="{line}")
        # Anything made before the titles were loaded is made again.
        self._plan_ends_by_line.clear()
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

    def _kept_events(self) -> tuple[list[tuple[datetime, str, CalendarEvent]], list[CalendarEvent]]:
        """Return the plan ends (by time) and the renewals (by start), made again as needed.

        Made once per change: an event validates itself when made, which costs more than
        anything else a state write does, so a line's plan end is made again only when its
        expiry or name moved, and the renewals only when the journal changed.
        """
        self._refresh_plan_ends()
        revision = self.data.journal.revision
        if revision != self._journal_seen:
            self._journal_seen = revision
            self._renewals = sorted(
                self._renewal_events(),
                key=lambda event: (event.start_datetime_local, event.summary),
            )
        if self._plan_ends_sorted is None:
            self._plan_ends_sorted = sorted(
                (
                    (expires, event.summary, event)
                    for expires, _, event in self._plan_ends_by_line.values()
                ),
                key=lambda item: (item[0], item[1]),
            )
        return self._plan_ends_sorted, self._renewals

    def _events(self) -> list[CalendarEvent]:
        """Return every event the calendar knows, in time order."""
        plan_ends, renewals = self._kept_events()
        return sorted(
            [*(event for _, _, event in plan_ends), *renewals],
            key=lambda event: (event.start_datetime_local, event.summary),
        )

    def _refresh_plan_ends(self) -> bool:
        """Make the plan-end events of lines whose expiry or name moved; True if any did.

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
            expires = line.expires_at if line is not None else None
            name = subentries[subentry_id].title
            kept = self._plan_ends_by_line.get(line_id)
            if kept is not None and kept[0] == expires and kept[1] == name:
                continue
            if kept is None and expires is None:
                continue
            changed = True
            if expires is None:
                del self._plan_ends_by_line[line_id]
                continue
            self._plan_ends_by_line[line_id] = (
                expires,
                name,
                CalendarEvent(
                    start=expires,
                    end=expires,
                    summary=self._plan_ends.replace("{line}", name),
                    uid=f"{subentry_id}_plan_end",
                ),
            )
        if changed:
            self._plan_ends_sorted = None
            self._names = None
            self._journal_seen = -1
        return changed

    def _renewal_events(self) -> list[CalendarEvent]:
        """Return an event per succeeded renewal of the account's lines (one journal pass)."""
        if self._names is None:
            subentries = self._entry.subentries
            self._names = {
                self.data.renewals.key(line_id): subentries[subentry_id].title
                for line_id, subentry_id in self.data.line_subentries.items()
            }
        names = self._names
        return [
            CalendarEvent(
                start=record.created_at,
                end=max(record.completed_at or record.created_at, record.created_at),
                summary=self._renewed.replace("{line}", names[record.line_key]),
                description=f"{record.package_name} ({record.price})",
                uid=record.reference,
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
        plan_ends, renewals = self._kept_events()
        found = bisect_left(plan_ends, now, key=lambda item: item[0])
        candidates = [plan_ends[found][2]] if found < len(plan_ends) else []
        if (renewal := next((e for e in renewals if _ends_after(e, now)), None)) is not None:
            candidates.append(renewal)
        return min(
            candidates, key=lambda event: (event.start_datetime_local, event.summary), default=None
        )

    @override
    async def async_get_events(
        self, hass: HomeAssistant, start_date: datetime, end_date: datetime
    ) -> list[CalendarEvent]:
        """Return the events that overlap the range (an instant inside it counts)."""
        return [
            event
            for event in self._events()
            if event.start_datetime_local < end_date
            and (
                event.end_datetime_local > start_date
                or (event.start == event.end and event.start_datetime_local >= start_date)
            )
        ]


def _ends_after(event: CalendarEvent, now: datetime) -> bool:
    """Return True for an event not over at ``now`` (an instant counts until it passes)."""
    end = event.end_datetime_local
    return end > now or (event.start == event.end and end >= now)
