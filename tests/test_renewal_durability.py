"""One charge per intended renewal across reloads, restarts and a line tracked twice.

Each test reads the demo carrier's ledger: the money actually taken.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from freezegun.api import FrozenDateTimeFactory
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_fire_time_changed

from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers import issue_registry as ir
from homeassistant.util import dt as dt_util

from custom_components.prepaid_sim.catalogue import choose_package
from custom_components.prepaid_sim.const import CONF_LINE_ID, CONF_PROVIDER, DOMAIN
from custom_components.prepaid_sim.providers.demo import (
    DEMO_PROVIDER_KEY,
    DemoBackend,
    DemoProvider,
)
from custom_components.prepaid_sim.records import LineBaseline, RenewalRecord

from .helpers import demo_entry, line_device, receipts, renew, setup_entry, start_fix

pytestmark = pytest.mark.freeze_time("2026-11-26T12:00:00+00:00")

SECOND_ENTRY_ID = "01JDEMOSECONDENTRY00000000"


def second_entry(*line_ids: str, **line_data: object) -> MockConfigEntry:
    """Return a second demo entry (the account added again) tracking ``line_ids``."""
    return MockConfigEntry(
        domain=DOMAIN,
        title="Demo account (again)",
        entry_id=SECOND_ENTRY_ID,
        unique_id=f"{DEMO_PROVIDER_KEY}_again",
        data={CONF_PROVIDER: DEMO_PROVIDER_KEY},
        subentries_data=[
            {
                "subentry_type": "line",
                "subentry_id": f"01JSECONDLINE{index:013d}",
                "data": {CONF_LINE_ID: line_id, **line_data},
                "title": line_id.replace("-", " ").title(),
                "unique_id": line_id,
            }
            for index, line_id in enumerate(line_ids)
        ],
    )


def issues_of_kind(issue_registry: ir.IssueRegistry, kind: str) -> list[ir.IssueEntry]:
    """Return our open issues of one kind."""
    return [
        issue
        for (domain, _), issue in issue_registry.issues.items()
        if domain == DOMAIN and issue.translation_key == kind
    ]


async def journal_sent_but_unanswered(
    entry: MockConfigEntry, line_id: str, reference: str, *, minutes_ago: int = 1
) -> RenewalRecord:
    """Write the record a renewal leaves when Home Assistant stops right after sending.

    The engine journals a renewal (state "sending", with the line as it was) before the
    order leaves; a stop before the answer leaves exactly this on disk.
    """
    data = entry.runtime_data
    line = data.coordinator.data.lines[line_id]
    packages = await data.provider.async_list_packages(line_id)
    package = choose_package(packages, None, line)
    assert package is not None
    subentry = next(s for s in entry.subentries.values() if s.data[CONF_LINE_ID] == line_id)
    record = RenewalRecord(
        reference=reference,
        line_key=data.renewals.key(line_id),
        line_id=line_id,
        entry_id=entry.entry_id,
        line_name=subentry.title,
        package_id=package.package_id,
        package_name=package.name,
        price=package.price,
        caller="user",
        created_at=dt_util.utcnow() - timedelta(minutes=minutes_ago),
        baseline=LineBaseline.of(line),
    )
    data.journal.add(record)
    await data.journal.async_save()
    return record


async def let_tasks_run(turns: int = 50) -> None:
    """Give other tasks turns; the frozen clock would stop a timed sleep from ever ending."""
    for _ in range(turns):
        await asyncio.sleep(0)


async def restart(hass: HomeAssistant, entry: MockConfigEntry) -> None:
    """Stop the account and start it again, as a restart or reload does."""
    assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)


async def test_reload_during_a_purchase_waits_for_it(
    hass: HomeAssistant, demo_backend: DemoBackend
) -> None:
    """A reload asked while an order is at the carrier waits; the order is recorded once."""
    entry = await setup_entry(hass, demo_entry("us-travel", "camera-iot"))
    device_id = line_device(hass, entry, "us-travel")
    demo_backend.purchase_gate = gate = asyncio.Event()
    purchase = hass.async_create_task(renew(hass, device_id))
    await let_tasks_run()
    assert not purchase.done()

    reload = hass.async_create_task(hass.config_entries.async_reload(entry.entry_id))
    await let_tasks_run()
    # Unloading waits for the purchase: nothing is torn down under it.
    assert not reload.done()
    assert not purchase.done()
    assert entry.state is ConfigEntryState.UNLOAD_IN_PROGRESS

    gate.set()
    order = await purchase
    assert await reload
    await hass.async_block_till_done()
    assert order["state"] == "succeeded"
    assert entry.state is ConfigEntryState.LOADED
    assert len(demo_backend.ledger) == 1
    (receipt,) = await receipts(hass)
    assert (receipt["state"], receipt["order_id"]) == ("succeeded", order["order_id"])
    # The reloaded account knows the renewal: pressing again is refused.
    with pytest.raises(ServiceValidationError) as err:
        await renew(hass, device_id)
    assert err.value.translation_key == "renewed_recently"
    assert len(demo_backend.ledger) == 1


async def test_restart_after_sending_finds_the_order(
    hass: HomeAssistant, demo_backend: DemoBackend
) -> None:
    """Sent, charged, then a stop before the answer: on start the order is found, not resent."""
    entry = await setup_entry(hass, demo_entry("us-travel"))
    record = await journal_sent_but_unanswered(entry, "us-travel", "ps-stopped")
    line = entry.runtime_data.coordinator.data.lines["us-travel"]
    package = choose_package(
        await entry.runtime_data.provider.async_list_packages("us-travel"), None, line
    )
    assert package is not None
    demo_backend.commit_order("us-travel", package, record.reference)

    await restart(hass, entry)

    (receipt,) = await receipts(hass)
    assert (receipt["reference"], receipt["state"]) == ("ps-stopped", "succeeded")
    assert receipt["settled_by"] == "provider"
    with pytest.raises(ServiceValidationError):
        await renew(hass, line_device(hass, entry, "us-travel"))
    assert len(demo_backend.ledger) == 1


async def test_line_evidence_outweighs_an_empty_order_history(
    hass: HomeAssistant, demo_backend: DemoBackend
) -> None:
    """The history lacks our reference but the line moved: charged, never "not placed"."""
    entry = await setup_entry(hass, demo_entry("us-travel"))
    await journal_sent_but_unanswered(entry, "us-travel", "ps-stopped")
    line = entry.runtime_data.coordinator.data.lines["us-travel"]
    package = choose_package(
        await entry.runtime_data.provider.async_list_packages("us-travel"), None, line
    )
    assert package is not None
    # The carrier charged under another reference (its history cannot find ours).
    demo_backend.commit_order("us-travel", package, "carrier-side-reference")

    await restart(hass, entry)

    (receipt,) = await receipts(hass)
    assert (receipt["state"], receipt["settled_by"]) == ("succeeded", "evidence")
    with pytest.raises(ServiceValidationError) as err:
        await renew(hass, line_device(hass, entry, "us-travel"))
    assert err.value.translation_key == "renewed_recently"
    assert len(demo_backend.ledger) == 1


async def test_no_evidence_either_way_waits_for_the_user(
    hass: HomeAssistant,
    hass_client: Any,
    demo_backend: DemoBackend,
    issue_registry: ir.IssueRegistry,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Unconfirmed: no new renewal, counted in the cap, until the user settles it."""
    # A provider whose order history may simply not show an order yet.
    monkeypatch.setattr(DemoProvider, "lookup_proves_absence", False)
    entry = await setup_entry(hass, demo_entry("europe-esim", spend_cap=20))
    await journal_sent_but_unanswered(entry, "europe-esim", "ps-unclear")

    await restart(hass, entry)

    (receipt,) = await receipts(hass)
    assert receipt["state"] == "unconfirmed"
    (issue,) = issues_of_kind(issue_registry, "renewal_unconfirmed")
    assert issue.is_fixable
    device_id = line_device(hass, entry, "europe-esim")
    with pytest.raises(HomeAssistantError) as err:
        await renew(hass, device_id, allow_repeat=True)
    assert err.value.translation_key == "renewal_unconfirmed"
    assert demo_backend.ledger == []

    # The user says it was not charged: the line may be renewed again, once.
    client, flow = await start_fix(hass, hass_client, issue.issue_id)
    assert flow["type"] == "menu"
    response = await client.post(
        f"/api/repairs/issues/fix/{flow['flow_id']}", json={"next_step_id": "not_charged"}
    )
    assert (await response.json())["type"] == "create_entry"
    await hass.async_block_till_done()
    assert not issues_of_kind(issue_registry, "renewal_unconfirmed")
    assert (await renew(hass, device_id, allow_repeat=True))["state"] == "succeeded"
    assert len(demo_backend.ledger) == 1


async def test_unconfirmed_renewal_counts_toward_the_spend_cap(
    hass: HomeAssistant,
    hass_client: Any,
    demo_backend: DemoBackend,
    issue_registry: ir.IssueRegistry,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Settled as charged by the user, the unclear renewal stays in this month's spend."""
    monkeypatch.setattr(DemoProvider, "lookup_proves_absence", False)
    entry = await setup_entry(hass, demo_entry("europe-esim", spend_cap=20))
    await journal_sent_but_unanswered(entry, "europe-esim", "ps-unclear")
    await restart(hass, entry)
    (issue,) = issues_of_kind(issue_registry, "renewal_unconfirmed")

    client, flow = await start_fix(hass, hass_client, issue.issue_id)
    response = await client.post(
        f"/api/repairs/issues/fix/{flow['flow_id']}", json={"next_step_id": "charged"}
    )
    assert (await response.json())["type"] == "create_entry"
    await hass.async_block_till_done()
    (receipt,) = await receipts(hass)
    assert (receipt["state"], receipt["settled_by"]) == ("succeeded", "user")
    # 12 USD of the 20 USD cap is taken: another 12 USD renewal is refused.
    with pytest.raises(ServiceValidationError) as err:
        await renew(hass, line_device(hass, entry, "europe-esim"), allow_repeat=True)
    assert err.value.translation_key == "spend_cap_reached"
    assert "(12.00 USD spent this month)" in str(err.value)
    assert demo_backend.ledger == []


async def test_unexpected_look_up_failure_at_startup_keeps_it_pending(
    hass: HomeAssistant,
    demo_backend: DemoBackend,
    issue_registry: ir.IssueRegistry,
    freezer: FrozenDateTimeFactory,
) -> None:
    """A look-up that raises anything keeps the renewal pending and retried; setup succeeds."""
    entry = await setup_entry(hass, demo_entry("us-travel"))
    record = await journal_sent_but_unanswered(entry, "us-travel", "ps-glitch")
    line = entry.runtime_data.coordinator.data.lines["us-travel"]
    package = choose_package(
        await entry.runtime_data.provider.async_list_packages("us-travel"), None, line
    )
    assert package is not None
    demo_backend.commit_order("us-travel", package, record.reference)
    demo_backend.order_history_garbled = True

    await restart(hass, entry)

    assert entry.state is ConfigEntryState.LOADED
    (receipt,) = await receipts(hass)
    assert receipt["state"] == "pending"
    assert len(issues_of_kind(issue_registry, "renewal_pending")) == 1
    with pytest.raises(HomeAssistantError) as err:
        await renew(hass, line_device(hass, entry, "us-travel"), allow_repeat=True)
    assert err.value.translation_key == "renewal_pending"

    # The history reads again: the retry settles it as charged, once.
    demo_backend.order_history_garbled = False
    freezer.tick(timedelta(minutes=5))
    async_fire_time_changed(hass)
    await hass.async_block_till_done(wait_background_tasks=True)
    (receipt,) = await receipts(hass)
    assert receipt["state"] == "succeeded"
    assert not issues_of_kind(issue_registry, "renewal_pending")
    assert len(demo_backend.ledger) == 1


async def test_one_line_in_two_entries_is_renewed_once(
    hass: HomeAssistant, demo_backend: DemoBackend
) -> None:
    """Two entries of one account share the line's lock, journal and repeat window."""
    first = await setup_entry(hass, demo_entry("us-travel"))
    again = await setup_entry(hass, second_entry("us-travel"))
    first_device = line_device(hass, first, "us-travel")
    again_device = line_device(hass, again, "us-travel")
    assert first_device != again_device

    results = await asyncio.gather(
        renew(hass, first_device), renew(hass, again_device), return_exceptions=True
    )
    assert sum(isinstance(result, dict) for result in results) == 1, results
    assert len(demo_backend.ledger) == 1
    # Minutes later, from the other entry: still a repeat of the same renewal.
    with pytest.raises(ServiceValidationError) as err:
        await renew(hass, again_device)
    assert err.value.translation_key in ("renewed_recently", "renewal_pending")
    assert len(demo_backend.ledger) == 1


async def test_spend_cap_counts_the_line_across_entries(
    hass: HomeAssistant, demo_backend: DemoBackend
) -> None:
    """A renewal through one entry counts against the cap the other entry sets."""
    first = await setup_entry(hass, demo_entry("europe-esim"))
    again = await setup_entry(hass, second_entry("europe-esim", spend_cap=20))
    await renew(hass, line_device(hass, first, "europe-esim"))
    with pytest.raises(ServiceValidationError) as err:
        await renew(hass, line_device(hass, again, "europe-esim"), allow_repeat=True)
    assert err.value.translation_key == "spend_cap_reached"
    assert len(demo_backend.ledger) == 1


async def test_request_id_is_per_line(hass: HomeAssistant, demo_backend: DemoBackend) -> None:
    """The README's pattern: one automation run renews two lines with one context id."""
    entry = await setup_entry(hass, demo_entry("us-travel", "camera-iot"))
    context_id = "01JAUTOMATIONRUN0000000000"
    first = await renew(hass, line_device(hass, entry, "us-travel"), request_id=context_id)
    second = await renew(hass, line_device(hass, entry, "camera-iot"), request_id=context_id)
    assert first["reference"] != second["reference"]
    assert sorted(charge.line_id for charge in demo_backend.ledger) == ["camera-iot", "us-travel"]
    # The same run retried answers from the journal: no third charge.
    assert await renew(hass, line_device(hass, entry, "us-travel"), request_id=context_id) == first
    assert len(demo_backend.ledger) == 2


async def test_request_id_expires_after_a_day(
    hass: HomeAssistant, demo_backend: DemoBackend, freezer: FrozenDateTimeFactory
) -> None:
    """A request id names one renewal for 24 hours; a day later it is a new request."""
    entry = await setup_entry(hass, demo_entry("us-travel"))
    device_id = line_device(hass, entry, "us-travel")
    first = await renew(hass, device_id, request_id="nightly")
    freezer.tick(timedelta(hours=23))
    assert await renew(hass, device_id, request_id="nightly") == first
    freezer.tick(timedelta(hours=2))
    later = await renew(hass, device_id, request_id="nightly")
    assert later["reference"] != first["reference"]
    assert len(demo_backend.ledger) == 2


async def test_empty_request_id_is_refused(hass: HomeAssistant, demo_backend: DemoBackend) -> None:
    """An empty request id would match every empty one: refused, with how to fix it."""
    entry = await setup_entry(hass, demo_entry("us-travel"))
    for empty in ("", "   "):
        with pytest.raises(ServiceValidationError) as err:
            await renew(hass, line_device(hass, entry, "us-travel"), request_id=empty)
        assert err.value.translation_key == "empty_request_id"
    assert demo_backend.ledger == []
