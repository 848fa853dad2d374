"""Auto-renew: buy a line's package by itself when data runs low or expiry comes near.

Off unless the user turns it on for a line. It only ever asks the renewal manager, so the
spend cap, the repeat window and the exactly-once journal apply as to any other renewal;
on top of that it renews a line at most the chosen number of times a calendar month.
Every auto-renewal, done or failed, is told in a persistent notification (and, like every
renewal, as a ``prepaid_sim_renewal`` event).
"""

from __future__ import annotations

from homeassistant.components import persistent_notification
from homeassistant.core import HomeAssistant, callback
from homeassistant.exceptions import HomeAssistantError
from homeassistant.util import dt as dt_util

from .alerts import is_low_data
from .const import DOMAIN, LOGGER
from .coordinator import PrepaidSimConfigEntry, tracked_line_ids
from .messages import async_message
from .providers.base import Line, Snapshot
from .renewal import Caller, RenewalState
from .settings import AutoRenewPolicy, LineSettings


def _wants_renewal(line: Line, settings: LineSettings) -> bool:
    """Return whether the line's policy asks for a renewal now."""
    low = settings.auto_renew in (AutoRenewPolicy.LOW_DATA, AutoRenewPolicy.LOW_DATA_OR_EXPIRING)
    expiring = settings.auto_renew in (
        AutoRenewPolicy.EXPIRING,
        AutoRenewPolicy.LOW_DATA_OR_EXPIRING,
    )
    if low and is_low_data(line, settings):
        return True
    if expiring and line.expires_at is not None:
        hours_left = (line.expires_at - dt_util.utcnow()).total_seconds() / 3600
        return hours_left <= settings.auto_renew_hours_before_expiry
    return False


class AutoRenewer:
    """Watch an account's lines after every refresh and renew those whose policy says so."""

    def __init__(self, hass: HomeAssistant, entry: PrepaidSimConfigEntry) -> None:
        """Watch ``entry``."""
        self.hass = hass
        self.entry = entry
        self._running: set[str] = set()

    @callback
    def async_check(self, snapshot: Snapshot) -> None:
        """Start a renewal for every line that needs one (called after each refresh)."""
        data = self.entry.runtime_data
        for line_id in tracked_line_ids(self.entry):
            line = snapshot.lines.get(line_id) if snapshot else None
            if line is None or line_id in self._running:
                continue
            settings = data.renewals.settings(line_id)
            if settings.auto_renew is AutoRenewPolicy.OFF or not _wants_renewal(line, settings):
                continue
            if self._renewals_this_month(line_id) >= settings.auto_renew_max_per_month:
                continue
            self._running.add(line_id)
            self.entry.async_create_background_task(
                self.hass, self._async_renew(line_id), f"{DOMAIN} auto-renew {line_id}"
            )

    def _renewals_this_month(self, line_id: str) -> int:
        """Count this calendar month's auto-renewals of the line that were not refused."""
        month_start = dt_util.start_of_local_day().replace(day=1)
        return sum(
            1
            for record in self.entry.runtime_data.renewals.records
            if record.line_id == line_id
            and record.caller == Caller.AUTO_RENEW
            and record.state != RenewalState.FAILED
            and record.created >= month_start
        )

    async def _async_renew(self, line_id: str) -> None:
        """Renew one line and tell the user how it went."""
        renewals = self.entry.runtime_data.renewals
        try:
            result = await renewals.async_renew(line_id, caller=Caller.AUTO_RENEW)
        except HomeAssistantError as err:
            LOGGER.warning("Auto-renew of %s did not happen: %s", line_id, err)
            await self._async_notify(line_id, "auto_renew_failed", {"error": str(err)})
        else:
            await self._async_notify(
                line_id,
                "auto_renew_done",
                {
                    "package": result["package"]["name"],
                    "price": f"{result['price']:.2f} {result['currency']}",
                },
            )
        finally:
            self._running.discard(line_id)

    async def _async_notify(self, line_id: str, key: str, placeholders: dict[str, str]) -> None:
        """Show a persistent notification in the user's language."""
        language = self.hass.config.language
        name = self.entry.subentries[tracked_line_ids(self.entry)[line_id]].title
        values = {"line": name, **placeholders}
        persistent_notification.async_create(
            self.hass,
            await async_message(self.hass, language, key, **values),
            title=await async_message(self.hass, language, f"{key}_title", **values),
            notification_id=f"{DOMAIN}_auto_renew_{line_id}",
        )
