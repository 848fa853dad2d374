"""What renewals cost over time: long-term statistics per line and per account, per currency.

The statistics graph card shows spend by day, week, month or year from these: one external
statistic per line and one per account for each currency paid in, with an hourly row for
every hour that has paid receipts (``state``: what that hour's receipts cost; ``sum``: the
total so far). The recorder keeps them, so they outlive restarts and the journal's trimming
of old receipts.

The recorder's rows are the only memory; nothing else is stored. Each import reads the rows
stored from the hour of the oldest paid receipt the journal holds, and writes again what the
journal says from there on: an hour costs what its receipts in the journal cost, or what is
stored for it when that is more (some of its receipts were trimmed since), and the sums run
on from the sum stored before that hour. Importing the same receipts again writes the same
rows (in practice: nothing), so restarts and repeated imports never count twice; a receipt
that settles late, or is dated in an hour already written (a carrier's confirmation mail),
lands in its own hour and moves the sums after it; hours the journal no longer holds keep
what they had.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Final

from homeassistant.components.recorder.models import (
    StatisticData,
    StatisticMeanType,
    StatisticMetaData,
)
from homeassistant.components.recorder.statistics import (
    StatisticsRow,
    async_add_external_statistics,
    get_last_statistics,
    statistics_during_period,
    valid_statistic_id,
)
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.recorder import get_instance
from homeassistant.util import dt as dt_util, slugify

from .const import DOMAIN, LOGGER
from .journal import Journal
from .records import RenewalState
from .renewal import RenewalEngine
from .runtime import PrepaidSimConfigEntry

# Sums are kept to this precision when read back (prices have at most a few decimals; the
# float the database keeps is rounded back to them, so a re-import compares equal).
_PRECISION: Final = Decimal("0.000001")


def line_statistic_id(line_key: str, currency: str) -> str:
    """Return the statistic of a provider line's spend in ``currency``.

    Keyed by the provider line (not the entry): the spend of a line is the same whichever
    account tracks it, and survives the account being added again.
    """
    return f"{DOMAIN}:spend_line_{slugify(line_key)}_{currency.lower()}"


def account_statistic_id(account_unique_id: str, currency: str) -> str:
    """Return the statistic of an account's spend in ``currency`` (by its unique id)."""
    return f"{DOMAIN}:spend_account_{slugify(account_unique_id)}_{currency.lower()}"


@dataclass(frozen=True, slots=True)
class _Series:
    """One statistic as the journal tells it: what each hour's paid receipts cost."""

    statistic_id: str
    name: str
    currency: str
    # Start of the hour (UTC timestamp) -> what its paid receipts cost.
    hours: Mapping[float, Decimal]


@dataclass(slots=True)
class _Stored:
    """What the recorder holds of one statistic from the first hour imported again."""

    # The sum before that hour.
    base: Decimal = Decimal(0)
    # Start of the hour (UTC timestamp) -> (state, sum) as stored.
    hours: dict[float, tuple[Decimal, Decimal]] = field(default_factory=dict)


def _decimal(value: float | None) -> Decimal:
    """Return a stored float as the amount it was written from."""
    return Decimal(str(value or 0)).quantize(_PRECISION)


def _read_stored(
    hass: HomeAssistant, since: datetime, statistic_ids: set[str]
) -> dict[str, _Stored]:
    """Return each statistic's rows from ``since`` and its sum before (recorder executor)."""
    found = _window(hass, since, statistic_ids)
    stored: dict[str, _Stored] = {}
    for statistic_id in statistic_ids:
        rows = found.get(statistic_id, [])
        base = Decimal(0)
        if not rows:
            # Nothing from ``since`` on: the newest row, if any, holds the sum before.
            last = get_last_statistics(hass, 1, statistic_id, False, {"sum"}).get(statistic_id)
            if last and last[0]["start"] >= since.timestamp():
                # Committed between the two reads (an import queued earlier): the window
                # does hold rows. Rows are never deleted, so reading it again finds them.
                rows = _window(hass, since, {statistic_id}).get(statistic_id, [])
            elif last:
                base = _decimal(last[0].get("sum"))
        if rows:
            first = rows[0]
            # Every row's state is its hour's spend, so its sum less its state is the sum
            # before it.
            base = _decimal(first.get("sum")) - _decimal(first.get("state"))
        stored[statistic_id] = _Stored(
            base=base,
            hours={
                row["start"]: (_decimal(row.get("state")), _decimal(row.get("sum"))) for row in rows
            },
        )
    return stored


def _window(
    hass: HomeAssistant, since: datetime, statistic_ids: set[str]
) -> dict[str, list[StatisticsRow]]:
    """Return the hourly rows from ``since`` on, each with its state and sum (one query)."""
    return statistics_during_period(
        hass, since, None, statistic_ids, "hour", None, {"state", "sum"}
    )


def _rows(series: _Series, stored: _Stored) -> list[StatisticData]:
    """Return the rows to write so the statistic says what ``series`` says (none if it does)."""
    running = stored.base
    rows: list[StatisticData] = []
    for hour in sorted(series.hours.keys() | stored.hours.keys()):
        amount = series.hours.get(hour, Decimal(0))
        kept = stored.hours.get(hour)
        if kept is not None and kept[0] > amount:
            # Receipts of this hour left the journal (trimmed): what was stored stays.
            amount = kept[0]
        running += amount
        if kept is None or kept != (amount, running):
            rows.append(
                StatisticData(
                    start=dt_util.utc_from_timestamp(hour),
                    state=float(amount),
                    sum=float(running),
                )
            )
    return rows


def _metadata(series: _Series) -> StatisticMetaData:
    """Return the statistic's description: a sum of money in one currency."""
    return StatisticMetaData(
        mean_type=StatisticMeanType.NONE,
        has_sum=True,
        name=series.name,
        source=DOMAIN,
        statistic_id=series.statistic_id,
        # Currencies do not convert into one another: no unit class.
        unit_class=None,
        unit_of_measurement=series.currency,
    )


class SpendStatistics:
    """Keep the spend statistics of one account and its lines up to date with the journal.

    A journal listener: every change of the account's lines' receipts imports again (one
    import at a time; changes during one are taken by the next). Only statistics whose
    receipts changed since this process last imported them are read and written.
    """

    def __init__(
        self,
        hass: HomeAssistant,
        entry: PrepaidSimConfigEntry,
        journal: Journal,
        renewals: RenewalEngine,
        line_subentries: Mapping[str, str],
    ) -> None:
        """Import the receipts of ``entry``'s lines (line id -> subentry id)."""
        self._hass = hass
        self._entry = entry
        self._journal = journal
        self._line_subentries = line_subentries
        self._keys = {renewals.key(line_id): line_id for line_id in line_subentries}
        # What each statistic was last brought to in this process.
        self._imported: dict[str, _Series] = {}
        self._again = False
        self._runner: asyncio.Task[None] | None = None

    @callback
    def __call__(self, keys: frozenset[str] | None) -> None:
        """Import again when receipts of the account's lines changed (None: any line)."""
        if keys is None or not keys.isdisjoint(self._keys):
            self.async_schedule()

    @callback
    def async_schedule(self) -> None:
        """Import soon; an import running now is followed by one more."""
        self._again = True
        if self._runner is None or self._runner.done():
            # A tracked task: an unload waits for the import rather than cutting it off.
            self._runner = self._entry.async_create_task(
                self._hass, self._async_run(), f"{DOMAIN} spend statistics"
            )

    async def _async_run(self) -> None:
        """Import until no change is left."""
        while self._again:
            self._again = False
            try:
                await self._async_import()
            except Exception:  # noqa: BLE001 - statistics never disturb the account
                LOGGER.exception("The spend statistics of %s were not updated", self._entry.title)

    def _series(self) -> list[_Series]:
        """Return every statistic of the account and its lines, as the journal tells it."""
        per_line: defaultdict[tuple[str, str], defaultdict[float, Decimal]] = defaultdict(
            lambda: defaultdict(Decimal)
        )
        per_account: defaultdict[str, defaultdict[float, Decimal]] = defaultdict(
            lambda: defaultdict(Decimal)
        )
        names: dict[str, str] = {}
        for record in self._journal.records:
            if record.state is not RenewalState.SUCCEEDED or record.line_key not in self._keys:
                continue
            # Each receipt belongs to the hour it was asked in (as "this month" counts it).
            hour = dt_util.as_utc(record.created_at).replace(minute=0, second=0, microsecond=0)
            stamp = hour.timestamp()
            currency = record.price.currency
            per_line[record.line_key, currency][stamp] += record.price.amount
            per_account[currency][stamp] += record.price.amount
            names[record.line_key] = record.line_name
        series: list[_Series] = []
        for (key, currency), hours in per_line.items():
            subentry = self._entry.subentries.get(self._line_subentries[self._keys[key]])
            name = subentry.title if subentry is not None else names[key]
            series.append(
                _Series(
                    line_statistic_id(key, currency),
                    f"{name} spend ({currency})",
                    currency,
                    dict(hours),
                )
            )
        account = self._entry.unique_id or self._entry.entry_id
        series.extend(
            _Series(
                account_statistic_id(account, currency),
                f"{self._entry.title} spend ({currency})",
                currency,
                dict(hours),
            )
            for currency, hours in per_account.items()
        )
        return series

    async def _async_import(self) -> None:
        """Bring the statistics whose receipts changed up to date."""
        changed: list[_Series] = []
        for series in self._series():
            if self._imported.get(series.statistic_id) == series:
                continue
            if not valid_statistic_id(series.statistic_id):
                # Said once per change, not at every import.
                LOGGER.warning("No spend statistic for %s: its id is not valid", series.name)
                self._imported[series.statistic_id] = series
                continue
            changed.append(series)
        if not changed:
            return
        since = dt_util.utc_from_timestamp(min(min(series.hours) for series in changed))
        stored = await get_instance(self._hass).async_add_executor_job(
            _read_stored, self._hass, since, {series.statistic_id for series in changed}
        )
        for series in changed:
            rows = _rows(series, stored[series.statistic_id])
            # Written even without new rows: the line's or account's name may be what changed.
            async_add_external_statistics(self._hass, _metadata(series), rows)
            self._imported[series.statistic_id] = series
