"""A line's settings: alert thresholds, renewal package, auto-renew policy and spend cap.

They live in the line's subentry data and are changed through its reconfigure step (or the
package select). Every reader goes through ``LineSettings`` so the defaults live in one place.
The account's monthly budget, shared by all its lines, lives in the account entry's options
(``MonthlyBudget``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import Any, Final

from homeassistant.config_entries import ConfigSubentry

from .providers.base import Money

CONF_LOW_DATA_PERCENT: Final = "low_data_percent"
CONF_LOW_DATA_MB: Final = "low_data_mb"
CONF_EXPIRY_WARNING_DAYS: Final = "expiry_warning_days"
CONF_PREFERRED_PACKAGE: Final = "preferred_package"
CONF_AUTO_RENEW: Final = "auto_renew"
CONF_AUTO_RENEW_MAX_PER_MONTH: Final = "auto_renew_max_per_month"
CONF_AUTO_RENEW_HOURS: Final = "auto_renew_hours_before_expiry"
CONF_SPEND_CAP: Final = "spend_cap"
CONF_VOICE_WITHOUT_USER: Final = "voice_without_user"
# The account's monthly budget (its options): an amount, and the currency it is in.
CONF_MONTHLY_BUDGET: Final = "monthly_budget"
CONF_BUDGET_CURRENCY: Final = "budget_currency"

DEFAULT_LOW_DATA_PERCENT: Final = 10
DEFAULT_EXPIRY_WARNING_DAYS: Final = 3
DEFAULT_AUTO_RENEW_MAX_PER_MONTH: Final = 1
DEFAULT_AUTO_RENEW_HOURS: Final = 24


class AutoRenewPolicy(StrEnum):
    """When auto-renew buys the line's package."""

    OFF = "off"
    LOW_DATA = "low_data"
    EXPIRING = "expiring"
    LOW_DATA_OR_EXPIRING = "low_data_or_expiring"


@dataclass(frozen=True, slots=True, kw_only=True)
class LineSettings:
    """The settings of one line, with defaults filled in."""

    low_data_percent: float = DEFAULT_LOW_DATA_PERCENT
    # When set, an absolute threshold in MiB replaces the percentage.
    low_data_mb: float | None = None
    expiry_warning_days: float = DEFAULT_EXPIRY_WARNING_DAYS
    preferred_package: str | None = None
    auto_renew: AutoRenewPolicy = AutoRenewPolicy.OFF
    auto_renew_max_per_month: int = DEFAULT_AUTO_RENEW_MAX_PER_MONTH
    auto_renew_hours_before_expiry: float = DEFAULT_AUTO_RENEW_HOURS
    # Off (None) by default: a cap is a choice only the user can size.
    spend_cap: Decimal | None = None
    # Whether a voice request without a signed-in user (a satellite) may confirm a renewal.
    voice_without_user: bool = False

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> LineSettings:
        """Read the settings from a line's subentry data."""
        cap = data.get(CONF_SPEND_CAP)
        low_mb = data.get(CONF_LOW_DATA_MB)
        return cls(
            low_data_percent=float(data.get(CONF_LOW_DATA_PERCENT, DEFAULT_LOW_DATA_PERCENT)),
            low_data_mb=None if low_mb is None else float(low_mb),
            expiry_warning_days=float(
                data.get(CONF_EXPIRY_WARNING_DAYS, DEFAULT_EXPIRY_WARNING_DAYS)
            ),
            preferred_package=data.get(CONF_PREFERRED_PACKAGE) or None,
            auto_renew=AutoRenewPolicy(data.get(CONF_AUTO_RENEW, AutoRenewPolicy.OFF)),
            auto_renew_max_per_month=int(
                data.get(CONF_AUTO_RENEW_MAX_PER_MONTH, DEFAULT_AUTO_RENEW_MAX_PER_MONTH)
            ),
            auto_renew_hours_before_expiry=float(
                data.get(CONF_AUTO_RENEW_HOURS, DEFAULT_AUTO_RENEW_HOURS)
            ),
            spend_cap=None if cap is None else Decimal(str(cap)),
            voice_without_user=bool(data.get(CONF_VOICE_WITHOUT_USER, False)),
        )


@dataclass(frozen=True, slots=True)
class MonthlyBudget:
    """The most an account's lines together may spend on renewals in a calendar month."""

    limit: Money

    @classmethod
    def from_options(cls, options: Mapping[str, Any]) -> MonthlyBudget | None:
        """Read the budget from an account entry's options (None when none is set)."""
        amount = options.get(CONF_MONTHLY_BUDGET)
        currency = options.get(CONF_BUDGET_CURRENCY)
        if amount is None or not currency:
            return None
        return cls(Money(Decimal(str(amount)), str(currency)))


class SettingsReader:
    """Read each tracked line's settings once per change of its subentry.

    Asked several times per line and refresh, so the common case is two lookups: Home
    Assistant replaces a subentry's data on every update and never mutates it, so the same
    data object under the same subentry means the same settings.
    """

    def __init__(
        self,
        subentries: Callable[[], Mapping[str, ConfigSubentry]],
        line_subentries: Mapping[str, str],
    ) -> None:
        """Read from the entry's current ``subentries``; lines map to their subentry ids."""
        self._subentries = subentries
        self._line_subentries = line_subentries
        self._read: dict[str, tuple[Mapping[str, Any], LineSettings]] = {}
        # Lines whose settings dialog is saving them now (see expect_change).
        self._expected: set[str] = set()
        # Each line's subentry data and title when changed_lines() last looked.
        self._seen: dict[str, tuple[Mapping[str, Any], str]] = {
            line_id: (subentry.data, subentry.title)
            for line_id, subentry_id in line_subentries.items()
            if (subentry := subentries().get(subentry_id)) is not None
        }

    def of(self, line_id: str) -> LineSettings:
        """Return the settings of a tracked line (defaults for one no longer tracked)."""
        subentry_id = self._line_subentries.get(line_id)
        subentry = self._subentries().get(subentry_id) if subentry_id else None
        if subentry is None:
            return LineSettings()
        read = self._read.get(line_id)
        if read is not None and read[0] is subentry.data:
            return read[1]
        settings = LineSettings.from_data(subentry.data)
        self._read[line_id] = (subentry.data, settings)
        return settings

    def expect_change(self, line_id: str) -> None:
        """Note that the line's settings are about to be saved (by its settings dialog)."""
        self._expected.add(line_id)

    def changed_lines(self) -> list[str]:
        """Return the lines whose settings or name changed since the last call.

        The settings dialog says which line it saves (``expect_change``); any other change
        is found by one identity check per line: Home Assistant gives an updated subentry
        new data (never mutated in place) and a new title, but does not say which changed.
        A dialog saved without a change fires nothing, so an expectation that finds no
        change falls back to looking at every line.
        """
        expected, self._expected = self._expected, set()
        return (expected and self._changed_among(expected)) or self._changed_among(
            self._line_subentries
        )

    def _changed_among(self, lines: Iterable[str]) -> list[str]:
        """Return which of ``lines`` changed since last looked at, noting them as seen."""
        subentries = self._subentries()
        changed: list[str] = []
        for line_id in lines:
            if (subentry_id := self._line_subentries.get(line_id)) is None:
                continue
            subentry = subentries.get(subentry_id)
            seen = self._seen.get(line_id)
            now = None if subentry is None else (subentry.data, subentry.title)
            if seen is None or now is None or seen[0] is not now[0] or seen[1] != now[1]:
                changed.append(line_id)
                if now is None:
                    self._seen.pop(line_id, None)
                else:
                    self._seen[line_id] = now
        return changed
