"""Renewal you can trust: faults, restarts and repeats never charge twice."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from decimal import Decimal

from freezegun.api import FrozenDateTimeFactory
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_capture_events,
    async_fire_time_changed,
)

from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers import issue_registry as ir

from custom_components.prepaid_sim.const import DOMAIN, EVENT_RENEWAL
from custom_components.prepaid_sim.providers.base import Package
from custom_components.prepaid_sim.providers.demo import DemoBackend, PurchaseFault

from .helpers import demo_entry, line_device, receipts, renew

pytestmark = pytest.mark.freeze_time("2026-11-26T12:00:00+00:00")


async def test_lost_answer_after_commit_is_found_not_resent(
    hass: HomeAssistant, init_integration: MockConfigEntry, demo_backend: DemoBackend
) -> None:
    """The carrier charged but the answer was lost: the order is found by its reference."""
    demo_backend.next_purchase_fault = PurchaseFault.LOSE_RESPONSE_AFTER_COMMIT
    order = await renew(hass, line_device(hass, init_integration, "europe-esim"))
    assert order["state"] == "succeeded"
    assert len(demo_backend.ledger) == 1
    assert order["order_id"] == demo_backend.ledger[0].order_id
    assert order["reference"] == demo_backend.ledger[0].reference
    (receipt,) = await receipts(hass)
    assert receipt["state"] == "succeeded"


async def test_timeout_before_commit_charges_nothing(
    hass: HomeAssistant, init_integration: MockConfigEntry, demo_backend: DemoBackend
) -> None:
    """A request that never reached the carrier is settled as not placed."""
    demo_backend.next_purchase_fault = PurchaseFault.TIMEOUT_BEFORE_COMMIT
    device_id = line_device(hass, init_integration, "europe-esim")
    with pytest.raises(HomeAssistantError) as err:
        await renew(hass, device_id)
    assert err.value.translation_key == "order_not_placed"
    assert demo_backend.ledger == []
    (receipt,) = await receipts(hass)
    assert (receipt["state"], receipt["error"]) == ("failed", "not_placed")
    # Nothing was charged, so trying again is allowed and charges once.
    await renew(hass, device_id)
    assert len(demo_backend.ledger) == 1


async def test_unknown_outcome_blocks_until_settled(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    demo_backend: DemoBackend,
    issue_registry: ir.IssueRegistry,
    freezer: FrozenDateTimeFactory,
) -> None:
    """While an order's fate is unknown the line takes no new renewal; a repair explains."""
    provider = init_integration.runtime_data.provider
    provider.order_lookup_settles_after = timedelta(minutes=5)
    demo_backend.next_purchase_fault = PurchaseFault.TIMEOUT_BEFORE_COMMIT
    device_id = line_device(hass, init_integration, "europe-esim")
    with pytest.raises(HomeAssistantError) as err:
        await renew(hass, device_id)
    assert err.value.translation_key == "outcome_unknown"
    pending = [i for i in issue_registry.issues.values() if i.translation_key == "renewal_pending"]
    assert len(pending) == 1

    with pytest.raises(HomeAssistantError) as err:
        await renew(hass, device_id, allow_repeat=True)
    assert err.value.translation_key == "renewal_pending"
    assert demo_backend.ledger == []

    # Look-ups continue with backoff; once the carrier's history is complete it settles.
    freezer.tick(timedelta(minutes=6))
    async_fire_time_changed(hass)
    await hass.async_block_till_done()
    (receipt,) = await receipts(hass)
    assert (receipt["state"], receipt["error"]) == ("failed", "not_placed")
    assert not [i for i in issue_registry.issues.values() if i.translation_key == "renewal_pending"]
    await renew(hass, device_id)
    assert len(demo_backend.ledger) == 1


async def test_restart_between_send_and_answer(
    hass: HomeAssistant,
    hass_storage: dict,
    demo_backend: DemoBackend,
) -> None:
    """Home Assistant stopped after sending: on start the order is reconciled first."""
    entry = demo_entry("europe-esim")
    # The request reached the carrier, which committed it; then Home Assistant stopped.
    package = next(
        p for p in demo_backend.packages_for("europe-esim") if p.package_id == "eu-5gb-15d"
    )
    demo_backend.commit_order("europe-esim", package, "ps-sent-before-stop")
    hass_storage[f"{DOMAIN}.{entry.entry_id}.renewals"] = {
        "version": 1,
        "minor_version": 1,
        "key": f"{DOMAIN}.{entry.entry_id}.renewals",
        "data": {
            "records": [
                {
                    "reference": "ps-sent-before-stop",
                    "line_id": "europe-esim",
                    "line_name": "Europe Esim",
                    "package_id": "eu-5gb-15d",
                    "package_name": "Europe 5 GB, 15 days",
                    "price": "12.00",
                    "currency": "USD",
                    "caller": "user",
                    "created_at": "2026-11-26T11:59:00+00:00",
                    "state": "sending",
                }
            ]
        },
    }
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()

    (receipt,) = await receipts(hass)
    assert receipt["state"] == "succeeded"
    assert receipt["order_id"] == demo_backend.ledger[0].order_id
    # The user presses again right away: refused as a repeat, still one charge.
    with pytest.raises(ServiceValidationError) as err:
        await renew(hass, line_device(hass, entry, "europe-esim"))
    assert err.value.translation_key == "renewed_recently"
    assert len(demo_backend.ledger) == 1


async def test_twenty_concurrent_presses_charge_once(
    hass: HomeAssistant, init_integration: MockConfigEntry, demo_backend: DemoBackend
) -> None:
    """Twenty renew calls at once for one line: one charge, nineteen clear refusals."""
    demo_backend.purchase_turns = 50
    device_id = line_device(hass, init_integration, "camera-iot")
    requests_before = demo_backend.request_count
    results = await asyncio.gather(
        *(renew(hass, device_id) for _ in range(20)), return_exceptions=True
    )
    orders = [r for r in results if isinstance(r, dict)]
    refusals = [r for r in results if isinstance(r, ServiceValidationError)]
    assert len(orders) == 1
    assert len(refusals) == 19
    assert {r.translation_key for r in refusals} == {"renewed_recently"}
    assert len(demo_backend.ledger) == 1
    assert len(await receipts(hass)) == 1
    # The refused presses cost no request: packages, purchase and the re-read only.
    assert demo_backend.request_count - requests_before <= 4


async def test_same_request_id_is_the_same_renewal(
    hass: HomeAssistant, init_integration: MockConfigEntry, demo_backend: DemoBackend
) -> None:
    """An automation retrying with its context id gets the first result back."""
    device_id = line_device(hass, init_integration, "us-travel")
    first = await renew(hass, device_id, request_id="ctx-1")
    second = await renew(hass, device_id, request_id="ctx-1", allow_repeat=True)
    assert first == second
    assert len(demo_backend.ledger) == 1


async def test_repeat_window(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    demo_backend: DemoBackend,
    freezer: FrozenDateTimeFactory,
) -> None:
    """A second renewal within ten minutes needs allow_repeat; after that it is allowed."""
    device_id = line_device(hass, init_integration, "us-travel")
    await renew(hass, device_id)
    with pytest.raises(ServiceValidationError) as err:
        await renew(hass, device_id)
    assert err.value.translation_key == "renewed_recently"
    # 12:00 UTC in the test instance's time zone (US/Pacific).
    assert "at 04:00" in str(err.value)
    await renew(hass, device_id, allow_repeat=True)
    assert len(demo_backend.ledger) == 2
    freezer.tick(timedelta(minutes=11))
    await renew(hass, device_id)
    assert len(demo_backend.ledger) == 3


async def test_rejected_order(
    hass: HomeAssistant, init_integration: MockConfigEntry, demo_backend: DemoBackend
) -> None:
    """A package the carrier refuses gives its code, a failed receipt and no charge."""
    demo_backend.reject_orders_with = "package_unavailable"
    with pytest.raises(HomeAssistantError) as err:
        await renew(hass, line_device(hass, init_integration, "us-travel"))
    assert err.value.translation_key == "order_rejected"
    assert "package_unavailable" in str(err.value)
    assert demo_backend.ledger == []
    (receipt,) = await receipts(hass)
    assert receipt["state"] == "failed"


async def test_provider_down_when_sending(
    hass: HomeAssistant, init_integration: MockConfigEntry, demo_backend: DemoBackend
) -> None:
    """A provider that cannot be reached at all charges nothing and says so."""
    demo_backend.unavailable = True
    with pytest.raises(HomeAssistantError) as err:
        await renew(hass, line_device(hass, init_integration, "us-travel"))
    assert err.value.translation_key == "provider_error"
    assert demo_backend.ledger == []


async def test_spend_cap(hass: HomeAssistant, demo_backend: DemoBackend) -> None:
    """The monthly cap is checked before any request."""
    entry = demo_entry("europe-esim", spend_cap=20)
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    device_id = line_device(hass, entry, "europe-esim")
    await renew(hass, device_id)
    requests_before = demo_backend.request_count
    with pytest.raises(ServiceValidationError) as err:
        await renew(hass, device_id, allow_repeat=True)
    assert err.value.translation_key == "spend_cap_reached"
    assert "20.00 USD" in str(err.value)
    assert len(demo_backend.ledger) == 1
    # Refused by the cap: only the package list was read, no order was sent.
    assert demo_backend.request_count == requests_before + 1


async def test_event_and_verification_repair(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    demo_backend: DemoBackend,
    issue_registry: ir.IssueRegistry,
    freezer: FrozenDateTimeFactory,
) -> None:
    """A charged renewal that never shows on the line raises a repair with the receipt."""
    events = async_capture_events(hass, EVENT_RENEWAL)
    demo_backend.orders_not_applied = True
    order = await renew(hass, line_device(hass, init_integration, "us-travel"))
    assert [e.data["state"] for e in events] == ["succeeded"]
    assert events[0].data["order_id"] == order["order_id"]

    freezer.tick(timedelta(minutes=3))
    async_fire_time_changed(hass)
    await hass.async_block_till_done()
    issue = issue_registry.async_get_issue(
        DOMAIN, f"{init_integration.entry_id}_renewal_not_verified_{order['reference']}"
    )
    assert issue is not None
    assert issue.translation_placeholders["order_id"] == order["order_id"]
    (receipt,) = await receipts(hass)
    assert receipt["verified"] is False


async def test_renewal_that_arrives_late_clears_its_repair(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    demo_backend: DemoBackend,
    issue_registry: ir.IssueRegistry,
    freezer: FrozenDateTimeFactory,
) -> None:
    """Judged "not arrived", then the line shows it: the repair goes, for good."""
    demo_backend.orders_not_applied = True
    order = await renew(hass, line_device(hass, init_integration, "us-travel"))
    freezer.tick(timedelta(minutes=3))
    async_fire_time_changed(hass)
    await hass.async_block_till_done()
    issue_id = f"{init_integration.entry_id}_renewal_not_verified_{order['reference']}"
    assert issue_registry.async_get_issue(DOMAIN, issue_id) is not None

    # The carrier applies the package late; the next read shows it.
    demo_backend.apply_late(order["reference"])
    await init_integration.runtime_data.coordinator.async_refresh()
    await hass.async_block_till_done()
    assert issue_registry.async_get_issue(DOMAIN, issue_id) is None
    (receipt,) = await receipts(hass)
    assert receipt["verified"] is True

    # A restart does not raise it again.
    await hass.config_entries.async_reload(init_integration.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    assert issue_registry.async_get_issue(DOMAIN, issue_id) is None


def test_demo_package_is_normalized(demo_backend: DemoBackend) -> None:
    """Demo prices are Decimal in an ISO currency, data in bytes."""
    package: Package = demo_backend.packages_for("us-travel")[0]
    assert package.price.amount == Decimal("5.00")
    assert package.price.currency == "USD"
    assert package.data_bytes == 1024**3


async def test_order_still_processing_is_followed_up(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    demo_backend: DemoBackend,
    issue_registry: ir.IssueRegistry,
    freezer: FrozenDateTimeFactory,
) -> None:
    """An order accepted but still processing is pending, then settles by look-up."""
    demo_backend.orders_processing = True
    device_id = line_device(hass, init_integration, "us-travel")
    order = await renew(hass, device_id)
    assert order["state"] == "pending"
    assert len(demo_backend.ledger) == 1
    with pytest.raises(HomeAssistantError) as err:
        await renew(hass, device_id, allow_repeat=True)
    assert err.value.translation_key == "renewal_pending"
    freezer.tick(timedelta(seconds=61))
    async_fire_time_changed(hass)
    await hass.async_block_till_done()
    (receipt,) = await receipts(hass)
    assert receipt["state"] == "succeeded"
    assert not [i for i in issue_registry.issues.values() if i.translation_key == "renewal_pending"]
    assert len(demo_backend.ledger) == 1
