"""One coordinator per account: reads every tracked line in one refresh."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, Final, override

from homeassistant.config_entries import ConfigEntry
from homeassistant.core import CALLBACK_TYPE, HomeAssistant, callback
from homeassistant.exceptions import ConfigEntryAuthFailed
from homeassistant.helpers.storage import Store
from homeassistant.helpers.update_coordinator import DataUpdateCoordinator, UpdateFailed
from homeassistant.util import dt as dt_util

from . import issues
from .const import DOMAIN, LOGGER
from .forecast import UsageHistory
from .providers import ProviderSpec
from .providers.base import (
    AuthenticationError,
    Line,
    Provider,
    ProviderError,
    RateLimitedError,
    Snapshot,
    line_ref,
)

# How often the usage history is written.
HISTORY_SAVE_DELAY = timedelta(minutes=5)


@dataclass(frozen=True, slots=True)
class LineContext:
    """The coordinator context of an entity that shows one line."""

    line_id: str
    # True when the entity never shows the line's usage figures.
    ignores_usage: bool = False
    # For an entity that shows something derived from the usage (an alert, a forecast):
    # what of the line that can move its state. A usage-only move that leaves it equal
    # does not concern the entity.
    usage_key: Callable[[Line], Hashable] | None = None


# A listener's usage key before it was computed: unequal to any key.
_UNSEEN: Final = object()


@dataclass(slots=True)
class LineListener:
    """A line entity's update callback, and which usage-only changes concern it."""

    update_callback: CALLBACK_TYPE
    ignores_usage: bool
    usage_key: Callable[[Line], Hashable] | None = None
    # The usage key of the line the entity was last told about (_UNSEEN: not known).
    told_key: Hashable = _UNSEEN

    def concerned_by_usage_move(self, line: Line) -> bool:
        """Return whether a usage-only move to ``line`` can change what the entity shows."""
        if self.usage_key is None:
            return True
        key = self.usage_key(line)
        if key == self.told_key:
            return False
        self.told_key = key
        return True

    def told_of(self, line: Line | None) -> None:
        """Note that the entity was told about ``line`` whatever moved in it."""
        if self.usage_key is not None:
            self.told_key = _UNSEEN if line is None else self.usage_key(line)


def usage_store(hass: HomeAssistant, entry_id: str) -> Store[dict[str, Any]]:
    """Return the store that keeps an account's usage history."""
    return Store(hass, 1, f"{DOMAIN}.{entry_id}.usage", private=True)


class PrepaidSimCoordinator(DataUpdateCoordinator[Snapshot]):
    """Read the account's wallet and every tracked line; entities only read from here."""

    config_entry: ConfigEntry

    def __init__(
        self,
        hass: HomeAssistant,
        entry: ConfigEntry,
        provider: Provider,
        spec: ProviderSpec,
        line_subentries: Mapping[str, str],
    ) -> None:
        """Poll ``provider`` for the lines (id -> subentry id) at the interval they deserve."""
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
        self.line_subentries = line_subentries
        # Run after every successful fetch, changed or not: time-based checks (expiry
        # warnings, auto-renew) must not wait for the data to change.
        self._fetch_hooks: list[Callable[[Snapshot], None]] = []
        # Told of every change that is not fetched data, with the lines it concerns.
        self._local_hooks: list[Callable[[frozenset[str] | None], None]] = []
        # Counts the account-wide changes that reach the entities without a fetch: with the
        # snapshot, it tells what a line's entities have already seen.
        self.local_revision = 0
        # The lines whose reading the last fetch replaced (None: every line, the first time),
        # and those of them in which only the usage figures moved.
        self.changed_lines: frozenset[str] | None = None
        self.usage_only_lines: frozenset[str] = frozenset()
        # Listeners of the whole account (not of one line): told of every local change.
        self._account_listeners: dict[int, CALLBACK_TYPE] = {}
        # Tracked lines the provider stopped returning, as last reported (None: not yet).
        self._missing: frozenset[str] | None = None
        # Lines whose last fetch changed only their usage figures: (before, after).
        self._usage_moves: dict[str, tuple[Line, Line]] = {}
        # Entities listen per line (see async_add_listener): their callbacks, and what
        # each line's entities were last told about.
        self._line_listeners: dict[str, dict[int, LineListener]] = {}
        self._lines_told: dict[str, tuple[Any, ...]] = {}
        # Per line, the listeners that a usage-only move can concern (built when needed).
        self._usage_listeners: dict[str, tuple[LineListener, ...]] = {}
        self._remove_line_dispatch: CALLBACK_TYPE | None = None
        # Lines the provider returned but that could not be understood, as last logged.
        self._unreadable: frozenset[str] = frozenset()
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
        line_ids = self.line_subentries
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
        self._log_unreadable_lines(snapshot, line_ids)
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
    def async_add_local_hook(self, hook: Callable[[frozenset[str] | None], None]) -> CALLBACK_TYPE:
        """Call ``hook`` with the lines of every local change (None: every line)."""
        self._local_hooks.append(hook)
        return lambda: self._local_hooks.remove(hook)

    @override
    @callback
    def async_add_listener(
        self, update_callback: CALLBACK_TYPE, context: Any = None
    ) -> Callable[[], None]:
        """Listen for updates; a line's entity (``LineContext``) hears only its line's.

        One listener serves every line: it tells a line's entities only when the line, the
        wallet, the local revision or the account's availability changed, and when only
        the usage moved, only the entities that show usage. A refresh in which a few lines
        changed then costs what those lines cost.
        """
        if not isinstance(context, LineContext):
            remove_listener = super().async_add_listener(update_callback, context)
            key = id(update_callback)
            self._account_listeners[key] = update_callback

            @callback
            def remove_account_listener() -> None:
                self._account_listeners.pop(key, None)
                remove_listener()

            return remove_account_listener
        listeners = self._line_listeners.setdefault(context.line_id, {})
        key = id(update_callback)
        listeners[key] = LineListener(update_callback, context.ignores_usage, context.usage_key)
        self._usage_listeners.pop(context.line_id, None)
        if self._remove_line_dispatch is None:
            self._remove_line_dispatch = super().async_add_listener(self._async_tell_lines)

        @callback
        def remove() -> None:
            listeners.pop(key, None)
            self._usage_listeners.pop(context.line_id, None)
            if not listeners:
                self._line_listeners.pop(context.line_id, None)
                self._lines_told.pop(context.line_id, None)
            if not self._line_listeners and self._remove_line_dispatch is not None:
                self._remove_line_dispatch()
                self._remove_line_dispatch = None

        return remove

    @callback
    def _async_tell_lines(self) -> None:
        """Tell each line's entities what changed for them (see async_add_listener)."""
        data = self.data
        wallet, revision, success = data.wallet, self.local_revision, self.last_update_success
        for line_id, listeners in list(self._line_listeners.items()):
            line = data.lines.get(line_id)
            told = self._lines_told.get(line_id)
            usage_only = False
            if told is not None and told[1] is wallet and told[2:] == (revision, success):
                if told[0] is line:
                    continue
                usage_only = self._moved_only_usage(line_id, told[0], line)
            self._lines_told[line_id] = (line, wallet, revision, success)
            if usage_only and line is not None:
                self._tell_usage_move(line_id, listeners, line)
            else:
                self._tell_line(line_id, listeners, line)

    def _tell_line(
        self, line_id: str, listeners: Mapping[int, LineListener], line: Line | None
    ) -> None:
        """Call every listener of a line (now showing ``line``)."""
        for listener in list(listeners.values()):
            listener.told_of(line)
            self._call(listener, line_id)

    def _call(self, listener: LineListener, line_id: str) -> None:
        """Call one entity's update; a failing entity must not stop its line's others."""
        try:
            listener.update_callback()
        except Exception:
            self.logger.exception("Error updating an entity of line %s", line_ref(line_id))

    def _tell_usage_move(
        self, line_id: str, listeners: Mapping[int, LineListener], line: Line
    ) -> None:
        """Call the listeners of a line whose usage alone moved, where it concerns them."""
        concerned = self._usage_listeners.get(line_id)
        if concerned is None:
            # Most of a line's entities ignore the usage: a refresh in which data flowed on
            # every line looks at the few others only.
            concerned = self._usage_listeners[line_id] = tuple(
                listener for listener in listeners.values() if not listener.ignores_usage
            )
        for listener in concerned:
            if listener.concerned_by_usage_move(line):
                self._call(listener, line_id)

    @callback
    def async_local_update(self, line_ids: Iterable[str] | None = None) -> None:
        """Show a change that is not fetched data (settings, receipts, package lists).

        A change that names its lines reaches only those lines' entities, besides the
        account-wide listeners and hooks: a setting changed on one line of 1,000 costs
        what it costs on one line of 10. None tells every line.
        """
        fetched: Snapshot | None = self.data  # None before the first refresh
        if fetched is None:
            return
        lines = None if line_ids is None else frozenset(line_ids)
        for hook in list(self._local_hooks):
            hook(lines)
        if lines is None:
            self.local_revision += 1
            self.async_update_listeners()
            return
        for update_callback in list(self._account_listeners.values()):
            update_callback()
        for line_id in lines:
            self._tell_line(
                line_id, self._line_listeners.get(line_id, {}), fetched.lines.get(line_id)
            )

    def _keep_unchanged(self, snapshot: Snapshot) -> Snapshot:
        """Carry over the previous objects of the lines and wallet that did not change.

        Entities then tell an unchanged line by identity and skip it, so a refresh in
        which a few lines moved costs about what those lines cost.
        """
        previous: Snapshot | None = self.data  # None before the first refresh
        if previous is None:
            self.changed_lines = None
            self.usage_only_lines = frozenset()
            return snapshot
        lines: dict[str, Line] = {}
        self._usage_moves = {}
        changed: set[str] = set(previous.lines.keys() - snapshot.lines.keys())
        moved_from = snapshot.usage_moved_from
        for line_id, line in snapshot.lines.items():
            old = previous.lines.get(line_id)
            if old is not None and moved_from.get(line_id) is old:
                # Made from the reading held here by new usage alone: no need to compare.
                if (line.data_used_bytes, line.data_remaining_bytes) == (
                    old.data_used_bytes,
                    old.data_remaining_bytes,
                ):
                    lines[line_id] = old
                    continue
                lines[line_id] = line
                changed.add(line_id)
                self._usage_moves[line_id] = (old, line)
                continue
            if old is line or old == line:
                lines[line_id] = old
                continue
            lines[line_id] = line
            changed.add(line_id)
            if old is not None and line.differs_only_in_usage(old):
                self._usage_moves[line_id] = (old, line)
        wallet = previous.wallet if previous.wallet == snapshot.wallet else snapshot.wallet
        self.changed_lines = frozenset(changed)
        self.usage_only_lines = frozenset(self._usage_moves)
        return replace(snapshot, lines=lines, wallet=wallet)

    def _moved_only_usage(self, line_id: str, before: Line | None, after: Line | None) -> bool:
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

    def _log_unreadable_lines(self, snapshot: Snapshot, line_ids: Mapping[str, str]) -> None:
        """Log when a line becomes unreadable and when it recovers, not on every refresh."""
        unreadable = snapshot.unreadable_line_ids
        if unreadable == self._unreadable:
            return
        subentries = self.config_entry.subentries
        for line_id in unreadable - self._unreadable:
            if (subentry_id := line_ids.get(line_id)) is not None and subentry_id in subentries:
                LOGGER.warning(
                    "%s: the provider's answer for line %s cannot be understood (%s); it is "
                    "shown as unavailable until it can",
                    self.config_entry.title,
                    subentries[subentry_id].title,
                    snapshot.unreadable_reasons.get(line_id, "no reason given"),
                )
        for line_id in self._unreadable - unreadable:
            if (subentry_id := line_ids.get(line_id)) is not None and subentry_id in subentries:
                LOGGER.info(
                    "%s: line %s can be read again",
                    self.config_entry.title,
                    subentries[subentry_id].title,
                )
        self._unreadable = unreadable

    def _report_missing_lines(self, snapshot: Snapshot, line_ids: Mapping[str, str]) -> None:
        """Raise a repair issue for each tracked line the provider no longer returns.

        Only lines that went missing or came back are touched (every line the first time,
        to clear issues kept from before a restart).
        """
        entry = self.config_entry
        missing = frozenset(snapshot.missing_line_ids)
        if missing == self._missing:
            return
        moved = line_ids.keys() if self._missing is None else missing ^ self._missing
        self._missing = missing
        for line_id in moved:
            if (subentry_id := line_ids.get(line_id)) is None:
                continue
            if line_id in missing:
                issues.async_create(
                    self.hass,
                    entry.entry_id,
                    issues.IssueKind.LINE_MISSING,
                    subentry_id,
                    placeholders={
                        "line": entry.subentries[subentry_id].title,
                        "account": entry.title,
                    },
                    data={"subentry_id": subentry_id},
                )
            else:
                issues.async_delete(
                    self.hass, entry.entry_id, issues.IssueKind.LINE_MISSING, subentry_id
                )
