"""Base entity of a line: every line is one service device."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass
import time
from typing import Any, override

from homeassistant.config_entries import ConfigSubentry
from homeassistant.core import callback
from homeassistant.helpers.device_registry import DeviceEntryType, DeviceInfo
from homeassistant.helpers.entity import Entity, EntityDescription
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback
from homeassistant.helpers.update_coordinator import CoordinatorEntity

from .const import CONF_LINE_ID, DOMAIN, LARGE_ACCOUNT_LINES, line_device_identifier
from .coordinator import LineContext, PrepaidSimCoordinator
from .providers.base import Line
from .runtime import PrepaidSimConfigEntry, PrepaidSimData
from .settings import LineSettings

# How long the entities of one platform are added before the event loop gets a turn. Home
# Assistant adds a batch at once (about 0.2 ms an entity), and the four platforms set up
# side by side: without turns, and one platform at a time, 1,000 lines would hold the loop
# for seconds. The rest of each add (state writes, registry updates) runs in the loop's
# next turn, so the loop waits about three times this: 15 ms keeps that under 50 ms.
ADD_TURN_SECONDS = 0.015


async def async_add_line_entities(
    entry: PrepaidSimConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
    build: Callable[[PrepaidSimData, ConfigSubentry], Iterable[Entity]],
) -> None:
    """Add ``build``'s entities for every tracked line, each under its line's subentry."""
    data = entry.runtime_data
    async with data.entity_adds:
        turn_ends = time.monotonic() + ADD_TURN_SECONDS
        for subentry_id in data.line_subentries.values():
            async_add_entities(
                list(build(data, entry.subentries[subentry_id])), config_subentry_id=subentry_id
            )
            if time.monotonic() > turn_ends:
                await asyncio.sleep(0)
                turn_ends = time.monotonic() + ADD_TURN_SECONDS


@dataclass(frozen=True, kw_only=True)
class LineEntityDescription(EntityDescription):
    """What every line entity's description says besides its platform's fields."""

    # Enabled by default even in a large account (see LARGE_ACCOUNT_LINES): the data, the
    # plan's end, the balance and the two alerts.
    essential: bool = False
    # The entity's state never depends on the line's usage figures
    # (providers.base.LINE_USAGE_FIELDS): a read in which only those moved skips it.
    ignores_usage: bool = False
    # The entity's state depends on the usage only through this value (an alert's
    # threshold crossed, a forecast's inputs): a read in which only the usage moved and
    # this stayed equal skips it.
    usage_key_fn: Callable[[Line, PrepaidSimData], Hashable] | None = None


class PrepaidSimLineEntity(CoordinatorEntity[PrepaidSimCoordinator]):
    """An entity that shows one aspect of one line."""

    _attr_has_entity_name = True
    entity_description: LineEntityDescription
    # What the entity showed when a refresh last wrote it (see _handle_coordinator_update).
    _shown: tuple[Any, ...] | None = None

    def __init__(
        self,
        data: PrepaidSimData,
        subentry: ConfigSubentry,
        description: LineEntityDescription,
    ) -> None:
        """Bind the entity to its line and describe the line's device."""
        coordinator = data.coordinator
        self.data = data
        self.line_id: str = subentry.data[CONF_LINE_ID]
        # The coordinator tells the entity only about changes to its line (LineContext).
        usage_key = None
        if (key_fn := description.usage_key_fn) is not None:

            def usage_key(line: Line) -> Hashable:
                return key_fn(line, data)

        super().__init__(
            coordinator, LineContext(self.line_id, description.ignores_usage, usage_key)
        )
        self.entity_description = description
        if not description.essential and len(data.line_subentries) > LARGE_ACCOUNT_LINES:
            self._attr_entity_registry_enabled_default = False
        self.subentry_id = subentry.subentry_id
        entry = coordinator.config_entry
        identifier = line_device_identifier(entry.unique_id, self.line_id)
        self._attr_unique_id = f"{identifier}_{description.key}"
        line = coordinator.data.lines.get(self.line_id) if coordinator.data else None
        self._attr_device_info = DeviceInfo(
            entry_type=DeviceEntryType.SERVICE,
            identifiers={(DOMAIN, identifier)},
            manufacturer=data.spec.name,
            model=line.plan_name if line else None,
            name=subentry.title,
        )

    @property
    def line(self) -> Line | None:
        """Return the line's latest reading, if the provider returned it."""
        return self.coordinator.data.lines.get(self.line_id)

    @property
    def settings(self) -> LineSettings:
        """Return the line's current settings."""
        return self.data.settings.of(self.line_id)

    def _inputs_changed(self) -> None:
        """React to new inputs before the state is compared (for subclasses)."""

    def _shown_line(self) -> Line | None:
        """Return the line when the account was read and returned it, else None.

        What ``available`` means for a line entity, with the line itself: the one read
        the ``_shows()`` overrides start from.
        """
        coordinator = self.coordinator
        if not coordinator.last_update_success:
            return None
        return coordinator.data.lines.get(self.line_id)

    def _shows(self) -> tuple[Any, ...]:
        """Return what the entity's state shows now: availability, state and attributes."""
        if not self.available:
            return (False,)
        return (True, self.state, self.extra_state_attributes, self.capability_attributes)

    @callback
    @override
    def _handle_coordinator_update(self) -> None:
        """Write the state only when the update changed what this entity shows.

        The coordinator calls only the entities of lines whose inputs changed (see its
        async_add_listener), but a changed line still moves few of its values (a usage
        reading moves two). Writing the others anyway would cost Home Assistant a state
        computation, a context and an event each.
        """
        self._inputs_changed()
        shows = self._shows()
        if shows == self._shown:
            return
        self._shown = shows
        super()._handle_coordinator_update()

    @property
    @override
    def available(self) -> bool:
        """Return False when the account could not be read or this line is missing."""
        return self._shown_line() is not None
