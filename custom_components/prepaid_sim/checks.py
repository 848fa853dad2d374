"""What each refresh checks besides the entities: expiry and wallet issues, and auto-renew.

Runs after every fetch, changed or not (expiry comes closer while the data stays the same),
and after every other change the entities are told about (settings, receipts, package
lists), but not twice for the same inputs.
"""

from __future__ import annotations

from collections.abc import Mapping

from homeassistant.config_entries import ConfigEntry
from homeassistant.core import HomeAssistant, callback
from homeassistant.util import dt as dt_util

from . import issues
from .alerts import days_left, expiring_soon, is_expired
from .autorenew import AutoRenewer
from .catalogue import PackageCatalogue
from .coordinator import PrepaidSimCoordinator
from .providers.base import Package, Provider, Snapshot
from .settings import SettingsReader


class RefreshChecks:
    """Raise or clear an account's line issues and run auto-renew, per refresh."""

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
        # What the checks last saw: a snapshot and the coordinator's local revision.
        self._checked: tuple[Snapshot, int] | None = None

    @callback
    def async_start(self) -> None:
        """Check now, after every fetch, and after every other change."""
        coordinator = self._coordinator
        self.entry.async_on_unload(coordinator.async_add_fetch_hook(self.async_check))
        self.entry.async_on_unload(coordinator.async_add_listener(self._async_check_unless_seen))
        self.async_check(coordinator.data)

    @callback
    def _async_check_unless_seen(self) -> None:
        """Check again for a change of settings, receipts or packages (not for a fetch)."""
        coordinator = self._coordinator
        if self._checked != (coordinator.data, coordinator.local_revision):
            self.async_check(coordinator.data)

    @callback
    def async_check(self, snapshot: Snapshot) -> None:
        """Raise or clear issues from a snapshot, then run auto-renew."""
        self._checked = (snapshot, self._coordinator.local_revision)
        self._check_issues(snapshot)
        self._auto_renewer.async_check(snapshot)

    def _check_issues(self, snapshot: Snapshot) -> None:
        """Raise or clear the expiry issues of each line and the account's wallet issue."""
        entry_id = self.entry.entry_id
        now = dt_util.utcnow()
        wallet_short: list[str] = []
        for line_id, subentry_id in self._line_subentries.items():
            line = snapshot.lines.get(line_id)
            if line is None:
                continue
            title = self.entry.subentries[subentry_id].title
            settings = self._settings.of(line_id)
            expired = is_expired(line, now)
            renewable = self._provider.renews_expired_lines
            self._set(
                issues.IssueKind.LINE_EXPIRING,
                subentry_id,
                bool(expiring_soon(line, settings, now)),
                {"line": title, "days": str(days_left(line, now))},
            )
            expired_on = (
                dt_util.as_local(line.expires_at).strftime("%Y-%m-%d") if line.expires_at else "-"
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
            package = self._catalogue.chosen(line_id, settings.preferred_package, line)
            if _cannot_pay(snapshot, package):
                assert package is not None
                wallet_short.append(f"{title} ({package.price})")
        if wallet_short and snapshot.wallet is not None:
            issues.async_create(
                self.hass,
                entry_id,
                issues.IssueKind.WALLET_LOW,
                placeholders={
                    "account": self.entry.title,
                    "balance": str(snapshot.wallet),
                    "lines": ", ".join(wallet_short),
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


def _cannot_pay(snapshot: Snapshot, package: Package | None) -> bool:
    """Return True when the account's wallet is below the line's next renewal."""
    return (
        snapshot.wallet is not None
        and package is not None
        and package.price.currency == snapshot.wallet.currency
        and package.price.amount > snapshot.wallet.amount
    )
