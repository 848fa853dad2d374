"""Lines that appear on an account after it was set up are offered for adding.

The account's line list is read at start and twice a day (one paged listing, cheap for
every provider). Lines seen before are remembered, so only really new lines are offered,
all in one repair issue per account whose fix lets the user pick which to track.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Final

from homeassistant.core import HomeAssistant
from homeassistant.helpers import issue_registry as ir
from homeassistant.helpers.storage import Store

from .const import DOMAIN, LOGGER
from .coordinator import PrepaidSimConfigEntry, tracked_line_ids
from .providers.base import LineSummary, ProviderError

CHECK_INTERVAL: Final = timedelta(hours=12)
FIX_ADD_LINES: Final = "add_lines"


def new_lines_issue_id(entry_id: str) -> str:
    """Return the id of an account's "new lines" issue."""
    return f"new_lines_{entry_id}"


class NewLineWatcher:
    """Remember the lines an account had and offer the ones that appear later."""

    def __init__(self, hass: HomeAssistant, entry: PrepaidSimConfigEntry) -> None:
        """Keep the known lines of ``entry`` in its own store."""
        self.hass = hass
        self.entry = entry
        self._store: Store[dict[str, Any]] = Store(
            hass, 1, f"{DOMAIN}.{entry.entry_id}.known_lines", private=True
        )
        self.offered: list[LineSummary] = []

    async def async_check(self) -> None:
        """List the account's lines; raise or clear the issue for new ones."""
        try:
            lines = await self.entry.runtime_data.provider.async_list_lines()
        except ProviderError as err:
            LOGGER.debug("Could not list the lines of %s: %s", self.entry.title, err)
            return
        stored = await self._store.async_load()
        tracked = set(tracked_line_ids(self.entry))
        if stored is None:
            # First look at this account: everything on it now was there from the start.
            await self._async_remember(line.line_id for line in lines)
            return
        known = set(stored.get("known", [])) | tracked
        self.offered = [line for line in lines if line.line_id not in known]
        issue_id = new_lines_issue_id(self.entry.entry_id)
        if not self.offered:
            ir.async_delete_issue(self.hass, DOMAIN, issue_id)
            return
        ir.async_create_issue(
            self.hass,
            DOMAIN,
            issue_id,
            is_fixable=True,
            severity=ir.IssueSeverity.WARNING,
            translation_key="new_lines",
            translation_placeholders={
                "account": self.entry.title,
                "lines": ", ".join(line.name for line in self.offered),
            },
            data={"kind": FIX_ADD_LINES, "entry_id": self.entry.entry_id},
        )

    async def async_settle(self, offered: list[LineSummary]) -> None:
        """Remember the offered lines (added or declined) and clear the issue."""
        stored = await self._store.async_load() or {}
        await self._async_remember([*stored.get("known", []), *(line.line_id for line in offered)])
        self.offered = []
        ir.async_delete_issue(self.hass, DOMAIN, new_lines_issue_id(self.entry.entry_id))

    async def _async_remember(self, line_ids: Any) -> None:
        """Save the set of known lines."""
        await self._store.async_save({"known": sorted(set(line_ids))})

    async def async_remove(self) -> None:
        """Forget the account's lines when it is removed."""
        await self._store.async_remove()
