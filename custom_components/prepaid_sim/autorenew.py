"""Auto-renew: buy a line's package by itself when data runs low or expiry comes near.

Off unless the user turns it on for a line. It only ever asks the renewal engine, so the
spend cap, the repeat window and the exactly-once journal apply as to any other renewal;
on top of that it renews a line at most the chosen number of times a calendar month
(renewals not known to have failed count, whichever account asked). After a failure it
waits until the next day, or until the line or its settings change, instead of retrying
on every refresh. Every auto-renewal, done or failed, is told in a persistent notification
(and, like every renewal, as a ``prepaid_sim_renewal`` event).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from homeassistant.components import persistent_notification
from homeassistant.config_entries import ConfigEntry
from homeassistant.core import HomeAssistant, callback
from homeassistant.exceptions import HomeAssistantError
from homeassistant.util import dt as dt_util

from .alerts import is_expired, is_low_data
from .const import DOMAIN, LOGGER
from .journal import month_start
from .messages import async_message
from .providers.base import Line, Snapshot
from .records import RenewalState
from .renewal import REPEAT_WINDOW, CallerKind, RenewalEngine, Requester
from .settings import AutoRenewPolicy, LineSettings, SettingsReader


def wants_renewal(line: Line, settings: LineSettings, now: datetime) -> bool:
    """Return whether the line's policy asks for a renewal now."""
    low = settings.auto_renew in (AutoRenewPolicy.LOW_DATA, AutoRenewPolicy.LOW_DATA_OR_EXPIRING)
    expiring = settings.auto_renew in (
        AutoRenewPolicy.EXPIRING,
        AutoRenewPolicy.LOW_DATA_OR_EXPIRING,
    )
    if low and is_low_data(line, settings):
        return True
    if expiring and line.expires_at is not None:
        hours_left = (line.expires_at - now).total_seconds() / 3600
        return hours_left <= settings.auto_renew_hours_before_expiry
    return False


@dataclass(frozen=True, slots=True)
class Hold:
    """Why and until when a line's auto-renew waits after a failure."""

    until: datetime
    settings: LineSettings
    # What the line showed when it failed: a change (a renewal made by hand, a new plan)
    # is worth a new try at once.
    line_shown: tuple[object, ...]


def _shown(line: Line) -> tuple[object, ...]:
    """Return the parts of a line whose change lifts a hold."""
    return (line.expires_at, line.data_total_bytes, line.package_id, line.status, line.queued)


def _next_local_day(now: datetime) -> datetime:
    """Return the start of tomorrow in the local time zone."""
    return dt_util.start_of_local_day(dt_util.as_local(now) + timedelta(days=1))


class AutoRenewer:
    """Watch an account's lines after every refresh and renew those whose policy says so."""

    def __init__(
        self,
        hass: HomeAssistant,
        entry: ConfigEntry,
        engine: RenewalEngine,
        settings: SettingsReader,
        line_subentries: Mapping[str, str],
    ) -> None:
        """Watch the lines (id -> subentry id) of ``entry``."""
        self.hass = hass
        self.entry = entry
        self._engine = engine
        self._settings = settings
        self._line_subentries = line_subentries
        self._running: set[str] = set()
        self._held: dict[str, Hold] = {}
        # Lines whose last auto-renewal failed: logged when it starts and when it recovers.
        self._failing: set[str] = set()

    @callback
    def async_check(self, snapshot: Snapshot, line_ids: Iterable[str] | None = None) -> None:
        """Start a renewal for each of ``line_ids`` (every line when None) that needs one."""
        now = dt_util.utcnow()
        for line_id in self._line_subentries if line_ids is None else line_ids:
            line = snapshot.lines.get(line_id)
            if line is None or line_id in self._running or line_id not in self._line_subentries:
                continue
            settings = self._settings.of(line_id)
            if settings.auto_renew is AutoRenewPolicy.OFF or not wants_renewal(line, settings, now):
                continue
            if self._waits(line_id, line, settings, now):
                continue
            self._running.add(line_id)
            self.entry.async_create_background_task(
                self.hass, self._async_renew(line_id, line, settings), f"{DOMAIN} auto-renew"
            )

    def _waits(self, line_id: str, line: Line, settings: LineSettings, now: datetime) -> bool:
        """Return True when the line must not be auto-renewed now (quietly)."""
        hold = self._held.get(line_id)
        if hold is not None:
            if now < hold.until and hold.settings == settings and hold.line_shown == _shown(line):
                return True
            del self._held[line_id]
        if not self._engine.provider.renews_expired_lines and is_expired(line, now):
            # The provider refuses it; the line's repair says what to do instead.
            return True
        key = self._engine.key(line_id)
        this_month = self._engine.journal.this_month(key, month_start())
        if sum(1 for r in this_month if r.caller == CallerKind.AUTO_RENEW) >= (
            settings.auto_renew_max_per_month
        ):
            return True
        # Unsettled, or just renewed (perhaps by another account tracking the line).
        return any(
            record.unsettled
            or (record.state is RenewalState.SUCCEEDED and now - record.created_at < REPEAT_WINDOW)
            for record in this_month
        )

    async def _async_renew(self, line_id: str, line: Line, settings: LineSettings) -> None:
        """Renew one line and tell the user how it went."""
        name = self._engine.line_name(line_id)
        try:
            result = await self._engine.async_renew(
                line_id, requester=Requester(kind=CallerKind.AUTO_RENEW)
            )
        except HomeAssistantError as err:
            now = dt_util.utcnow()
            self._held[line_id] = Hold(_next_local_day(now), settings, _shown(line))
            if line_id not in self._failing:
                LOGGER.warning("Auto-renew of %s did not happen: %s", name, err)
                self._failing.add(line_id)
            else:
                LOGGER.debug("Auto-renew of %s failed again: %s", name, err)
            await self._async_notify(line_id, name, "auto_renew_failed", {"error": str(err)})
        else:
            self._held.pop(line_id, None)
            if line_id in self._failing:
                LOGGER.info("Auto-renew of %s works again", name)
                self._failing.discard(line_id)
            await self._async_notify(
                line_id,
                name,
                "auto_renew_done",
                {"package": result.package_name, "price": str(result.price)},
            )
        finally:
            self._running.discard(line_id)

    async def _async_notify(
        self, line_id: str, name: str, key: str, placeholders: dict[str, str]
    ) -> None:
        """Show a persistent notification in the user's language."""
        language = self.hass.config.language
        values = {"line": name, **placeholders}
        persistent_notification.async_create(
            self.hass,
            await async_message(self.hass, language, key, **values),
            title=await async_message(self.hass, language, f"{key}_title", **values),
            notification_id=f"{DOMAIN}_auto_renew_{self._line_subentries[line_id]}",
        )
