"""Sensors of a line: data, balance, expiry and status."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, override

from homeassistant.components.sensor import (
    SensorDeviceClass,
    SensorEntity,
    SensorEntityDescription,
    SensorStateClass,
)
from homeassistant.const import UnitOfInformation

from .const import SUBENTRY_TYPE_LINE
from .entity import PrepaidSimLineEntity
from .providers.base import Line, LineStatus, Money, Snapshot

if TYPE_CHECKING:
    from collections.abc import Callable
    from datetime import datetime
    from decimal import Decimal

    from homeassistant.core import HomeAssistant
    from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback
    from homeassistant.helpers.typing import StateType

    from .coordinator import PrepaidSimConfigEntry

# Entities only read the coordinator's snapshot.
PARALLEL_UPDATES = 0


def _balance(line: Line, snapshot: Snapshot) -> Money | None:
    """Return the line's own credit, or else the account wallet that pays for it."""
    return line.balance or snapshot.wallet


@dataclass(frozen=True, kw_only=True)
class PrepaidSimSensorEntityDescription(SensorEntityDescription):
    """Describes a line sensor."""

    value_fn: Callable[[Line, Snapshot], StateType | datetime | Decimal]
    unit_fn: Callable[[Line, Snapshot], str | None] | None = None


def _data_size(
    key: str,
    value_fn: Callable[[Line, Snapshot], StateType],
    state_class: SensorStateClass | None = None,
) -> PrepaidSimSensorEntityDescription:
    """Describe a data-size sensor: bytes natively, shown in binary gigabytes."""
    return PrepaidSimSensorEntityDescription(
        key=key,
        translation_key=key,
        device_class=SensorDeviceClass.DATA_SIZE,
        state_class=state_class,
        native_unit_of_measurement=UnitOfInformation.BYTES,
        # Carriers sell binary gigabytes ("1 GB" = 1024 MB).
        suggested_unit_of_measurement=UnitOfInformation.GIBIBYTES,
        suggested_display_precision=2,
        value_fn=value_fn,
    )


SENSORS: tuple[PrepaidSimSensorEntityDescription, ...] = (
    _data_size(
        "data_remaining", lambda line, _: line.data_remaining_bytes, SensorStateClass.MEASUREMENT
    ),
    # Total-increasing: a renewal that starts a new allowance reads as a meter reset.
    _data_size(
        "data_used", lambda line, _: line.data_used_bytes, SensorStateClass.TOTAL_INCREASING
    ),
    _data_size("data_total", lambda line, _: line.data_total_bytes),
    PrepaidSimSensorEntityDescription(
        key="balance",
        translation_key="balance",
        device_class=SensorDeviceClass.MONETARY,
        suggested_display_precision=2,
        value_fn=lambda line, snapshot: (
            money.amount if (money := _balance(line, snapshot)) else None
        ),
        unit_fn=lambda line, snapshot: (
            money.currency if (money := _balance(line, snapshot)) else None
        ),
    ),
    PrepaidSimSensorEntityDescription(
        key="plan_expiry",
        translation_key="plan_expiry",
        device_class=SensorDeviceClass.TIMESTAMP,
        value_fn=lambda line, _: line.expires_at,
    ),
    PrepaidSimSensorEntityDescription(
        key="status",
        translation_key="status",
        device_class=SensorDeviceClass.ENUM,
        options=[status.value for status in LineStatus],
        value_fn=lambda line, _: line.status.value,
    ),
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: PrepaidSimConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the sensors of every tracked line."""
    coordinator = entry.runtime_data.coordinator
    for subentry_id, subentry in entry.subentries.items():
        if subentry.subentry_type != SUBENTRY_TYPE_LINE:
            continue
        async_add_entities(
            (PrepaidSimSensor(coordinator, subentry, description) for description in SENSORS),
            config_subentry_id=subentry_id,
        )


class PrepaidSimSensor(PrepaidSimLineEntity, SensorEntity):
    """A sensor reading one value of a line."""

    entity_description: PrepaidSimSensorEntityDescription

    @property
    @override
    def native_value(self) -> StateType | datetime | Decimal:
        """Return the value from the latest snapshot."""
        if (line := self.line) is None:
            return None
        return self.entity_description.value_fn(line, self.coordinator.data)

    @property
    @override
    def native_unit_of_measurement(self) -> str | None:
        """Return the unit; the balance takes the currency the provider reports."""
        if self.entity_description.unit_fn is None:
            return super().native_unit_of_measurement
        if (line := self.line) is None:
            return None
        return self.entity_description.unit_fn(line, self.coordinator.data)
