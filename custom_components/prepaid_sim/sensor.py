"""Sensors: each line's data, balance, expiry and status, and each account's spend."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, override

from homeassistant.components.sensor import (
    SensorDeviceClass,
    SensorEntity,
    SensorEntityDescription,
    SensorStateClass,
)
from homeassistant.const import EntityCategory, UnitOfInformation
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback
from homeassistant.helpers.typing import StateType
from homeassistant.util import dt as dt_util

from .data_units import display_unit
from .entity import LineEntityDescription, PrepaidSimLineEntity, async_add_line_entities
from .providers.base import Line, LineStatus, Money
from .runtime import PrepaidSimConfigEntry, PrepaidSimData
from .spend_sensor import SpentThisMonthSensor

# Entities only read the coordinator's snapshot.
PARALLEL_UPDATES = 0


def _balance(line: Line, data: PrepaidSimData) -> Money | None:
    """Return the line's own credit, or else the account wallet that pays for it."""
    return line.balance or data.coordinator.data.wallet


def _suggested_package(line: Line, data: PrepaidSimData) -> str | None:
    """Return the name of the package that covers the forecast use until expiry."""
    packages = data.catalogue.cached(line.line_id)
    package = data.coordinator.history.suggest(line, packages or [], dt_util.utcnow())
    return package.name if package else None


def _forecast_inputs(line: Line, data: PrepaidSimData) -> tuple[float, int | None] | None:
    """Return what a usage-only move changes of the forecast: none while it is unknown."""
    rate = data.coordinator.history.rate(line.line_id)
    return None if rate is None else (rate, line.data_remaining_bytes)


def _last_renewal(line: Line, data: PrepaidSimData) -> datetime | None:
    """Return when the line's latest renewal was asked for."""
    record = data.renewals.last_record(line.line_id)
    return record.created_at if record else None


def _last_renewal_receipt(line: Line, data: PrepaidSimData) -> dict[str, Any]:
    """Return the latest receipt's details."""
    record = data.renewals.last_record(line.line_id)
    if record is None:
        return {}
    return {
        "package": record.package_name,
        "price": float(record.price.amount),
        "currency": record.price.currency,
        "order_id": record.order_id,
        "outcome": record.state.value,
        "caller": record.caller,
    }


def _queued(line: Line, data: PrepaidSimData) -> dict[str, Any]:
    """Return the packages queued to start when the current plan ends."""
    return {"packages": [topup.name for topup in line.queued if topup.name]}


@dataclass(frozen=True, kw_only=True)
class PrepaidSimSensorEntityDescription(SensorEntityDescription, LineEntityDescription):
    """Describes a line sensor."""

    value_fn: Callable[[Line, PrepaidSimData], StateType | datetime | Decimal]
    unit_fn: Callable[[Line, PrepaidSimData], str | None] | None = None
    attrs_fn: Callable[[Line, PrepaidSimData], dict[str, Any]] | None = None


def _daily_allowance(line: Line, data: PrepaidSimData) -> dict[str, Any]:
    """Return a daily plan's allowance per day, in bytes (nothing for other plans)."""
    if line.daily_data_bytes is None:
        return {}
    return {"daily_data_bytes": line.daily_data_bytes}


def _data_size(
    key: str,
    value_fn: Callable[[Line, PrepaidSimData], StateType],
    state_class: SensorStateClass | None = None,
    *,
    ignores_usage: bool = False,
    attrs_fn: Callable[[Line, PrepaidSimData], dict[str, Any]] | None = None,
) -> PrepaidSimSensorEntityDescription:
    """Describe a data-size sensor: bytes natively, shown in binary gigabytes."""
    return PrepaidSimSensorEntityDescription(
        key=key,
        translation_key=key,
        device_class=SensorDeviceClass.DATA_SIZE,
        state_class=state_class,
        native_unit_of_measurement=UnitOfInformation.BYTES,
        # Most carriers sell binary gigabytes ("1 GB" = 1024 MB); see data_units.
        suggested_unit_of_measurement=UnitOfInformation.GIBIBYTES,
        suggested_display_precision=2,
        value_fn=value_fn,
        attrs_fn=attrs_fn,
        essential=True,
        ignores_usage=ignores_usage,
    )


SENSORS: tuple[PrepaidSimSensorEntityDescription, ...] = (
    _data_size(
        "data_remaining", lambda line, _: line.data_remaining_bytes, SensorStateClass.MEASUREMENT
    ),
    # Total-increasing: a renewal that starts a new allowance reads as a meter reset.
    _data_size(
        "data_used", lambda line, _: line.data_used_bytes, SensorStateClass.TOTAL_INCREASING
    ),
    # A daily plan has no total over the plan (unknown, as for unlimited plans); its
    # allowance per day is an attribute.
    _data_size(
        "data_total",
        lambda line, _: line.data_total_bytes,
        ignores_usage=True,
        attrs_fn=_daily_allowance,
    ),
    PrepaidSimSensorEntityDescription(
        key="balance",
        translation_key="balance",
        device_class=SensorDeviceClass.MONETARY,
        suggested_display_precision=2,
        value_fn=lambda line, data: money.amount if (money := _balance(line, data)) else None,
        unit_fn=lambda line, data: money.currency if (money := _balance(line, data)) else None,
        essential=True,
        ignores_usage=True,
    ),
    PrepaidSimSensorEntityDescription(
        key="plan_expiry",
        translation_key="plan_expiry",
        device_class=SensorDeviceClass.TIMESTAMP,
        value_fn=lambda line, _: line.expires_at,
        essential=True,
        ignores_usage=True,
    ),
    PrepaidSimSensorEntityDescription(
        key="status",
        translation_key="status",
        device_class=SensorDeviceClass.ENUM,
        options=[status.value for status in LineStatus],
        value_fn=lambda line, _: line.status.value,
        essential=True,
        ignores_usage=True,
    ),
    PrepaidSimSensorEntityDescription(
        key="data_runs_out",
        translation_key="data_runs_out",
        device_class=SensorDeviceClass.TIMESTAMP,
        value_fn=lambda line, data: data.coordinator.history.runs_out_at(line, dt_util.utcnow()),
        usage_key_fn=_forecast_inputs,
    ),
    PrepaidSimSensorEntityDescription(
        key="suggested_package",
        translation_key="suggested_package",
        value_fn=_suggested_package,
        usage_key_fn=_forecast_inputs,
    ),
    PrepaidSimSensorEntityDescription(
        key="last_renewal",
        translation_key="last_renewal",
        device_class=SensorDeviceClass.TIMESTAMP,
        entity_category=EntityCategory.DIAGNOSTIC,
        # Receipts are also in get_renewals and the renewal event; few need the entity.
        entity_registry_enabled_default=False,
        value_fn=_last_renewal,
        attrs_fn=_last_renewal_receipt,
        ignores_usage=True,
    ),
    PrepaidSimSensorEntityDescription(
        key="queued_topups",
        translation_key="queued_topups",
        state_class=SensorStateClass.MEASUREMENT,
        value_fn=lambda line, _: len(line.queued),
        attrs_fn=_queued,
        ignores_usage=True,
    ),
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: PrepaidSimConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the sensors of every tracked line, and the account's spend this month."""
    async_add_entities([SpentThisMonthSensor(entry)])
    await async_add_line_entities(
        entry,
        async_add_entities,
        lambda data, subentry: (
            PrepaidSimSensor(data, subentry, description) for description in SENSORS
        ),
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
        return self.entity_description.value_fn(line, self.data)

    @property
    @override
    def suggested_unit_of_measurement(self) -> str | None:
        """Show data sizes in the units the line's plan is sold in (see data_units)."""
        if self.entity_description.device_class is SensorDeviceClass.DATA_SIZE and (
            (line := self.line) is not None
        ):
            return display_unit(line.data_total_bytes)
        return super().suggested_unit_of_measurement

    @property
    @override
    def native_unit_of_measurement(self) -> str | None:
        """Return the unit; the balance takes the currency the provider reports."""
        if self.entity_description.unit_fn is None:
            return super().native_unit_of_measurement
        if (line := self.line) is None:
            return None
        return self.entity_description.unit_fn(line, self.data)

    @property
    @override
    def extra_state_attributes(self) -> dict[str, Any] | None:
        """Return the receipt details of the last-renewal sensor."""
        if self.entity_description.attrs_fn is None or (line := self.line) is None:
            return None
        return self.entity_description.attrs_fn(line, self.data)

    @override
    def _shows(self) -> tuple[Any, ...]:
        """Return the native value, unit and attributes: what the state is made from.

        Runs for every sensor of every line on each refresh that changes anything, so it
        reads the line once and calls the description's functions directly.
        """
        if (line := self._shown_line()) is None:
            return (False,)
        data = self.data
        description = self.entity_description
        return (
            True,
            description.value_fn(line, data),
            description.unit_fn(line, data)
            if description.unit_fn is not None
            else description.native_unit_of_measurement,
            description.attrs_fn(line, data) if description.attrs_fn is not None else None,
        )
