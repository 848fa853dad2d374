"""The renewal journal across restarts: trimming, damage, migration, resumed verification.

A "restart" here unloads the account, flushes delayed writes as Home Assistant's stop does,
and forgets the journal object, so the next setup reads the journal back from storage.
"""

from __future__ import annotations

from datetime import timedelta
import json
from pathlib import Path
from typing import Any

from freezegun.api import FrozenDateTimeFactory
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_fire_time_changed

from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import EVENT_HOMEASSISTANT_FINAL_WRITE, STATE_OFF, STATE_ON
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import issue_registry as ir
from homeassistant.helpers.storage import STORAGE_DIR

from custom_components.prepaid_sim.const import DOMAIN
from custom_components.prepaid_sim.issues import JOURNAL_DAMAGED_ISSUE
from custom_components.prepaid_sim.journal import (
    DATA_JOURNAL,
    LEGACY_VERSION,
    MAX_RECORDS,
    STORAGE_KEY,
    STORAGE_VERSION,
)
from custom_components.prepaid_sim.providers.demo import CATALOGUES, DemoBackend

from .helpers import (
    DEMO_ENTRY_ID,
    GIB,
    demo_entry,
    line_device,
    receipts,
    renew,
    setup_entry,
    start_fix,
)

pytestmark = pytest.mark.freeze_time("2026-11-26T12:00:00+00:00")

PRICES = {"us-travel": "20.00", "camera-iot": "4.00", "europe-esim": "12.00", "pet-tracker": "6.00"}


def stored_record(
    reference: str, line_id: str, created_at: str, state: str = "succeeded", **fields: Any
) -> dict[str, Any]:
    """Return a journal record as the current version stores it."""
    return {
        "reference": reference,
        "line_key": f"demo:{line_id}",
        "line_id": line_id,
        "entry_id": DEMO_ENTRY_ID,
        "line_name": line_id.replace("-", " ").title(),
        "package_id": "pkg",
        "package_name": "A package",
        "price": PRICES[line_id],
        "currency": "USD",
        "caller": "user",
        "created_at": created_at,
        "state": state,
        **fields,
    }


def put_journal(
    hass_storage: dict[str, Any],
    records: list[dict[str, Any]],
    *,
    version: int = STORAGE_VERSION,
    key: str = STORAGE_KEY,
) -> None:
    """Leave a journal in storage, as an earlier run of Home Assistant did."""
    hass_storage[key] = {
        "version": version,
        "minor_version": 1,
        "key": key,
        "data": {"records": records},
    }


async def restart_home_assistant(hass: HomeAssistant, entry: MockConfigEntry) -> None:
    """Stop the account, write what a stop writes, and start it from storage again."""
    assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()
    hass.bus.async_fire(EVENT_HOMEASSISTANT_FINAL_WRITE)
    await hass.async_block_till_done()
    # The journal outlives reloads in memory; a restart starts without it.
    hass.data.pop(DATA_JOURNAL)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)


async def acknowledge_damage(hass: HomeAssistant, hass_client: Any) -> None:
    """Confirm the damaged-journal repair in the Repairs dashboard."""
    client, flow = await start_fix(hass, hass_client, JOURNAL_DAMAGED_ISSUE)
    assert (flow["type"], flow["step_id"]) == ("form", "confirm")
    response = await client.post(f"/api/repairs/issues/fix/{flow['flow_id']}", json={})
    assert (await response.json())["type"] == "create_entry"
    await hass.async_block_till_done()


async def refused_for_damage(hass: HomeAssistant, device_id: str) -> None:
    """Assert that a renewal of the line is on hold for the damaged journal."""
    with pytest.raises(HomeAssistantError) as err:
        await renew(hass, device_id, allow_repeat=True)
    assert err.value.translation_key == "journal_damaged"


def damage_issue(issue_registry: ir.IssueRegistry) -> ir.IssueEntry | None:
    """Return the damaged-journal repair, if raised."""
    return issue_registry.async_get_issue(DOMAIN, JOURNAL_DAMAGED_ISSUE)


def ledger_packages(demo_backend: DemoBackend) -> list[tuple[str, str]]:
    """Return (line, package) of every charge the carrier took."""
    return [(charge.line_id, charge.package_id) for charge in demo_backend.ledger]


# --- item 3: trimming ---------------------------------------------------------------------


async def test_trimming_drops_failed_records_first_and_never_money_guards(
    hass: HomeAssistant, hass_storage: dict[str, Any], demo_backend: DemoBackend
) -> None:
    """Over the limit: failed records go first (even this month's), then last month's paid
    ones, oldest first; unsettled records and this month's paid ones stay, across a restart."""
    # Unsettled renewals of a line no account tracks now: nothing resumes or settles them.
    unsettled = [
        stored_record("ps-pending", "pet-tracker", "2026-09-01T10:00:00+00:00", state="pending"),
        stored_record(
            "ps-unconfirmed", "pet-tracker", "2026-09-02T10:00:00+00:00", state="unconfirmed"
        ),
    ]
    last_month = [
        stored_record(f"ps-oct-{n:03d}", "camera-iot", f"2026-10-02T10:{n // 60:02d}:{n % 60:02d}Z")
        for n in range(100)
    ]
    # Failed this month, newer than every October receipt: still the first to go.
    failed = [
        stored_record(f"ps-failed-{n}", "camera-iot", f"2026-11-20T10:0{n}:00Z", state="failed")
        for n in range(5)
    ]
    this_month = [
        stored_record(f"ps-nov-{n:03d}", "camera-iot", f"2026-11-02T10:{n // 60:02d}:{n % 60:02d}Z")
        for n in range(MAX_RECORDS - 101)
    ]
    put_journal(hass_storage, [*unsettled, *last_month, *failed, *this_month])
    stored = len(hass_storage[STORAGE_KEY]["data"]["records"])
    assert stored == MAX_RECORDS + 6
    entry = await setup_entry(hass, demo_entry("us-travel", "camera-iot"))

    # One more receipt takes the journal 7 over the limit when it is written.
    order = await renew(hass, line_device(hass, entry, "us-travel"))
    await restart_home_assistant(hass, entry)

    kept = {receipt["reference"] for receipt in await receipts(hass)}
    assert len(kept) == MAX_RECORDS
    assert {"ps-pending", "ps-unconfirmed", order["reference"]} <= kept
    assert not any(reference.startswith("ps-failed-") for reference in kept)
    assert {"ps-oct-000", "ps-oct-001"}.isdisjoint(kept)
    assert {"ps-oct-002", "ps-oct-099"} <= kept
    assert {record["reference"] for record in this_month} <= kept
    assert len(hass_storage[STORAGE_KEY]["data"]["records"]) == MAX_RECORDS
    assert len(demo_backend.ledger) == 1


async def test_records_guarding_money_are_kept_beyond_the_limit(
    hass: HomeAssistant, hass_storage: dict[str, Any], demo_backend: DemoBackend
) -> None:
    """When only unsettled and this month's paid records remain, none is dropped: the spend
    cap and the monthly auto-renew count read them."""
    records = [
        stored_record("ps-pending", "pet-tracker", "2026-09-01T10:00:00Z", state="pending"),
        *(
            stored_record(
                f"ps-nov-{n:03d}", "camera-iot", f"2026-11-02T10:{n // 60:02d}:{n % 60:02d}Z"
            )
            for n in range(MAX_RECORDS + 1)
        ),
    ]
    put_journal(hass_storage, records)
    entry = await setup_entry(hass, demo_entry("us-travel", "camera-iot"))
    order = await renew(hass, line_device(hass, entry, "us-travel"))
    await restart_home_assistant(hass, entry)

    kept = {receipt["reference"] for receipt in await receipts(hass)}
    assert kept == {record["reference"] for record in records} | {order["reference"]}
    assert len(kept) == MAX_RECORDS + 3


# --- item 7: a damaged journal --------------------------------------------------------------


async def test_truncated_journal_file_keeps_what_it_can_and_holds_the_lost_line(
    hass: HomeAssistant,
    hass_client: Any,
    hass_storage: dict[str, Any],
    tmp_path: Path,
    demo_backend: DemoBackend,
    issue_registry: ir.IssueRegistry,
) -> None:
    """A journal file cut off mid-record (a crash while writing, a full disk).

    The test harness keeps stores in memory, so the damaged file is written to a real
    configuration folder: the journal reads its file from disk before asking the store.
    """
    hass.config.config_dir = str(tmp_path)
    document = {
        "version": STORAGE_VERSION,
        "minor_version": 1,
        "key": STORAGE_KEY,
        "data": {
            "records": [
                stored_record("ps-travel", "us-travel", "2026-11-20T10:00:00+00:00"),
                stored_record("ps-camera", "camera-iot", "2026-11-21T10:00:00+00:00"),
                stored_record("ps-europe", "europe-esim", "2026-11-22T10:00:00+00:00"),
            ],
            "damage": None,
        },
    }
    text = json.dumps(document, indent=2)
    # Cut inside the third record, after it named its line.
    cut = text.index('"line_id"', text.index('"ps-europe"'))
    storage = tmp_path / STORAGE_DIR
    storage.mkdir()
    (storage / STORAGE_KEY).write_text(text[:cut], encoding="utf-8")

    entry = await setup_entry(hass, demo_entry("us-travel", "camera-iot", "europe-esim"))

    assert entry.state is ConfigEntryState.LOADED
    assert {r["reference"] for r in await receipts(hass)} == {"ps-travel", "ps-camera"}
    issue = damage_issue(issue_registry)
    assert issue is not None
    assert issue.is_fixable
    backup = issue.translation_placeholders["backup"]
    assert backup.startswith(f"{STORAGE_KEY}.damaged-")
    # The damaged file is kept for the user, byte for byte.
    assert (storage / backup).read_text(encoding="utf-8") == text[:cut]
    # Only the line named in the lost part waits; the others renew.
    europe = line_device(hass, entry, "europe-esim")
    await refused_for_damage(hass, europe)
    await renew(hass, line_device(hass, entry, "camera-iot"))
    assert ledger_packages(demo_backend) == [("camera-iot", "iot-1gb-30d")]

    # Restarted before the user looked: the store's write replaced the damaged file (the
    # harness keeps that write in memory), and the hold is still there.
    (storage / STORAGE_KEY).unlink()
    await restart_home_assistant(hass, entry)
    assert damage_issue(issue_registry) is not None
    await refused_for_damage(hass, europe)

    await acknowledge_damage(hass, hass_client)
    assert damage_issue(issue_registry) is None
    assert (await renew(hass, europe))["state"] == "succeeded"
    assert ledger_packages(demo_backend) == [
        ("camera-iot", "iot-1gb-30d"),
        ("europe-esim", "eu-5gb-15d"),
    ]


async def test_malformed_records_hold_only_their_lines(
    hass: HomeAssistant,
    hass_client: Any,
    hass_storage: dict[str, Any],
    demo_backend: DemoBackend,
    issue_registry: ir.IssueRegistry,
) -> None:
    """Records with a bad price, a time without a zone or missing fields are reported, not
    believed; the valid ones are kept and the lines of the bad ones wait for the user."""
    bad_price = stored_record("ps-bad-price", "europe-esim", "2026-11-20T10:00:00Z")
    bad_price["price"] = "twelve"
    bad_date = stored_record("ps-bad-date", "camera-iot", "2026-11-20T10:00:00")
    missing = {"line_key": "demo:camera-iot", "state": "pending"}
    put_journal(
        hass_storage,
        [
            stored_record("ps-valid", "us-travel", "2026-11-20T10:00:00Z"),
            bad_price,
            bad_date,
            missing,
        ],
    )

    entry = await setup_entry(hass, demo_entry("us-travel", "camera-iot", "europe-esim"))

    assert entry.state is ConfigEntryState.LOADED
    assert [r["reference"] for r in await receipts(hass)] == ["ps-valid"]
    issue = damage_issue(issue_registry)
    assert issue is not None
    assert issue.translation_placeholders["lost"] == "3"
    await refused_for_damage(hass, line_device(hass, entry, "europe-esim"))
    await refused_for_damage(hass, line_device(hass, entry, "camera-iot"))
    # Voice and dry runs are held too: a quote would promise a renewal that cannot happen.
    with pytest.raises(HomeAssistantError) as err:
        await renew(hass, line_device(hass, entry, "camera-iot"), dry_run=True)
    assert err.value.translation_key == "journal_damaged"
    await renew(hass, line_device(hass, entry, "us-travel"))
    assert ledger_packages(demo_backend) == [("us-travel", "us-10gb-30d")]

    await acknowledge_damage(hass, hass_client)
    await renew(hass, line_device(hass, entry, "camera-iot"))
    await renew(hass, line_device(hass, entry, "europe-esim"))
    assert ledger_packages(demo_backend) == [
        ("us-travel", "us-10gb-30d"),
        ("camera-iot", "iot-1gb-30d"),
        ("europe-esim", "eu-5gb-15d"),
    ]
    # Acknowledged for good: a restart raises nothing again.
    await restart_home_assistant(hass, entry)
    assert damage_issue(issue_registry) is None


async def test_journal_of_an_unknown_version_holds_every_line(
    hass: HomeAssistant,
    hass_client: Any,
    hass_storage: dict[str, Any],
    demo_backend: DemoBackend,
    issue_registry: ir.IssueRegistry,
) -> None:
    """A journal written by a newer version (a downgrade): what reads is kept, but any line
    may have records this version cannot see, so all wait until the user acknowledges."""
    put_journal(
        hass_storage,
        [stored_record("ps-future", "us-travel", "2026-11-20T10:00:00Z")],
        version=STORAGE_VERSION + 5,
    )

    entry = await setup_entry(hass, demo_entry("us-travel", "camera-iot"))

    assert entry.state is ConfigEntryState.LOADED
    assert [r["reference"] for r in await receipts(hass)] == ["ps-future"]
    assert damage_issue(issue_registry) is not None
    await refused_for_damage(hass, line_device(hass, entry, "us-travel"))
    await refused_for_damage(hass, line_device(hass, entry, "camera-iot"))
    assert demo_backend.ledger == []

    await acknowledge_damage(hass, hass_client)
    await renew(hass, line_device(hass, entry, "camera-iot"))
    assert ledger_packages(demo_backend) == [("camera-iot", "iot-1gb-30d")]
    assert (await renew(hass, line_device(hass, entry, "us-travel")))["state"] == "succeeded"
    assert len(demo_backend.ledger) == 2


async def test_version_one_journal_migrates_with_its_baseline(
    hass: HomeAssistant, hass_storage: dict[str, Any], demo_backend: DemoBackend
) -> None:
    """The store's migration turns an account's version-1 journal into the shared one, and
    keeps the line as it was before the renewal: the evidence that settles a lost answer."""
    line = demo_backend.lines["us-travel"]
    legacy_key = f"{DOMAIN}.{DEMO_ENTRY_ID}.renewals"
    put_journal(
        hass_storage,
        [
            {
                "reference": "ps-v1-sent",
                "line_id": "us-travel",
                "line_name": "Us Travel",
                "package_id": "us-10gb-30d",
                "package_name": "US 10 GB, 30 days",
                "price": "20.00",
                "currency": "USD",
                "caller": "user",
                "created_at": "2026-11-26T11:58:00+00:00",
                "state": "sending",
                "expires_before": line.expires_at.isoformat(),
                "data_total_before": line.total_bytes,
            }
        ],
        version=LEGACY_VERSION,
        key=legacy_key,
    )
    # The carrier charged it under its own reference: only the line shows it.
    package = next(p for p in CATALOGUES["us"] if p.package_id == "us-10gb-30d")
    demo_backend.commit_order("us-travel", package, "carrier-reference")

    await setup_entry(hass, demo_entry("us-travel"))

    (receipt,) = await receipts(hass)
    assert (receipt["reference"], receipt["state"], receipt["settled_by"]) == (
        "ps-v1-sent",
        "succeeded",
        "evidence",
    )
    assert legacy_key not in hass_storage
    (migrated,) = hass_storage[STORAGE_KEY]["data"]["records"]
    assert hass_storage[STORAGE_KEY]["version"] == STORAGE_VERSION
    assert (migrated["line_key"], migrated["entry_id"]) == ("demo:us-travel", DEMO_ENTRY_ID)
    assert migrated["baseline"]["data_total_bytes"] == 10 * GIB
    assert len(demo_backend.ledger) == 1


# --- item 8: verification survives a restart ------------------------------------------------


async def test_verification_is_resumed_after_a_restart(
    hass: HomeAssistant,
    demo_backend: DemoBackend,
    issue_registry: ir.IssueRegistry,
    freezer: FrozenDateTimeFactory,
) -> None:
    """Charged, not on the line yet, then a restart: the new start checks the line again at
    the deadline and records the renewal as arrived."""
    demo_backend.orders_not_applied = True
    entry = await setup_entry(hass, demo_entry("us-travel"))
    order = await renew(hass, line_device(hass, entry, "us-travel"))
    (receipt,) = await receipts(hass)
    assert receipt["verified"] is None

    await restart_home_assistant(hass, entry)
    # The carrier applies the top-up a minute later.
    demo_backend.lines["us-travel"].expires_at += timedelta(days=30)
    freezer.tick(timedelta(minutes=3))
    async_fire_time_changed(hass)
    await hass.async_block_till_done(wait_background_tasks=True)

    (receipt,) = await receipts(hass)
    assert (receipt["reference"], receipt["verified"]) == (order["reference"], True)
    assert not [
        issue
        for issue in issue_registry.issues.values()
        if issue.translation_key == "renewal_not_verified"
    ]
    assert hass.states.get("binary_sensor.us_travel_renewal_problem").state == STATE_OFF
    assert len(demo_backend.ledger) == 1


async def test_verification_due_while_stopped_raises_the_repair_at_start(
    hass: HomeAssistant,
    demo_backend: DemoBackend,
    issue_registry: ir.IssueRegistry,
    freezer: FrozenDateTimeFactory,
) -> None:
    """The deadline passed while Home Assistant was stopped and the line never showed the
    renewal: the start says so in a repair, and the line shows a renewal problem."""
    demo_backend.orders_not_applied = True
    entry = await setup_entry(hass, demo_entry("us-travel"))
    order = await renew(hass, line_device(hass, entry, "us-travel"))

    assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()
    hass.data.pop(DATA_JOURNAL)
    freezer.tick(timedelta(minutes=5))
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)

    (receipt,) = await receipts(hass)
    assert receipt["verified"] is False
    issue = issue_registry.async_get_issue(
        DOMAIN, f"{entry.entry_id}_renewal_not_verified_{order['reference']}"
    )
    assert issue is not None
    assert hass.states.get("binary_sensor.us_travel_renewal_problem").state == STATE_ON
    assert len(demo_backend.ledger) == 1
