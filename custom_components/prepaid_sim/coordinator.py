"""One coordinator per account: reads every tracked line in one refresh."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, override
import weakref

from homeassistant.config_entries import ConfigEntry
from homeassistant.core import CALLBACK_TYPE, HomeAssistant, callback
from homeassistant.exceptions import ConfigEntryAuthFailed
from homeassistant.helpers import issue_registry as ir
from homeassistant.helpers.storage import Store
from homeassistant.helpers.update_coordinator import DataUpdateCoordinator, UpdateFailed
from homeassistant.util import dt as dt_util

from .const import CONF_LINE_ID, DOMAIN, LOGGER, SUBENTRY_TYPE_LINE
from .forecast import UsageHistory
from .providers import ProviderSpec
from .providers.base import (
    AuthenticationError,
    Line,
    Provider,
    ProviderError,
    RateLimitedError,
    Snapshot,
)

# How often the usage history is written.
HISTORY_SAVE_DELAY = timedelta(minutes=5)

if TYPE_CHECKING:
    from .new_lines import NewLineWatcher
    from .renewal import RenewalManager


@dataclass(kw_only=True, slots=True)
class PrepaidSimData:
    """What a loaded account keeps at run time."""

    spec: ProviderSpec
    provider: Provider
    coordinator: PrepaidSimCoordinator
    renewals: RenewalManager
    new_lines: NewLineWatcher
    # The lines and credentials set up at load: changing them needs a reload; changing a
    # line's settings does not.
    loaded_with: tuple[frozenset[str], dict[str, Any]]


type PrepaidSimConfigEntry = ConfigEntry[PrepaidSimData]


# Per entry: the subentries and modification time the line map was built from, and the map.
_tracked: weakref.WeakKeyDictionary[
    ConfigEntry, tuple[Mapping[str, Any], datetime, Mapping[str, str]]
] = weakref.WeakKeyDictionary()


def tracked_line_ids(entry: ConfigEntry) -> Mapping[str, str]:
    """Map each tracked line id to the id of its subentry (read-only).

    Called per line on every refresh (settings, packages, issues), so the map is built once
    per change of the entry: adding or removing a subentry replaces ``entry.subentries`` and
    every update through Home Assistant moves ``entry.modified_at``.
    """
    cached = _tracked.get(entry)
    if cached is not None and cached[0] is entry.subentries and cached[1] == entry.modified_at:
        return cached[2]
    line_ids = MappingProxyType(
        {
            subentry.data[CONF_LINE_ID]: subentry_id
            for subentry_id, subentry in entry.subentries.items()
            if subentry.subentry_type == SUBENTRY_TYPE_LINE
        }
    )
    _tracked[entry] = (entry.subentries, entry.modified_at, line_ids)
    return line_ids


def usage_store(hass: HomeAssistant, entry_id: str) -> Store[dict[str, Any]]:
    """Return the store that keeps an account's usage history."""
    return Store(hass, 1, f"{DOMAIN}.{entry_id}.usage", private=True)


def missing_line_issue_id(entry_id: str, line_id: str) -> str:
    """Return the repair issue id for a tracked line the provider stopped returning."""
    return f"line_missing_{entry_id}_{line_id}"


class PrepaidSimCoordinator(DataUpdateCoordinator[Snapshot]):
    """Read the account's wallet and every tracked line; entities only read from here."""

    config_entry: PrepaidSimConfigEntry

    def __init__(
        self,
        hass: HomeAssistant,
        entry: PrepaidSimConfigEntry,
        provider: Provider,
        spec: ProviderSpec,
    ) -> None:
        """Poll ``provider`` at the interval its data freshness deserves."""
        super().__init__(
            hass,
            LOGGER,
            config_entry=entry,
            name=f"{DOMAIN} {entry.title}",
            update_interval=spec.update_interval,
            # Snapshots compare by value: an unchanged account writes no states.
            always_update=False,
        )
        self.provider = provider
        # Run after every successful fetch, changed or not: time-based checks (expiry
        # warnings, auto-renew) must not wait for the data to change.
        self._fetch_hooks: list[Callable[[Snapshot], None]] = []
        # Counts the changes that reach the entities without a fetch (settings, receipts,
        # package lists): with the snapshot, it tells what a listener has already seen.
        self.local_revision = 0
        # Lines whose last fetch changed only their usage figures: (before, after).
        self._usage_moves: dict[str, tuple[Line, Line]] = {}
        self.history = UsageHistory()
        self._history_store = usage_store(hass, entry.entry_id)
        self._history_save_due: datetime | None = None

    @override
    async def _async_setup(self) -> None:
        """Load the usage history kept across restarts."""
        self.history = UsageHistory((await self._history_store.async_load()) or {})

    @override
    async def _async_update_data(self) -> Snapshot:
        """Fetch one snapshot and translate provider errors."""
        line_ids = tracked_line_ids(self.config_entry)
        try:
            snapshot = await self.provider.async_fetch(line_ids.keys())
        except AuthenticationError as err:
            raise ConfigEntryAuthFailed(
                translation_domain=DOMAIN,
                translation_key="auth_failed",
                translation_placeholders={"account": self.config_entry.title},
            ) from err
        except RateLimitedError as err:
            raise UpdateFailed(
                retry_after=err.retry_after,
                translation_domain=DOMAIN,
                translation_key="rate_limited",
            ) from err
        except ProviderError as err:
            raise UpdateFailed(
                translation_domain=DOMAIN,
                translation_key="update_failed",
                translation_placeholders={"error": str(err)},
            ) from err
        snapshot = self._keep_unchanged(snapshot)
        self._report_missing_lines(snapshot, line_ids)
        self._record_usage(snapshot, line_ids.keys())
        for hook in list(self._fetch_hooks):
            hook(snapshot)
        return snapshot

    @callback
    def async_add_fetch_hook(self, hook: Callable[[Snapshot], None]) -> CALLBACK_TYPE:
        """Call ``hook`` with every fetched snapshot; return a remover."""
        self._fetch_hooks.append(hook)
        return lambda: self._fetch_hooks.remove(hook)

    @callback
    def async_local_update(self) -> None:
        """Show a change that is not fetched data (settings, receipts, package lists)."""
        self.local_revision += 1
        self.async_update_listeners()

    def _keep_unchanged(self, snapshot: Snapshot) -> Snapshot:
        """Carry over the previous objects of the lines and wallet that did not change.

        Entities then tell an unchanged line by identity and skip it, so a refresh in
        which a few lines moved costs about what those lines cost.
        """
        previous: Snapshot | None = self.data  # None before the first refresh
        if previous is None:
            return snapshot
        lines: dict[str, Line] = {}
        self._usage_moves = {}
        for line_id, line in snapshot.lines.items():
            old = previous.lines.get(line_id)
            if old == line:
                lines[line_id] = old
                continue
            lines[line_id] = line
            if old is not None and line.differs_only_in_usage(old):
                self._usage_moves[line_id] = (old, line)
        wallet = previous.wallet if previous.wallet == snapshot.wallet else snapshot.wallet
        return replace(snapshot, lines=lines, wallet=wallet)

    def moved_only_usage(self, line_id: str, before: Line | None, after: Line | None) -> bool:
        """Return True when the last fetch turned ``before`` into ``after`` by usage alone."""
        move = self._usage_moves.get(line_id)
        return move is not None and move[0] is before and move[1] is after

    def _record_usage(self, snapshot: Snapshot, tracked: Iterable[str]) -> None:
        """Add this snapshot's readings to the usage history and save it soon."""
        now = dt_util.utcnow()
        changed = [self.history.add(line, now) for line in snapshot.lines.values()]
        self.history.forget(tracked)
        if any(changed) and (self._history_save_due is None or now >= self._history_save_due):
            # Readings are cheap to lose: one write every few minutes, of whatever the
            # history holds then (a delayed save is postponed by every new request, so
            # only one is asked for per period).
            self._history_store.async_delay_save(
                self.history.as_dict, HISTORY_SAVE_DELAY.total_seconds()
            )
            self._history_save_due = now + HISTORY_SAVE_DELAY

    def _report_missing_lines(self, snapshot: Snapshot, line_ids: Mapping[str, str]) -> None:
        """Raise a repair issue for each tracked line the provider no longer returns."""
        entry = self.config_entry
        raised = ir.async_get(self.hass).issues
        for line_id, subentry_id in line_ids.items():
            issue_id = missing_line_issue_id(entry.entry_id, line_id)
            if line_id in snapshot.missing_line_ids:
                ir.async_create_issue(
                    self.hass,
                    DOMAIN,
                    issue_id,
                    is_fixable=True,
                    severity=ir.IssueSeverity.WARNING,
                    translation_key="line_missing",
                    translation_placeholders={
                        "line": entry.subentries[subentry_id].title,
                        "account": entry.title,
                    },
                    data={"entry_id": entry.entry_id, "subentry_id": subentry_id},
                )
            elif (DOMAIN, issue_id) in raised:
                # Looked up first: most lines have no issue, and this runs every refresh.
                ir.async_delete_issue(self.hass, DOMAIN, issue_id)
