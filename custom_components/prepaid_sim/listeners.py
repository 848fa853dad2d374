"""What a loaded account listens to: receipts, the provider's line changes, entry updates.

Small callables wired by ``async_setup_entry``; each tells the coordinator which lines a
change concerns, so only those lines' entities and checks hear of it.
"""

from __future__ import annotations

from typing import Any

from homeassistant.core import HomeAssistant, callback

from .coordinator import PrepaidSimCoordinator
from .renewal import RenewalEngine
from .runtime import PrepaidSimConfigEntry


class ReceiptsShower:
    """Show changed receipts on the lines they belong to (this account's copies of them)."""

    def __init__(self, coordinator: PrepaidSimCoordinator, renewals: RenewalEngine) -> None:
        """Tell ``coordinator``'s lines, found by their journal keys through ``renewals``."""
        self._coordinator = coordinator
        self._renewals = renewals

    @callback
    def __call__(self, keys: frozenset[str] | None) -> None:
        """Show the receipts of ``keys`` (every line when None)."""
        if keys is None:
            self._coordinator.async_local_update()
            return
        line_ids = [line_id for key in keys if (line_id := self._renewals.line_of(key))]
        if line_ids:
            self._coordinator.async_local_update(line_ids)


class LineSaver:
    """Save a provider's changes to a line's stored definition (no reload follows)."""

    def __init__(
        self, hass: HomeAssistant, entry: PrepaidSimConfigEntry, line_subentries: dict[str, str]
    ) -> None:
        """Save into the subentries of ``entry``."""
        self._hass = hass
        self._entry = entry
        self._line_subentries = line_subentries

    @callback
    def __call__(self, line_id: str, changes: dict[str, Any]) -> None:
        """Merge ``changes`` into the line's subentry data."""
        if (subentry_id := self._line_subentries.get(line_id)) is not None:
            subentry = self._entry.subentries[subentry_id]
            self._hass.config_entries.async_update_subentry(
                self._entry, subentry, data={**subentry.data, **changes}
            )


async def async_entry_changed(hass: HomeAssistant, entry: PrepaidSimConfigEntry) -> None:
    """Reload for new credentials or lines; apply a line's new settings in place."""
    runtime = entry.runtime_data
    lines, credentials = runtime.loaded_with
    # The keys view compares with the set in C, without building a set per change.
    if entry.subentries.keys() != lines or entry.data != credentials:
        hass.config_entries.async_schedule_reload(entry.entry_id)
    else:
        runtime.coordinator.async_local_update(runtime.settings.changed_lines())
