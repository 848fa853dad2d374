"""Which provider lines each account tracks: its own, and those other accounts track."""

from __future__ import annotations

from homeassistant.config_entries import ConfigEntry
from homeassistant.core import HomeAssistant

from .const import CONF_LINE_ID, CONF_PROVIDER, DOMAIN, SUBENTRY_TYPE_LINE
from .records import line_key


def tracked_line_ids(entry: ConfigEntry) -> dict[str, str]:
    """Map each line the account tracks to the id of its subentry."""
    return {
        subentry.data[CONF_LINE_ID]: subentry_id
        for subentry_id, subentry in entry.subentries.items()
        if subentry.subentry_type == SUBENTRY_TYPE_LINE
    }


def lines_tracked_elsewhere(
    hass: HomeAssistant, provider_key: str, entry_id: str | None = None
) -> dict[str, ConfigEntry]:
    """Return the provider lines (by ``line_key``) other entries track, with the entry.

    Every entry counts, loaded or not (failed, disabled): a line tracked twice would be
    polled, alerted on and renewed from two accounts.
    """
    return {
        line_key(provider_key, line_id): other
        for other in hass.config_entries.async_entries(DOMAIN)
        if other.entry_id != entry_id and other.data.get(CONF_PROVIDER) == provider_key
        for line_id in tracked_line_ids(other)
    }
