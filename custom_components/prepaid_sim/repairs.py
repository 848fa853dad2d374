"""Repair flows: fixes a user can confirm from the Repairs dashboard."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import probatio

from homeassistant.components.repairs import RepairsFlow, RepairsFlowResult

if TYPE_CHECKING:
    from homeassistant.core import HomeAssistant


class RemoveMissingLineFlow(RepairsFlow):
    """Stop tracking a line the provider no longer returns."""

    def __init__(self, entry_id: str, subentry_id: str) -> None:
        """Remember which line to remove."""
        self._entry_id = entry_id
        self._subentry_id = subentry_id

    async def async_step_init(self, user_input: dict[str, Any] | None = None) -> RepairsFlowResult:
        """Go straight to the confirmation."""
        return await self.async_step_confirm()

    async def async_step_confirm(
        self, user_input: dict[str, Any] | None = None
    ) -> RepairsFlowResult:
        """Remove the line's subentry (and so its device and entities) once confirmed."""
        entries = self.hass.config_entries
        entry = entries.async_get_entry(self._entry_id)
        subentry = entry.subentries.get(self._subentry_id) if entry else None
        if entry is None or subentry is None:
            # Already removed some other way: nothing left to fix.
            return self.async_abort(reason="line_already_removed")
        if user_input is not None:
            entries.async_remove_subentry(entry, self._subentry_id)
            return self.async_create_entry(data={})
        return self.async_show_form(
            step_id="confirm",
            data_schema=probatio.Schema({}),
            description_placeholders={"line": subentry.title, "account": entry.title},
        )


async def async_create_fix_flow(
    hass: HomeAssistant, issue_id: str, data: dict[str, str | int | float | None] | None
) -> RepairsFlow:
    """Return the fix flow of a fixable issue."""
    assert data is not None
    return RemoveMissingLineFlow(str(data["entry_id"]), str(data["subentry_id"]))
