"""What a loaded account keeps at run time, and the account's tracked lines."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from homeassistant.config_entries import ConfigEntry

from .autorenew import AutoRenewer
from .catalogue import PackageCatalogue
from .const import CONF_LINE_ID, SUBENTRY_TYPE_LINE
from .coordinator import PrepaidSimCoordinator
from .journal import Journal
from .new_lines import NewLineWatcher
from .providers import ProviderSpec
from .providers.base import Provider
from .renewal import RenewalEngine
from .settings import SettingsReader


@dataclass(kw_only=True, slots=True)
class PrepaidSimData:
    """The loaded parts of one account."""

    spec: ProviderSpec
    provider: Provider
    coordinator: PrepaidSimCoordinator
    catalogue: PackageCatalogue
    settings: SettingsReader
    journal: Journal
    renewals: RenewalEngine
    auto_renewer: AutoRenewer
    new_lines: NewLineWatcher
    # Tracked line id -> its subentry id; fixed while loaded (adding or removing a line
    # reloads the account).
    line_subentries: Mapping[str, str]
    # The lines and credentials set up at load: changing them needs a reload; changing a
    # line's settings does not.
    loaded_with: tuple[frozenset[str], dict[str, Any]]


type PrepaidSimConfigEntry = ConfigEntry[PrepaidSimData]


def tracked_line_ids(entry: ConfigEntry) -> dict[str, str]:
    """Map each line the account tracks to the id of its subentry."""
    return {
        subentry.data[CONF_LINE_ID]: subentry_id
        for subentry_id, subentry in entry.subentries.items()
        if subentry.subentry_type == SUBENTRY_TYPE_LINE
    }
