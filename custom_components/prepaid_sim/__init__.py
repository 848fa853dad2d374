"""The Prepaid SIM integration: keep prepaid data lines alive."""

from __future__ import annotations

from datetime import datetime
from functools import partial
from typing import Any

from homeassistant.const import Platform
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import config_validation as cv, issue_registry as ir
from homeassistant.helpers.aiohttp_client import async_get_clientsession
from homeassistant.helpers.event import async_track_time_interval
from homeassistant.helpers.typing import ConfigType

from .autorenew import AutoRenewer
from .const import CONF_PROVIDER, DOMAIN
from .coordinator import (
    PrepaidSimConfigEntry,
    PrepaidSimCoordinator,
    PrepaidSimData,
    tracked_line_ids,
    usage_store,
)
from .new_lines import CHECK_INTERVAL as NEW_LINE_CHECK_INTERVAL, NewLineWatcher
from .providers import PROVIDERS
from .providers.base import Snapshot
from .renewal import RenewalManager, journal_store
from .repairs import async_update_issues
from .services import async_setup_services

PLATFORMS: list[Platform] = [
    Platform.BINARY_SENSOR,
    Platform.BUTTON,
    Platform.SELECT,
    Platform.SENSOR,
]

CONFIG_SCHEMA = cv.config_entry_only_config_schema(DOMAIN)


async def async_setup(hass: HomeAssistant, config: ConfigType) -> bool:
    """Register the integration's actions once, for every account."""
    async_setup_services(hass)
    return True


async def async_setup_entry(hass: HomeAssistant, entry: PrepaidSimConfigEntry) -> bool:
    """Set up one account: its provider client, coordinator and renewal journal."""
    spec = PROVIDERS[entry.data[CONF_PROVIDER]]
    lines = {
        line_id: entry.subentries[subentry_id].data
        for line_id, subentry_id in tracked_line_ids(entry).items()
    }
    provider = spec.create(async_get_clientsession(hass), entry.data, lines)
    provider.line_saver = partial(_save_line, hass, entry)
    coordinator = PrepaidSimCoordinator(hass, entry, provider, spec)
    renewals = RenewalManager(hass, entry, provider, coordinator)
    entry.runtime_data = PrepaidSimData(
        spec=spec,
        provider=provider,
        coordinator=coordinator,
        renewals=renewals,
        new_lines=NewLineWatcher(hass, entry),
        loaded_with=(frozenset(entry.subentries), dict(entry.data)),
    )
    await coordinator.async_config_entry_first_refresh()
    # Orders whose answer was lost before a stop are settled before anything new is sent.
    await renewals.async_load()
    entry.async_on_unload(renewals.async_shutdown)
    await hass.config_entries.async_forward_entry_setups(entry, PLATFORMS)
    auto_renewer = AutoRenewer(hass, entry)

    # What the checks last saw: a snapshot and the coordinator's local revision.
    checked: tuple[Snapshot, int] | None = None

    @callback
    def _check(snapshot: Snapshot) -> None:
        """Raise or clear repair issues and run auto-renew."""
        nonlocal checked
        checked = (snapshot, coordinator.local_revision)
        async_update_issues(hass, entry, snapshot)
        auto_renewer.async_check(snapshot)

    @callback
    def _check_unless_seen() -> None:
        """Check again for a change of settings, receipts or packages (not for a fetch)."""
        if checked != (coordinator.data, coordinator.local_revision):
            _check(coordinator.data)

    # After every fetch, changed or not (expiry comes closer while the data stays the
    # same), and after every other change the entities are told about.
    entry.async_on_unload(coordinator.async_add_fetch_hook(_check))
    entry.async_on_unload(coordinator.async_add_listener(_check_unless_seen))
    _check(coordinator.data)
    entry.async_on_unload(entry.add_update_listener(_async_entry_changed))
    # Package lists feed the selects and suggestions; read them without delaying setup.
    entry.async_create_background_task(hass, renewals.async_load_catalogues(), f"{DOMAIN} packages")
    # New lines on the account are offered for adding: at start and twice a day.
    watcher = entry.runtime_data.new_lines
    entry.async_create_background_task(hass, watcher.async_check(), f"{DOMAIN} new lines")

    async def _async_check_new_lines(_now: datetime) -> None:
        await watcher.async_check()

    entry.async_on_unload(
        async_track_time_interval(hass, _async_check_new_lines, NEW_LINE_CHECK_INTERVAL)
    )
    return True


@callback
def _save_line(
    hass: HomeAssistant, entry: PrepaidSimConfigEntry, line_id: str, changes: dict[str, Any]
) -> None:
    """Save a provider's changes to a line's stored definition (no reload follows)."""
    if (subentry_id := tracked_line_ids(entry).get(line_id)) is not None:
        subentry = entry.subentries[subentry_id]
        hass.config_entries.async_update_subentry(
            entry, subentry, data={**subentry.data, **changes}
        )


async def _async_entry_changed(hass: HomeAssistant, entry: PrepaidSimConfigEntry) -> None:
    """Reload for new credentials or lines; apply a line's new settings in place."""
    if (frozenset(entry.subentries), dict(entry.data)) != entry.runtime_data.loaded_with:
        hass.config_entries.async_schedule_reload(entry.entry_id)
    else:
        entry.runtime_data.coordinator.async_local_update()


async def async_unload_entry(hass: HomeAssistant, entry: PrepaidSimConfigEntry) -> bool:
    """Unload an account, and drop its issues: a removed line or account leaves none behind.

    The issues named after the account (expiring, missing and new lines, a low wallet) are
    raised again by the next load while they still hold.
    """
    unloaded = await hass.config_entries.async_unload_platforms(entry, PLATFORMS)
    if unloaded:
        for domain, issue_id in list(ir.async_get(hass).issues):
            if domain == DOMAIN and entry.entry_id in issue_id:
                ir.async_delete_issue(hass, DOMAIN, issue_id)
    return unloaded


async def async_remove_entry(hass: HomeAssistant, entry: PrepaidSimConfigEntry) -> None:
    """Delete the account's renewal journal, usage history and known lines with it."""
    await journal_store(hass, entry.entry_id).async_remove()
    await usage_store(hass, entry.entry_id).async_remove()
    await NewLineWatcher(hass, entry).async_remove()
