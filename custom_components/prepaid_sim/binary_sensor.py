"""Binary sensors of a line: low data, expiring soon, renewal problem."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, override

from homeassistant.components.binary_sensor import BinarySensorEntity, BinarySensorEntityDescription
from homeassistant.components.binary_sensor.const import BinarySensorDeviceClass
from homeassistant.core import CALLBACK_TYPE, HomeAssistant, callback
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback
from homeassistant.helpers.event import async_track_point_in_utc_time
from homeassistant.util import dt as dt_util

from .alerts import deadline, expiring_soon, is_low_data
from .entity import LineEntityDescription, PrepaidSimLineEntity, async_add_line_entities
from .providers.base import Line
from .records import RenewalState
from .renewal import RenewalEngine
from .runtime import PrepaidSimConfigEntry
from .settings import LineSettings

PARALLEL_UPDATES = 0


@dataclass(frozen=True, kw_only=True)
class PrepaidSimBinarySensorEntityDescription(BinarySensorEntityDescription, LineEntityDescription):
    """Describes a line binary sensor."""

    is_on_fn: Callable[[Line, LineSettings, RenewalEngine], bool | None]
    # When the state flips by the clock alone (no new data), if it does.
    changes_at_fn: Callable[[Line, LineSettings], datetime | None] | None = None


def _renewal_problem(line: Line, settings: LineSettings, renewals: RenewalEngine) -> bool:
    """Return whether the line's last renewal needs attention.

    A renewal in flight, or an order the provider is still processing, is no problem;
    a lost answer, an unconfirmed charge, a failure or a renewal that never arrived is.
    """
    record = renewals.last_record(line.line_id)
    if record is None:
        return False
    if record.state is RenewalState.PENDING:
        return record.answer_lost
    return (
        record.state in (RenewalState.UNCONFIRMED, RenewalState.FAILED) or record.verified is False
    )


def _expiring_changes_at(line: Line, settings: LineSettings) -> datetime | None:
    """Return when Expiring soon flips by the clock: its warning starts, or the plan ends."""
    if (moment := deadline(line)) is None:
        return None
    starts = moment - timedelta(days=settings.expiry_warning_days)
    if starts > dt_util.utcnow():
        return starts
    # A keep-alive date passed while the plan runs on: the plan's end turns the alert off.
    return moment if moment > dt_util.utcnow() else line.expires_at


BINARY_SENSORS: tuple[PrepaidSimBinarySensorEntityDescription, ...] = (
    PrepaidSimBinarySensorEntityDescription(
        key="low_data",
        translation_key="low_data",
        is_on_fn=lambda line, settings, _: is_low_data(line, settings),
        # A usage-only move changes the alert only when it crosses the threshold.
        usage_key_fn=lambda line, data: is_low_data(line, data.settings.of(line.line_id)),
        essential=True,
    ),
    PrepaidSimBinarySensorEntityDescription(
        key="expiring_soon",
        translation_key="expiring_soon",
        is_on_fn=lambda line, settings, _: expiring_soon(line, settings, dt_util.utcnow()),
        changes_at_fn=_expiring_changes_at,
        essential=True,
        ignores_usage=True,
    ),
    PrepaidSimBinarySensorEntityDescription(
        key="renewal_problem",
        translation_key="renewal_problem",
        device_class=BinarySensorDeviceClass.PROBLEM,
        is_on_fn=_renewal_problem,
        ignores_usage=True,
    ),
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: PrepaidSimConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the binary sensors of every tracked line."""
    await async_add_line_entities(
        entry,
        async_add_entities,
        lambda data, subentry: (
            PrepaidSimBinarySensor(data, subentry, description) for description in BINARY_SENSORS
        ),
    )


class PrepaidSimBinarySensor(PrepaidSimLineEntity, BinarySensorEntity):
    """An alert about one line."""

    entity_description: PrepaidSimBinarySensorEntityDescription
    _cancel_timer: CALLBACK_TYPE | None = None
    # When the armed timer fires; None exactly when no timer is armed.
    _timer_at: datetime | None = None

    @override
    async def async_added_to_hass(self) -> None:
        """Start watching the clock as well as the coordinator."""
        await super().async_added_to_hass()
        self.async_on_remove(self._cancel_clock)
        self._watch_clock()

    @override
    def _inputs_changed(self) -> None:
        """Move the clock watch to the flip time of the new line or settings."""
        self._watch_clock()

    @callback
    def _watch_clock(self) -> None:
        """Re-evaluate when the state flips by time alone (an expiry warning starts)."""
        when: datetime | None = None
        changes_at = self.entity_description.changes_at_fn
        if changes_at is not None and (line := self.line) is not None:
            when = changes_at(line, self.settings)
            if when is not None and when <= dt_util.utcnow():
                when = None
        if when == self._timer_at:
            # Most refreshes leave the flip time where it was: the armed timer stays.
            return
        self._cancel_clock()
        if when is not None:
            self._cancel_timer = async_track_point_in_utc_time(self.hass, self._clock_reached, when)
            self._timer_at = when

    @callback
    def _clock_reached(self, _now: datetime) -> None:
        """Write the state the clock changed."""
        self._cancel_timer = None
        self._timer_at = None
        self.async_write_ha_state()

    @callback
    def _cancel_clock(self) -> None:
        """Stop the clock watch."""
        if self._cancel_timer is not None:
            self._cancel_timer()
            self._cancel_timer = None
        self._timer_at = None

    @property
    @override
    def is_on(self) -> bool | None:
        """Return whether the line needs attention."""
        if (line := self.line) is None:
            return None
        return self._is_on(line)

    def _is_on(self, line: Line) -> bool | None:
        """Return whether the line needs attention, by the description's rule."""
        return self.entity_description.is_on_fn(line, self.settings, self.data.renewals)

    @override
    def _shows(self) -> tuple[Any, ...]:
        """Return availability and the on/off state: all a binary sensor here shows."""
        if (line := self._shown_line()) is None:
            return (False,)
        return (True, self._is_on(line))
