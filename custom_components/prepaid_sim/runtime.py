"""What a loaded account keeps at run time."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from homeassistant.config_entries import ConfigEntry

from .autorenew import AutoRenewer
from .catalogue import PackageCatalogue
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
    # The platforms add their line entities one at a time (see entity.async_add_line_entities).
    entity_adds: asyncio.Lock = field(default_factory=asyncio.Lock)


type PrepaidSimConfigEntry = ConfigEntry[PrepaidSimData]
