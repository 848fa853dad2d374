"""What each refresh checks besides the entities: expiry and wallet issues, and auto-renew.

A line is checked when its reading, settings or package list changed, and again when time
alone can change the answer (its warning period starts, a day of its countdown passes, it
expires): a refresh in which nothing changed checks nothing, and a change on one line of
1,000 checks that line. Lines with auto-renew on are checked after every fetch.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
import math

from homeassistant.config_entries import ConfigEntry
from homeassistant.core import HomeAssistant, callback
from homeassistant.util import dt as dt_util

from . import issues
from .alerts import days_left, is_expired, keep_alive_due, plan_expiring_soon
from .autorenew import AutoRenewer
from .catalogue import PackageCatalogue
from .coordinator import PrepaidSimCoordinator
from .providers.base import Line, LineStatus, Package, Provider, Snapshot
from .settings import AutoRenewPolicy, LineSettings, SettingsReader

DAY = timedelta(days=1)
# What the wallet check saw before its first run.
_UNSEEN = object()


class RefreshChecks:
    """Raise or clear an account's line issues and run auto-renew, as things change."""

    def __init__(
        self,
        hass: HomeAssistant,
        entry: ConfigEntry,
        *,
        provider: Provider,
        coordinator: PrepaidSimCoordinator,
        catalogue: PackageCatalogue,
        settings: SettingsReader,
        auto_renewer: AutoRenewer,
        line_subentries: Mapping[str, str],
    ) -> None:
        """Check the lines (id -> subentry id) of ``entry``."""
        self.hass = hass
        self.entry = entry
        self._provider = provider
        self._coordinator = coordinator
        self._catalogue = catalogue
        self._settings = settings
        self._auto_renewer = auto_renewer
        self._line_subentries = line_subentries
        # Per line: what its expiry issues say now (None: not checked yet).
        self._verdicts: dict[str, tuple[object, ...]] = {}
        # Per line: when time alone can next change its verdict.
        self._due: dict[str, datetime] = {}
        self._next_due: datetime | None = None
        # Lines whose next renewal the wallet cannot pay, as "line (price)".
        self._short: dict[str, str] = {}
        self._short_changed = True
        # The wallet the last check saw (kept as the same object while it is unchanged).
        self._wallet_seen: object = _UNSEEN
        # The snapshot last checked.
        self._snapshot: Snapshot | None = None
        # Lines with auto-renew on: checked after every fetch.
        self._auto_renew_lines: set[str] = set()

    @callback
    def async_start(self) -> None:
        """Check every line now; then after each fetch and each local change."""
        coordinator = self._coordinator
        self.entry.async_on_unload(coordinator.async_add_fetch_hook(self._async_fetched))
        self.entry.async_on_unload(coordinator.async_add_local_hook(self._async_local_change))
        # Data set without a fetch (async_set_updated_data) is checked too.
        self.entry.async_on_unload(coordinator.async_add_listener(self._async_data_set))
        self.async_check(coordinator.data)

    @callback
    def async_check(self, snapshot: Snapshot, line_ids: Iterable[str] | None = None) -> None:
        """Check ``line_ids`` (every line when None), the wallet, then auto-renew."""
        self._snapshot = snapshot
        now = dt_util.utcnow()
        lines = set(self._line_subentries if line_ids is None else line_ids)
        for line_id in lines:
            self._check_line(snapshot, line_id, now)
        self._check_wallet(snapshot, everything=line_ids is None)
        self._auto_renewer.async_check(snapshot, self._auto_renew_lines | lines)

    @callback
    def _async_fetched(self, snapshot: Snapshot) -> None:
        """Check the lines the fetch changed and those whose time has come."""
        changed = self._coordinator.changed_lines
        if changed is None:
            self.async_check(snapshot)
            return
        now = dt_util.utcnow()
        # Usage alone decides none of the expiry or wallet issues (auto-renew lines, whose
        # low-data rule it does decide, are checked after every fetch anyway).
        lines = set(changed - self._coordinator.usage_only_lines)
        if self._next_due is not None and now >= self._next_due:
            lines.update(line_id for line_id, due in self._due.items() if due <= now)
            for line_id in lines:
                self._due.pop(line_id, None)
            self._next_due = min(self._due.values(), default=None)
        # Every line's "can the wallet pay" depends on the wallet.
        self.async_check(snapshot, None if snapshot.wallet is not self._wallet_seen else lines)

    @callback
    def _async_data_set(self) -> None:
        """Check the lines of a snapshot that reached the coordinator without a fetch."""
        snapshot = self._coordinator.data
        if snapshot is self._snapshot:
            return
        before = self._snapshot.lines if self._snapshot is not None else {}
        changed = [
            line_id
            for line_id in self._line_subentries
            if snapshot.lines.get(line_id) is not before.get(line_id)
        ]
        self.async_check(snapshot, None if snapshot.wallet is not self._wallet_seen else changed)

    @callback
    def _async_local_change(self, line_ids: frozenset[str] | None) -> None:
        """Check the lines a change of settings, receipts or packages concerns."""
        self.async_check(self._coordinator.data, line_ids)

    def _check_line(self, snapshot: Snapshot, line_id: str, now: datetime) -> None:
        """Raise or clear one line's expiry issues; note whether the wallet can renew it."""
        subentry_id = self._line_subentries.get(line_id)
        line = snapshot.lines.get(line_id)
        if subentry_id is None or line is None:
            return
        title = self.entry.subentries[subentry_id].title
        settings = self._settings.of(line_id)
        if settings.auto_renew is AutoRenewPolicy.OFF:
            self._auto_renew_lines.discard(line_id)
        else:
            self._auto_renew_lines.add(line_id)
        expired = is_expired(line, now)
        renewable = self._provider.renews_expired_lines
        soon = plan_expiring_soon(line, settings, now)
        keep_alive = keep_alive_due(line, settings, now)
        verdict = (
            title,
            soon,
            soon and days_left(line, now),
            expired,
            renewable,
            line.expires_at,
            keep_alive and line.keep_alive_by,
            soon and line.renewal_opens_at,
        )
        if self._verdicts.get(line_id) != verdict:
            self._verdicts[line_id] = verdict
            expired_on = _local_date(line.expires_at)
            opens = line.renewal_opens_at
            self._set(
                issues.IssueKind.LINE_KEEP_ALIVE,
                subentry_id,
                keep_alive,
                {"line": title, "date": _local_date(line.keep_alive_by)},
            )
            # A carrier that renews only within a window: say from when, until it opens.
            self._set(
                issues.IssueKind.LINE_RENEWAL_WINDOW,
                subentry_id,
                soon and opens is not None and opens > now,
                {"line": title, "days": str(days_left(line, now)), "date": _local_date(opens)},
            )
            soon = soon and (opens is None or opens <= now)
            self._set(
                issues.IssueKind.LINE_EXPIRING,
                subentry_id,
                soon,
                {"line": title, "days": str(days_left(line, now))},
            )
            self._set(
                issues.IssueKind.LINE_EXPIRED,
                subentry_id,
                expired and renewable,
                {"line": title, "date": expired_on},
            )
            self._set(
                issues.IssueKind.LINE_EXPIRED_NO_RENEWAL,
                subentry_id,
                expired and not renewable,
                {"line": title, "date": expired_on, "account": self.entry.title},
            )
        if (due := next_change(line, settings, now)) is not None:
            self._due[line_id] = due
            # Only ever moved earlier here: a line whose moment moved later makes one
            # needless check at most, after which the next moment is looked up again.
            if self._next_due is None or due < self._next_due:
                self._next_due = due
        else:
            self._due.pop(line_id, None)
        package = self._catalogue.chosen(line_id, settings.preferred_package, line)
        if _cannot_pay(snapshot, package):
            assert package is not None
            short = f"{title} ({package.price})"
            if self._short.get(line_id) != short:
                self._short[line_id] = short
                self._short_changed = True
        elif self._short.pop(line_id, None) is not None:
            self._short_changed = True

    def _check_wallet(self, snapshot: Snapshot, *, everything: bool) -> None:
        """Raise or clear the account's wallet issue when the wallet or the short lines moved."""
        wallet_moved = snapshot.wallet != self._wallet_seen
        self._wallet_seen = snapshot.wallet
        if not (everything or wallet_moved or self._short_changed):
            return
        self._short_changed = False
        entry_id = self.entry.entry_id
        if self._short and snapshot.wallet is not None:
            short = (self._short[line] for line in self._line_subentries if line in self._short)
            issues.async_create(
                self.hass,
                entry_id,
                issues.IssueKind.WALLET_LOW,
                placeholders={
                    "account": self.entry.title,
                    "balance": str(snapshot.wallet),
                    "lines": ", ".join(short),
                },
            )
        else:
            issues.async_delete(self.hass, entry_id, issues.IssueKind.WALLET_LOW)

    def _set(
        self, kind: issues.IssueKind, subentry_id: str, raised: bool, placeholders: dict[str, str]
    ) -> None:
        """Raise a line's issue, or clear it."""
        if raised:
            issues.async_create(
                self.hass,
                self.entry.entry_id,
                kind,
                subentry_id,
                placeholders=placeholders,
                data={"subentry_id": subentry_id},
            )
        else:
            issues.async_delete(self.hass, self.entry.entry_id, kind, subentry_id)


def _local_date(moment: datetime | None) -> str:
    """Return a moment's local date for an issue's text."""
    return dt_util.as_local(moment).strftime("%Y-%m-%d") if moment else "-"


def next_change(line: Line, settings: LineSettings, now: datetime) -> datetime | None:
    """Return when time alone can next change the line's expiry issues (None: never).

    Its warning period starts, the days left in its warning pass a rounding point, it
    expires, its keep-alive date comes or its renewal window opens. An expired line stays
    expired until a new reading says otherwise.
    """
    if line.status is LineStatus.EXPIRED or (line.expires_at and line.expires_at <= now):
        return None
    moments = [
        moment
        for moment in (
            _next_warning_moment(line.expires_at, settings, now),
            _next_warning_moment(line.keep_alive_by, settings, now),
            line.renewal_opens_at
            if line.renewal_opens_at and line.renewal_opens_at > now
            else None,
        )
        if moment is not None
    ]
    return min(moments, default=None)


def _next_warning_moment(
    expires: datetime | None, settings: LineSettings, now: datetime
) -> datetime | None:
    """Return when time alone next moves a deadline's warning (None: never again)."""
    if expires is None or expires <= now:
        return None
    warning_starts = expires - timedelta(days=settings.expiry_warning_days)
    if warning_starts > now:
        return warning_starts
    # Within the warning: "expires in N days" rounds as days_left does, so N changes when
    # the time left passes N - 0.5 days.
    left = (expires - now) / DAY
    point = math.floor(left - 0.5) + 0.5
    if point >= left:
        point -= 1
    return expires - point * DAY if point > 0 else expires


def _cannot_pay(snapshot: Snapshot, package: Package | None) -> bool:
    """Return True when the account's wallet is below the line's next renewal."""
    return (
        snapshot.wallet is not None
        and package is not None
        and package.price.currency == snapshot.wallet.currency
        and package.price.amount > snapshot.wallet.amount
    )
