"""Lines that appear on an account after it was set up are offered for adding.

The account's line list is read at start and twice a day (one paged listing, cheap for
every provider). Lines seen before are remembered, so only really new lines are offered,
all in one repair issue per account whose fix lets the user pick which to track.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime, timedelta
from typing import Any, Final

from homeassistant.config_entries import ConfigEntry
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.event import async_track_time_interval
from homeassistant.helpers.storage import Store

from . import issues
from .const import CONF_PROVIDER, DOMAIN, LOGGER
from .providers.base import LineSummary, Provider, ProviderError
from .records import line_key
from .tracking import lines_tracked_elsewhere

CHECK_INTERVAL: Final = timedelta(hours=12)


def known_lines_store(hass: HomeAssistant, entry_id: str) -> Store[dict[str, Any]]:
    """Return the store of the lines an account is known to have had."""
    return Store(hass, 1, f"{DOMAIN}.{entry_id}.known_lines", private=True)


class NewLineWatcher:
    """Remember the lines an account had and offer the ones that appear later."""

    def __init__(
        self,
        hass: HomeAssistant,
        entry: ConfigEntry,
        provider: Provider,
        tracked: Collection[str],
    ) -> None:
        """Keep the known lines of ``entry`` (which tracks ``tracked``) in its own store."""
        self.hass = hass
        self.entry = entry
        self._provider = provider
        self._tracked = tracked
        self._store = known_lines_store(hass, entry.entry_id)
        self.offered: list[LineSummary] = []

    @callback
    def async_start(self) -> None:
        """Check at start (without delaying setup) and twice a day until unloaded."""
        self.entry.async_create_background_task(
            self.hass, self.async_check(), f"{DOMAIN} new lines"
        )

        async def _async_check_again(_now: datetime) -> None:
            await self.async_check()

        self.entry.async_on_unload(
            async_track_time_interval(self.hass, _async_check_again, CHECK_INTERVAL)
        )

    async def async_check(self) -> None:
        """List the account's lines; raise or clear the issue for new ones."""
        try:
            lines = self._provider.recent_line_list() or await self._provider.async_list_lines()
        except ProviderError as err:
            LOGGER.debug("Could not list the lines of %s: %s", self.entry.title, err)
            return
        stored = await self._store.async_load()
        tracked = set(self._tracked)
        if stored is None:
            # First look at this account: everything on it now was there from the start.
            await self._async_remember(line.line_id for line in lines)
            return
        known = set(stored.get("known", [])) | tracked
        # A line another entry of this provider tracks is not new here: tracking it twice
        # would renew it from two accounts. It is not remembered either, so it is offered
        # if that entry stops tracking it.
        elsewhere = self.tracked_elsewhere()
        self.offered = [
            line
            for line in lines
            if line.line_id not in known and self.line_key(line.line_id) not in elsewhere
        ]
        if not self.offered:
            issues.async_delete(self.hass, self.entry.entry_id, issues.IssueKind.NEW_LINES)
            return
        issues.async_create(
            self.hass,
            self.entry.entry_id,
            issues.IssueKind.NEW_LINES,
            placeholders={
                "account": self.entry.title,
                "lines": ", ".join(line.name for line in self.offered),
            },
        )

    def line_key(self, line_id: str) -> str:
        """Return the key of one of this account's lines among every account's lines."""
        return line_key(self.entry.data[CONF_PROVIDER], line_id)

    def tracked_elsewhere(self) -> set[str]:
        """Return the keys of the provider lines other entries track now."""
        return set(
            lines_tracked_elsewhere(self.hass, self.entry.data[CONF_PROVIDER], self.entry.entry_id)
        )

    async def async_settle(self, offered: list[LineSummary]) -> None:
        """Remember the offered lines (added or declined) and clear the issue."""
        stored = await self._store.async_load() or {}
        await self._async_remember([*stored.get("known", []), *(line.line_id for line in offered)])
        self.offered = []
        issues.async_delete(self.hass, self.entry.entry_id, issues.IssueKind.NEW_LINES)

    async def _async_remember(self, line_ids: Any) -> None:
        """Save the set of known lines."""
        await self._store.async_save({"known": sorted(set(line_ids))})
