"""Base entity of a line: every line is one service device."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, override

from homeassistant.config_entries import ConfigSubentry
from homeassistant.core import callback
from homeassistant.helpers.device_registry import DeviceEntryType, DeviceInfo
from homeassistant.helpers.entity import Entity, EntityDescription
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback
from homeassistant.helpers.update_coordinator import CoordinatorEntity

from .const import CONF_LINE_ID, DOMAIN, LARGE_ACCOUNT_LINES, SUBENTRY_TYPE_LINE
from .coordinator import LineContext, PrepaidSimConfigEntry, PrepaidSimCoordinator, tracked_line_ids
from .providers.base import Line
from .settings import LineSettings


@callback
def async_add_line_entities(
    entry: PrepaidSimConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
    build: Callable[[PrepaidSimCoordinator, ConfigSubentry], Iterable[Entity]],
) -> None:
    """Add ``build``'s entities for every tracked line, each under its line's subentry."""
    coordinator = entry.runtime_data.coordinator
    for subentry_id, subentry in entry.subentries.items():
        if subentry.subentry_type == SUBENTRY_TYPE_LINE:
            async_add_entities(build(coordinator, subentry), config_subentry_id=subentry_id)


# What every line shows by default in a large account (see LARGE_ACCOUNT_LINES): the
# data, the plan's end, the balance and the two alerts.
ESSENTIAL_KEYS: frozenset[str] = frozenset(
    {
        "data_remaining",
        "data_used",
        "data_total",
        "plan_expiry",
        "status",
        "balance",
        "low_data",
        "expiring_soon",
    }
)


def line_device_identifier(entry_unique_id: str | None, line_id: str) -> str:
    """Return the device identifier of a line: the provider's stable line id, scoped."""
    return f"{entry_unique_id}_{line_id}"


class PrepaidSimLineEntity(CoordinatorEntity[PrepaidSimCoordinator]):
    """An entity that shows one aspect of one line."""

    _attr_has_entity_name = True
    # What the entity showed when a refresh last wrote it (see _handle_coordinator_update).
    _shown: tuple[Any, ...] | None = None
    # True for entities whose state never depends on the line's usage figures
    # (providers.base.LINE_USAGE_FIELDS): a read in which only those moved skips them.
    _ignores_usage: bool = False

    def __init__(
        self,
        coordinator: PrepaidSimCoordinator,
        subentry: ConfigSubentry,
        description: EntityDescription,
    ) -> None:
        """Bind the entity to its line and describe the line's device."""
        self.line_id: str = subentry.data[CONF_LINE_ID]
        # Sensor and binary sensor descriptions say it per entity; the others set it.
        ignores_usage = getattr(description, "ignores_usage", self._ignores_usage)
        # The coordinator tells the entity only about changes to its line (LineContext).
        super().__init__(coordinator, LineContext(self.line_id, ignores_usage))
        self.entity_description = description
        if (
            description.key not in ESSENTIAL_KEYS
            and len(tracked_line_ids(coordinator.config_entry)) > LARGE_ACCOUNT_LINES
        ):
            self._attr_entity_registry_enabled_default = False
        self.subentry_id = subentry.subentry_id
        entry = coordinator.config_entry
        identifier = line_device_identifier(entry.unique_id, self.line_id)
        self._attr_unique_id = f"{identifier}_{description.key}"
        line = coordinator.data.lines.get(self.line_id) if coordinator.data else None
        self._attr_device_info = DeviceInfo(
            entry_type=DeviceEntryType.SERVICE,
            identifiers={(DOMAIN, identifier)},
            manufacturer=entry.runtime_data.spec.name,
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
        return self.coordinator.config_entry.runtime_data.renewals.settings(self.line_id)

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
