"""What renewals cost over time (issue #17.6): long-term statistics per line and per account.

Renewals go through the real renew action; the statistics are read back with the
recorder's own API, as the statistics graph card reads them.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from freezegun.api import FrozenDateTimeFactory
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_fire_time_changed
from pytest_homeassistant_custom_component.components.recorder.common import (
    async_wait_recording_done,
)
from pytest_homeassistant_custom_component.typing import RecorderInstanceContextManager

from homeassistant.components.recorder import Recorder
from homeassistant.components.recorder.models import StatisticMeanType
from homeassistant.components.recorder.statistics import get_metadata, statistics_during_period
from homeassistant.core import HomeAssistant
from homeassistant.helpers.recorder import get_instance
from homeassistant.util import dt as dt_util

from custom_components.prepaid_sim.const import DOMAIN
from custom_components.prepaid_sim.journal import DATA_JOURNAL, STORAGE_KEY
from custom_components.prepaid_sim.providers.demo import DemoBackend

from .helpers import demo_entry, line_device, receipts, renew, setup_entry, subentry_of

pytestmark = pytest.mark.freeze_time("2026-11-26T12:00:00+00:00")

US_TRAVEL = "prepaid_sim:spend_line_demo_us_travel_usd"
EUROPE = "prepaid_sim:spend_line_demo_europe_esim_usd"
EUROPE_EUR = "prepaid_sim:spend_line_demo_europe_esim_eur"
ACCOUNT = "prepaid_sim:spend_account_demo_demo_account_usd"
ACCOUNT_EUR = "prepaid_sim:spend_account_demo_demo_account_eur"
ALL = {US_TRAVEL, EUROPE, EUROPE_EUR, ACCOUNT, ACCOUNT_EUR}

NOV_26_12H = datetime(2026, 11, 26, 12, tzinfo=UTC)
NOV_26_13H = datetime(2026, 11, 26, 13, tzinfo=UTC)
DEC_10_12H = datetime(2026, 12, 10, 12, tzinfo=UTC)

type Rows = dict[str, list[tuple[datetime, float, float]]]


@pytest.fixture
def mock_recorder_before_hass(async_test_recorder: RecorderInstanceContextManager) -> None:
    """Prepare the recorder's database before Home Assistant starts (as core's tests do)."""


async def hourly(hass: HomeAssistant) -> Rows:
    """Return every spend statistic's hourly rows: (hour, that hour's spend, sum so far)."""
    await hass.async_block_till_done()
    await async_wait_recording_done(hass)
    found = await get_instance(hass).async_add_executor_job(
        statistics_during_period,
        hass,
        datetime(2020, 1, 1, tzinfo=UTC),
        None,
        ALL,
        "hour",
        None,
        {"state", "sum"},
    )
    return {
        statistic_id: [
            (dt_util.utc_from_timestamp(row["start"]), row["state"], row["sum"]) for row in rows
        ]
        for statistic_id, rows in found.items()
    }


async def monthly(hass: HomeAssistant, statistic_id: str) -> list[tuple[str, float]]:
    """Return a statistic's spend per (local) calendar month, as the graph card shows it."""
    await hass.async_block_till_done()
    await async_wait_recording_done(hass)
    found = await get_instance(hass).async_add_executor_job(
        statistics_during_period,
        hass,
        datetime(2026, 1, 1, tzinfo=UTC),
        None,
        {statistic_id},
        "month",
        None,
        {"change"},
    )
    return [
        (
            dt_util.as_local(dt_util.utc_from_timestamp(row["start"])).strftime("%Y-%m"),
            row["change"],
        )
        for row in found[statistic_id]
    ]


async def restart_home_assistant(hass: HomeAssistant, entry: MockConfigEntry) -> None:
    """Stop the account and start it again from storage, as a restart does."""
    assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()
    # The journal outlives reloads in memory; a restart reads it from its file again.
    await hass.data.pop(DATA_JOURNAL).async_save()
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)


async def renew_at(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    entry: MockConfigEntry,
    line_id: str,
    when: datetime,
    **fields: object,
) -> dict[str, Any]:
    """Renew a line through the action at ``when``."""
    freezer.move_to(when)
    async_fire_time_changed(hass)
    await hass.async_block_till_done()
    return await renew(hass, line_device(hass, entry, line_id), **fields)


async def test_hourly_rows_per_line_and_account(
    recorder_mock: Recorder,
    hass: HomeAssistant,
    demo_backend: DemoBackend,
    freezer: FrozenDateTimeFactory,
) -> None:
    """One row per hour with paid receipts; the sum runs on across hours."""
    entry = await setup_entry(hass, demo_entry("us-travel", "europe-esim"))
    assert await hourly(hass) == {}

    await renew_at(hass, freezer, entry, "us-travel", NOV_26_12H + timedelta(minutes=5))
    await renew_at(hass, freezer, entry, "europe-esim", NOV_26_12H + timedelta(minutes=40))
    await renew_at(
        hass, freezer, entry, "us-travel", NOV_26_13H + timedelta(minutes=30), package="us-1gb-7d"
    )

    assert await hourly(hass) == {
        US_TRAVEL: [(NOV_26_12H, 20.0, 20.0), (NOV_26_13H, 5.0, 25.0)],
        EUROPE: [(NOV_26_12H, 12.0, 12.0)],
        ACCOUNT: [(NOV_26_12H, 32.0, 32.0), (NOV_26_13H, 5.0, 37.0)],
    }
    assert sum(charge.amount.amount for charge in demo_backend.ledger) == 37

    metadata = await get_instance(hass).async_add_executor_job(
        lambda: get_metadata(hass, statistic_ids={US_TRAVEL, ACCOUNT})
    )
    line_meta, account_meta = metadata[US_TRAVEL][1], metadata[ACCOUNT][1]
    assert (line_meta["name"], account_meta["name"]) == (
        "Us Travel spend (USD)",
        "Demo account spend (USD)",
    )
    for meta in (line_meta, account_meta):
        assert meta["source"] == DOMAIN
        assert meta["unit_of_measurement"] == "USD"
        assert meta["has_sum"] is True
        assert meta["mean_type"] is StatisticMeanType.NONE


async def test_monthly_spend_and_a_restart_counts_nothing_twice(
    recorder_mock: Recorder,
    hass: HomeAssistant,
    demo_backend: DemoBackend,
    freezer: FrozenDateTimeFactory,
) -> None:
    """Each month shows its own spend; restarts and repeated imports add nothing."""
    entry = await setup_entry(hass, demo_entry("us-travel", "europe-esim"))
    await renew_at(hass, freezer, entry, "us-travel", NOV_26_12H)
    await renew_at(hass, freezer, entry, "europe-esim", NOV_26_13H)
    await renew_at(hass, freezer, entry, "us-travel", DEC_10_12H, package="us-1gb-7d")
    before = await hourly(hass)
    assert before[ACCOUNT] == [
        (NOV_26_12H, 20.0, 20.0),
        (NOV_26_13H, 12.0, 32.0),
        (DEC_10_12H, 5.0, 37.0),
    ]
    assert await monthly(hass, ACCOUNT) == [("2026-11", 32.0), ("2026-12", 5.0)]
    assert await monthly(hass, US_TRAVEL) == [("2026-11", 20.0), ("2026-12", 5.0)]

    await restart_home_assistant(hass, entry)
    assert await hourly(hass) == before
    # Every change of the journal imports again: the same receipts change nothing.
    await entry.runtime_data.journal.async_save()
    await hass.config_entries.async_reload(entry.entry_id)
    assert await hourly(hass) == before
    assert await monthly(hass, ACCOUNT) == [("2026-11", 32.0), ("2026-12", 5.0)]


async def test_trimmed_receipts_keep_their_months(
    recorder_mock: Recorder,
    hass: HomeAssistant,
    demo_backend: DemoBackend,
    freezer: FrozenDateTimeFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Receipts the journal no longer keeps still count in the months they were paid."""
    entry = await setup_entry(hass, demo_entry("us-travel", "europe-esim"))
    await renew_at(hass, freezer, entry, "us-travel", NOV_26_12H)
    await renew_at(hass, freezer, entry, "europe-esim", NOV_26_13H)
    assert (await hourly(hass))[ACCOUNT][-1] == (NOV_26_13H, 12.0, 32.0)

    # In December the journal keeps only the newest receipt: November's guard no money.
    monkeypatch.setattr("custom_components.prepaid_sim.journal.MAX_RECORDS", 1)
    await renew_at(hass, freezer, entry, "us-travel", DEC_10_12H, package="us-1gb-7d")
    assert [receipt["price"] for receipt in await receipts(hass)] == ["5.00"]

    expected = {
        US_TRAVEL: [(NOV_26_12H, 20.0, 20.0), (DEC_10_12H, 5.0, 25.0)],
        EUROPE: [(NOV_26_13H, 12.0, 12.0)],
        ACCOUNT: [(NOV_26_12H, 20.0, 20.0), (NOV_26_13H, 12.0, 32.0), (DEC_10_12H, 5.0, 37.0)],
    }
    assert await hourly(hass) == expected
    await restart_home_assistant(hass, entry)
    assert await hourly(hass) == expected
    assert await monthly(hass, ACCOUNT) == [("2026-11", 32.0), ("2026-12", 5.0)]


async def test_a_line_taken_off_the_account_keeps_its_spend_there(
    recorder_mock: Recorder,
    hass: HomeAssistant,
    demo_backend: DemoBackend,
    freezer: FrozenDateTimeFactory,
) -> None:
    """What a line cost while the account tracked it stays in the account's history."""
    entry = await setup_entry(hass, demo_entry("us-travel", "europe-esim"))
    await renew_at(hass, freezer, entry, "us-travel", NOV_26_12H)
    await renew_at(hass, freezer, entry, "europe-esim", NOV_26_12H + timedelta(minutes=30))
    assert (await hourly(hass))[ACCOUNT] == [(NOV_26_12H, 32.0, 32.0)]

    europe = subentry_of(entry, "europe-esim")
    assert hass.config_entries.async_remove_subentry(entry, europe)
    await hass.async_block_till_done(wait_background_tasks=True)
    await renew_at(hass, freezer, entry, "us-travel", NOV_26_13H, package="us-1gb-7d")
    rows = await hourly(hass)
    assert rows[ACCOUNT] == [(NOV_26_12H, 32.0, 32.0), (NOV_26_13H, 5.0, 37.0)]
    assert rows[EUROPE] == [(NOV_26_12H, 12.0, 12.0)]


async def test_a_renewal_settled_later_lands_in_its_own_hour(
    recorder_mock: Recorder,
    hass: HomeAssistant,
    demo_backend: DemoBackend,
    freezer: FrozenDateTimeFactory,
) -> None:
    """Counted once paid, in the hour it was asked in; later hours' sums move with it."""
    entry = await setup_entry(hass, demo_entry("us-travel", "europe-esim"))
    await renew_at(hass, freezer, entry, "us-travel", NOV_26_12H)
    demo_backend.orders_processing = True
    order = await renew_at(hass, freezer, entry, "europe-esim", NOV_26_12H + timedelta(minutes=30))
    assert order["state"] == "pending"
    demo_backend.orders_processing = False
    # The carrier's order history is out for a while: the renewal stays pending.
    demo_backend.order_history_unavailable = True
    # Not paid yet: not counted.
    assert (await hourly(hass))[ACCOUNT] == [(NOV_26_12H, 20.0, 20.0)]

    await renew_at(
        hass, freezer, entry, "us-travel", NOV_26_13H + timedelta(minutes=10), package="us-1gb-7d"
    )
    assert [r["state"] for r in await receipts(hass)] == ["succeeded", "pending", "succeeded"]
    assert (await hourly(hass))[ACCOUNT] == [(NOV_26_12H, 20.0, 20.0), (NOV_26_13H, 5.0, 25.0)]

    # The next look-up finds the order completed: it counts at 12:30, before 13:10.
    demo_backend.order_history_unavailable = False
    freezer.tick(timedelta(hours=1))
    async_fire_time_changed(hass)
    await hass.async_block_till_done()
    assert [r["state"] for r in await receipts(hass)] == ["succeeded"] * 3
    rows = await hourly(hass)
    assert rows[ACCOUNT] == [(NOV_26_12H, 32.0, 32.0), (NOV_26_13H, 5.0, 37.0)]
    assert rows[EUROPE] == [(NOV_26_12H, 12.0, 12.0)]


async def test_each_currency_has_its_own_statistics(
    recorder_mock: Recorder,
    hass: HomeAssistant,
    hass_storage: dict[str, Any],
    demo_backend: DemoBackend,
    freezer: FrozenDateTimeFactory,
) -> None:
    """Receipts in another currency are never added to the sum of the first.

    The euro receipt was written while Home Assistant kept no statistics: it is caught up
    when the account loads.
    """
    hass_storage[STORAGE_KEY] = {
        "version": 2,
        "minor_version": 1,
        "key": STORAGE_KEY,
        "data": {
            "records": [
                {
                    "reference": "ps-euro",
                    "line_key": "demo:europe-esim",
                    "line_id": "europe-esim",
                    "entry_id": "01JDEMOACCOUNTENTRY0000000",
                    "line_name": "Europe Esim",
                    "package_id": "eu-5gb-15d",
                    "package_name": "Europe 5 GB, 15 days",
                    "price": "11.50",
                    "currency": "EUR",
                    "caller": "user",
                    "created_at": "2026-11-20T08:15:00+00:00",
                    "state": "succeeded",
                }
            ]
        },
    }
    entry = await setup_entry(hass, demo_entry("us-travel", "europe-esim"))
    await renew_at(hass, freezer, entry, "europe-esim", NOV_26_12H)
    nov_20_8h = datetime(2026, 11, 20, 8, tzinfo=UTC)
    assert await hourly(hass) == {
        EUROPE_EUR: [(nov_20_8h, 11.5, 11.5)],
        ACCOUNT_EUR: [(nov_20_8h, 11.5, 11.5)],
        EUROPE: [(NOV_26_12H, 12.0, 12.0)],
        ACCOUNT: [(NOV_26_12H, 12.0, 12.0)],
    }
    metadata = await get_instance(hass).async_add_executor_job(
        lambda: get_metadata(hass, statistic_ids={EUROPE_EUR, ACCOUNT_EUR})
    )
    assert metadata[EUROPE_EUR][1]["name"] == "Europe Esim spend (EUR)"
    assert metadata[ACCOUNT_EUR][1]["unit_of_measurement"] == "EUR"


async def test_a_failed_import_is_logged_and_done_again_later(
    recorder_mock: Recorder,
    hass: HomeAssistant,
    demo_backend: DemoBackend,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A database that cannot be read never stops a renewal; the next change catches up."""
    entry = await setup_entry(hass, demo_entry("us-travel", "europe-esim"))

    def unreadable(*_args: object) -> None:
        raise OSError("disk I/O error")

    monkeypatch.setattr(
        "custom_components.prepaid_sim.spend_statistics.statistics_during_period", unreadable
    )
    assert (await renew(hass, line_device(hass, entry, "us-travel")))["state"] == "succeeded"
    assert await hourly(hass) == {}
    assert "The spend statistics of Demo account were not updated" in caplog.text

    monkeypatch.undo()
    await entry.runtime_data.journal.async_save()
    assert (await hourly(hass))[ACCOUNT] == [(NOV_26_12H, 20.0, 20.0)]


async def test_no_recorder_no_statistics(
    hass: HomeAssistant, demo_backend: DemoBackend, caplog: pytest.LogCaptureFixture
) -> None:
    """Without the recorder the account works as before and nothing tries to import."""
    entry = await setup_entry(hass, demo_entry("us-travel"))
    assert "recorder" not in hass.config.components
    assert (await renew(hass, line_device(hass, entry, "us-travel")))["state"] == "succeeded"
    await hass.async_block_till_done()
    assert "spend statistics" not in caplog.text
