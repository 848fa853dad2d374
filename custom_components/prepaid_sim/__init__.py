"""The Prepaid SIM integration: keep prepaid data lines alive."""

from __future__ import annotations

from homeassistant.const import Platform
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import ConfigEntryError
from homeassistant.helpers import config_validation as cv
from homeassistant.helpers.aiohttp_client import async_get_clientsession
from homeassistant.helpers.typing import ConfigType

from . import issues
from .autorenew import AutoRenewer
from .catalogue import PackageCatalogue
from .checks import RefreshChecks
from .const import CONF_PROVIDER, DOMAIN
from .coordinator import PrepaidSimCoordinator, usage_store
from .demo_memory import async_remember_demo_carrier
from .journal import async_get_journal
from .listeners import LineSaver, ReceiptsShower, async_entry_changed
from .manual_sources import async_feed_manual_lines, meters_store
from .new_lines import NewLineWatcher, known_lines_store
from .providers import PROVIDERS
from .providers.demo import DemoProvider
from .providers.urls import BaseUrlError
from .renewal import RenewalEngine
from .runtime import PrepaidSimConfigEntry, PrepaidSimData
from .services import async_setup_services
from .settings import SettingsReader
from .spend_statistics import SpendStatistics
from .tracking import lines_tracked_elsewhere, tracked_line_ids

PLATFORMS: list[Platform] = [
    Platform.BINARY_SENSOR,
    Platform.BUTTON,
    Platform.CALENDAR,
    Platform.SELECT,
    Platform.SENSOR,
]

CONFIG_SCHEMA = cv.config_entry_only_config_schema(DOMAIN)


async def async_setup(hass: HomeAssistant, config: ConfigType) -> bool:
    """Register the integration's actions once, for every account."""
    async_setup_services(hass)
    return True


async def async_setup_entry(hass: HomeAssistant, entry: PrepaidSimConfigEntry) -> bool:
    """Set up one account: its client, coordinator, renewal engine and checks."""
    spec = PROVIDERS[entry.data[CONF_PROVIDER]]
    line_subentries = tracked_line_ids(entry)
    try:
        provider = spec.create(
            async_get_clientsession(hass),
            entry.data,
            {line_id: entry.subentries[sub].data for line_id, sub in line_subentries.items()},
        )
    except BaseUrlError as err:
        # Saved before addresses were checked (or edited by hand): the credentials are
        # not sent there; Reconfigure corrects it.
        raise ConfigEntryError(
            translation_domain=DOMAIN,
            translation_key="invalid_base_url",
            translation_placeholders={"account": entry.title},
        ) from err
    provider.line_saver = LineSaver(hass, entry, line_subentries)
    if isinstance(provider, DemoProvider):
        await async_remember_demo_carrier(hass, provider.backend)
    journal = await async_get_journal(hass)
    # Journals of version 1 were one per account; they join the shared one once.
    await journal.async_import_legacy(entry.entry_id, spec.key)
    coordinator = PrepaidSimCoordinator(hass, entry, provider, spec, line_subentries)
    catalogue = PackageCatalogue(provider, coordinator.async_local_update)
    settings = SettingsReader(lambda: entry.subentries, line_subentries)
    renewals = RenewalEngine(
        hass,
        entry,
        provider=provider,
        provider_key=spec.key,
        coordinator=coordinator,
        catalogue=catalogue,
        settings=settings,
        journal=journal,
        line_subentries=line_subentries,
    )
    auto_renewer = AutoRenewer(hass, entry, renewals, settings, line_subentries)
    entry.runtime_data = data = PrepaidSimData(
        spec=spec,
        provider=provider,
        coordinator=coordinator,
        catalogue=catalogue,
        settings=settings,
        journal=journal,
        renewals=renewals,
        auto_renewer=auto_renewer,
        new_lines=NewLineWatcher(hass, entry, provider, line_subentries.keys()),
        line_subentries=line_subentries,
        loaded_with=(frozenset(entry.subentries), dict(entry.data)),
    )
    # Sensors, balance messages and renewal mails feed hand-kept lines.
    await async_feed_manual_lines(hass, entry, provider, renewals, coordinator)
    await coordinator.async_config_entry_first_refresh()
    # Receipts written by any account (one tracking the same line too) show at once.
    entry.async_on_unload(journal.add_listener(ReceiptsShower(coordinator, renewals)))
    if "recorder" in hass.config.components:
        # What renewals cost over time, as long-term statistics: kept up with the receipts,
        # and caught up now with those written while Home Assistant kept no statistics.
        statistics = SpendStatistics(hass, entry, journal, renewals, line_subentries)
        entry.async_on_unload(journal.add_listener(statistics))
        statistics.async_schedule()
    await hass.config_entries.async_forward_entry_setups(entry, PLATFORMS)
    RefreshChecks(
        hass,
        entry,
        provider=provider,
        coordinator=coordinator,
        catalogue=catalogue,
        settings=settings,
        auto_renewer=auto_renewer,
        line_subentries=line_subentries,
    ).async_start()
    entry.async_on_unload(entry.add_update_listener(async_entry_changed))
    # Renewals left unsettled or unverified by a stop or reload are taken up first; their
    # records already refuse new renewals of their lines meanwhile.
    entry.async_create_background_task(hass, renewals.async_resume(), f"{DOMAIN} resume")
    # Package lists feed the selects and suggestions; read them without delaying setup.
    entry.async_create_background_task(
        hass, catalogue.async_read_all(line_subentries), f"{DOMAIN} packages"
    )
    data.new_lines.async_start()
    return True


async def async_unload_entry(hass: HomeAssistant, entry: PrepaidSimConfigEntry) -> bool:
    """Unload an account once no renewal of it is in flight; drop its issues.

    The issues still true are raised again by the next load.
    """
    renewals = entry.runtime_data.renewals
    await renewals.async_drain()
    unloaded = await hass.config_entries.async_unload_platforms(entry, PLATFORMS)
    if unloaded:
        issues.async_delete_entry_issues(hass, entry.entry_id)
    else:
        renewals.async_reopen()
    return unloaded


async def async_remove_entry(hass: HomeAssistant, entry: PrepaidSimConfigEntry) -> None:
    """Delete the account's receipts, usage history and known lines with it.

    Receipts that still guard money (an unsettled renewal, this month's spend) stay with
    their provider line, for an account added again or another account tracking it.
    """
    provider_key = entry.data[CONF_PROVIDER]
    elsewhere = set(lines_tracked_elsewhere(hass, provider_key, entry.entry_id))
    journal = await async_get_journal(hass)
    await journal.async_import_legacy(entry.entry_id, provider_key)
    await journal.async_forget_entry(entry.entry_id, elsewhere)
    await usage_store(hass, entry.entry_id).async_remove()
    await meters_store(hass, entry.entry_id).async_remove()
    await known_lines_store(hass, entry.entry_id).async_remove()
    issues.async_delete_entry_issues(hass, entry.entry_id)
