"""What an account's renewals cost this calendar month: one sensor per account.

Its state class is *total* with a reset at each month's start, so Home Assistant's
long-term statistics keep the spend of every month (the statistics graph card shows it by
month, across restarts). Only renewals known to have charged count (succeeded, whoever
asked and whichever entry), in the account's currency; receipts in other currencies are
listed in an attribute rather than added up. With a monthly budget set (the account's
options), the attributes say the budget and what is left of it by the rule the renewal
check applies (a renewal not settled yet takes its share of the budget already).
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, override

from homeassistant.components.sensor import SensorDeviceClass, SensorEntity, SensorStateClass
from homeassistant.core import CALLBACK_TYPE, callback
from homeassistant.helpers.event import async_track_point_in_time
from homeassistant.helpers.update_coordinator import CoordinatorEntity

from .coordinator import PrepaidSimCoordinator
from .journal import month_start
from .records import RenewalRecord, RenewalState
from .runtime import PrepaidSimConfigEntry
from .settings import MonthlyBudget

# The sensor's name (entity.sensor.<key> in the translations).
SPENT_THIS_MONTH_KEY = "spent_this_month"
# From the 28th of any month, four days always reach the next month.
_FOUR_DAYS = timedelta(days=4)


class SpentThisMonthSensor(CoordinatorEntity[PrepaidSimCoordinator], SensorEntity):
    """The sum of this month's paid renewals of an account's lines."""

    _attr_has_entity_name = True
    _attr_translation_key = SPENT_THIS_MONTH_KEY
    _attr_device_class = SensorDeviceClass.MONETARY
    _attr_state_class = SensorStateClass.TOTAL

    def __init__(self, entry: PrepaidSimConfigEntry) -> None:
        """Sum the renewals of ``entry``'s lines."""
        super().__init__(entry.runtime_data.coordinator)
        self._entry = entry
        self._data = entry.runtime_data
        self._attr_unique_id = f"{entry.unique_id}_spent_this_month"
        self._attr_translation_placeholders = {"account": entry.title}
        self._cancel_month_change: CALLBACK_TYPE = lambda: None
        # What the state was last written from (see _handle_coordinator_update).
        self._written: tuple[object, ...] | None = None
        renewals = self._data.renewals
        self._line_keys = frozenset(renewals.key(line_id) for line_id in self._data.line_subentries)

    @callback
    @override
    def _handle_coordinator_update(self) -> None:
        """Write the state when receipts, the budget, the wallet currency or availability moved.

        Usage readings of the lines move none of them: most refreshes write nothing here.
        """
        snapshot = self.coordinator.data
        inputs = (
            self._data.journal.revision,
            # The options dialog changes the budget in place (no reload).
            self._budget(),
            snapshot.wallet.currency if snapshot and snapshot.wallet else None,
            self.coordinator.last_update_success,
        )
        if inputs == self._written:
            return
        self._written = inputs
        super()._handle_coordinator_update()

    @override
    async def async_added_to_hass(self) -> None:
        """Start again at each month's start (receipts arrive as coordinator updates)."""
        await super().async_added_to_hass()
        self._schedule_month_change()

    @override
    async def async_will_remove_from_hass(self) -> None:
        """Stop the month's timer (the one pending now; each schedules the next)."""
        await super().async_will_remove_from_hass()
        self._cancel_month_change()

    @callback
    def _schedule_month_change(self) -> None:
        """Write the state at the next month's start (the sum starts from zero)."""
        start = month_start()
        next_month = (start.replace(day=28) + _FOUR_DAYS).replace(day=1)

        @callback
        def _new_month(_now: datetime) -> None:
            self.async_write_ha_state()
            self._schedule_month_change()

        # One timer at a time: each month's start schedules the next.
        self._cancel_month_change = async_track_point_in_time(self.hass, _new_month, next_month)

    def _paid_this_month(self) -> list[RenewalRecord]:
        """Return this month's paid renewals of the account's lines (one journal pass)."""
        since = month_start()
        return [
            record
            for record in self._data.journal.records
            if record.line_key in self._line_keys
            and record.created_at >= since
            and record.state is RenewalState.SUCCEEDED
        ]

    def _budget(self) -> MonthlyBudget | None:
        """Return the account's monthly budget, if one is set."""
        return MonthlyBudget.from_options(self._entry.options)

    def _currency(self, paid: list[RenewalRecord]) -> str | None:
        """Return the account's currency: its wallet's, else the one most paid in."""
        snapshot = self.coordinator.data
        if snapshot is not None and snapshot.wallet is not None:
            return snapshot.wallet.currency
        counts = Counter(record.price.currency for record in paid)
        return counts.most_common(1)[0][0] if counts else None

    @property
    @override
    def native_unit_of_measurement(self) -> str | None:
        """Return the account's currency."""
        return self._currency(self._paid_this_month())

    @property
    @override
    def native_value(self) -> Decimal | None:
        """Return this month's spend in the account's currency (0 before any renewal)."""
        paid = self._paid_this_month()
        currency = self._currency(paid)
        if currency is None:
            return None
        return sum(
            (record.price.amount for record in paid if record.price.currency == currency),
            Decimal(0),
        )

    @property
    @override
    def last_reset(self) -> datetime:
        """Return the start of this month, when the sum started from zero."""
        return month_start()

    @property
    @override
    def extra_state_attributes(self) -> dict[str, Any]:
        """Return the renewals counted, spend in other currencies, and the budget if set."""
        paid = self._paid_this_month()
        currency = self._currency(paid)
        others: dict[str, float] = {}
        for record in paid:
            if record.price.currency != currency:
                others[record.price.currency] = others.get(record.price.currency, 0.0) + float(
                    record.price.amount
                )
        attributes: dict[str, Any] = {"renewals": len(paid)}
        if others:
            attributes["other_currencies"] = others
        if (budget := self._budget()) is not None:
            limit = budget.limit
            spent = self._data.renewals.spent_this_month(limit.currency)
            attributes["budget"] = float(limit.amount)
            attributes["budget_left"] = float(max(limit.amount - spent, Decimal(0)))
            if limit.currency != currency:
                # Not the sensor's unit: say which currency the two figures are in.
                attributes["budget_currency"] = limit.currency
        return attributes
