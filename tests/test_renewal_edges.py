"""Renewal edge cases: failures at each step, late look-ups and verifications, the journal."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

from freezegun.api import FrozenDateTimeFactory
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_fire_time_changed

from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers import issue_registry as ir

from custom_components.prepaid_sim.const import DOMAIN
from custom_components.prepaid_sim.journal import MAX_RECORDS as MAX_RECEIPTS
from custom_components.prepaid_sim.providers.base import Money, Order, OrderStatus
from custom_components.prepaid_sim.providers.demo import CATALOGUES, DemoBackend, PurchaseFault

from .helpers import DEMO_ENTRY_ID, demo_entry, line_device, receipts, renew, setup_entry

pytestmark = pytest.mark.freeze_time("2026-11-26T12:00:00+00:00")

JOURNAL = f"{DOMAIN}.{DEMO_ENTRY_ID}.renewals"


def record(reference: str, line_id: str, created_at: str, **fields: Any) -> dict[str, Any]:
    """Return a stored journal record of a settled demo renewal."""
    return {
        "reference": reference,
        "line_id": line_id,
        "line_name": line_id.replace("-", " ").title(),
        "package_id": "pkg",
        "package_name": "A package",
        "price": "5.00",
        "currency": "USD",
        "caller": "user",
        "created_at": created_at,
        "state": "succeeded",
        **fields,
    }


def store_journal(hass_storage: dict[str, Any], records: list[dict[str, Any]]) -> None:
    """Put a renewal journal on disk, as an earlier run left it."""
    hass_storage[JOURNAL] = {
        "version": 1,
        "minor_version": 1,
        "key": JOURNAL,
        "data": {"records": records},
    }


def pending_issues(issue_registry: ir.IssueRegistry) -> list[ir.IssueEntry]:
    """Return the issues of renewals whose outcome is not known yet."""
    return [i for i in issue_registry.issues.values() if i.translation_key == "renewal_pending"]


async def test_retried_request_id_of_a_failed_renewal(
    hass: HomeAssistant, init_integration: MockConfigEntry, demo_backend: DemoBackend
) -> None:
    """An automation retrying a request that failed is told so; the order is not sent again."""
    device_id = line_device(hass, init_integration, "us-travel")
    demo_backend.reject_orders_with = "package_unavailable"
    with pytest.raises(HomeAssistantError):
        await renew(hass, device_id, request_id="ctx-1")
    demo_backend.reject_orders_with = None
    with pytest.raises(HomeAssistantError) as err:
        await renew(hass, device_id, request_id="ctx-1")
    assert err.value.translation_key == "renewal_failed_before"
    assert "Us Travel" in str(err.value)
    assert "package_unavailable" in str(err.value)
    assert demo_backend.ledger == []
    assert len(await receipts(hass)) == 1
    # A new request is a new renewal.
    await renew(hass, device_id, request_id="ctx-2")
    assert len(demo_backend.ledger) == 1


async def test_purchase_that_cannot_reach_the_provider(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    demo_backend: DemoBackend,
    issue_registry: ir.IssueRegistry,
) -> None:
    """A purchase that never left is a failure, not a pending order: trying again works."""
    device_id = line_device(hass, init_integration, "us-travel")
    demo_backend.next_purchase_fault = PurchaseFault.UNREACHABLE
    with pytest.raises(HomeAssistantError) as err:
        await renew(hass, device_id)
    assert err.value.translation_key == "provider_error"
    assert "could not reach the carrier" in str(err.value)
    (receipt,) = await receipts(hass)
    assert (receipt["state"], receipt["error"]) == ("failed", "ProviderUnavailableError")
    assert not pending_issues(issue_registry)
    await renew(hass, device_id)
    assert len(demo_backend.ledger) == 1


async def test_order_that_fails_at_the_provider(
    hass: HomeAssistant, init_integration: MockConfigEntry, demo_backend: DemoBackend
) -> None:
    """An order the carrier took and then failed is reported with its id; nothing charged."""
    demo_backend.next_purchase_fault = PurchaseFault.ORDER_FAILS
    with pytest.raises(HomeAssistantError) as err:
        await renew(hass, line_device(hass, init_integration, "us-travel"))
    assert err.value.translation_key == "order_failed"
    assert "(order DEMO-00001) but reported that it failed" in str(err.value)
    assert demo_backend.ledger == []
    assert demo_backend.wallet == Decimal("60.00")
    (receipt,) = await receipts(hass)
    assert (receipt["state"], receipt["error"], receipt["order_id"]) == (
        "failed",
        "order_failed",
        "DEMO-00001",
    )
    await hass.async_block_till_done()
    assert hass.states.get("binary_sensor.us_travel_renewal_problem").state == "on"


async def test_look_ups_wait_out_a_provider_outage(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    demo_backend: DemoBackend,
    issue_registry: ir.IssueRegistry,
    freezer: FrozenDateTimeFactory,
) -> None:
    """A processing order stays pending while the provider is down, then settles; one charge."""
    demo_backend.orders_processing = True
    device_id = line_device(hass, init_integration, "us-travel")
    assert (await renew(hass, device_id))["state"] == "pending"

    demo_backend.unavailable = True
    freezer.tick(timedelta(seconds=61))
    async_fire_time_changed(hass)
    await hass.async_block_till_done()
    (receipt,) = await receipts(hass)
    assert receipt["state"] == "pending"
    assert len(pending_issues(issue_registry)) == 1

    # Back up: the next look-up (backed off to two minutes) finds the order completed.
    demo_backend.unavailable = False
    freezer.tick(timedelta(seconds=121))
    async_fire_time_changed(hass)
    await hass.async_block_till_done()
    (receipt,) = await receipts(hass)
    assert (receipt["state"], receipt["order_id"]) == ("succeeded", "DEMO-00001")
    assert not pending_issues(issue_registry)
    assert len(demo_backend.ledger) == 1


async def test_renewal_that_shows_up_late_is_verified(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    demo_backend: DemoBackend,
    issue_registry: ir.IssueRegistry,
    freezer: FrozenDateTimeFactory,
) -> None:
    """A renewal the line shows only by the second check is verified, with no repair."""
    demo_backend.orders_not_applied = True
    order = await renew(hass, line_device(hass, init_integration, "us-travel"))
    (receipt,) = await receipts(hass)
    assert receipt["verified"] is None
    # The carrier applies it a minute later.
    demo_backend.lines["us-travel"].expires_at += timedelta(days=30)
    freezer.tick(timedelta(minutes=3))
    async_fire_time_changed(hass)
    await hass.async_block_till_done()
    (receipt,) = await receipts(hass)
    assert receipt["verified"] is True
    assert issue_registry.async_get_issue(DOMAIN, f"not_verified_{order['reference']}") is None
    assert hass.states.get("binary_sensor.us_travel_renewal_problem").state == "off"


async def test_spend_cap_counts_only_the_same_currency(
    hass: HomeAssistant, hass_storage: dict[str, Any], demo_backend: DemoBackend
) -> None:
    """Money spent in another currency is not added to a cap in the package's currency."""
    store_journal(
        hass_storage,
        [
            record(
                "ps-eur", "europe-esim", "2026-11-26T10:00:00+00:00", price="15.00", currency="EUR"
            ),
            record("ps-old", "europe-esim", "2026-10-20T10:00:00+00:00", price="15.00"),
        ],
    )
    entry = await setup_entry(hass, demo_entry("europe-esim", spend_cap=20))
    device_id = line_device(hass, entry, "europe-esim")
    # 15 EUR this month and 15 USD last month leave the 20 USD cap untouched.
    await renew(hass, device_id)
    with pytest.raises(ServiceValidationError) as err:
        await renew(hass, device_id, allow_repeat=True)
    assert "(12.00 USD spent this month)" in str(err.value)
    assert len(demo_backend.ledger) == 1


async def test_journal_keeps_the_newest_receipts_and_every_pending_one(
    hass: HomeAssistant, hass_storage: dict[str, Any], demo_backend: DemoBackend
) -> None:
    """Beyond the limit the oldest settled receipts go; an unsettled order is never dropped."""
    # The oldest record is an order the carrier is still processing.
    demo_backend.orders["ps-pending"] = Order(
        order_id="DEMO-PENDING",
        line_id="us-travel",
        package_id="us-10gb-30d",
        reference="ps-pending",
        status=OrderStatus.PROCESSING,
        price=Money(Decimal("20.00"), "USD"),
    )
    pending = record(
        "ps-pending", "us-travel", "2026-09-01T10:00:00+00:00", state="pending", price="20.00"
    )
    settled = [
        record(f"ps-{n:03d}", "camera-iot", f"2026-10-01T10:{n // 60:02d}:{n % 60:02d}+00:00")
        for n in range(MAX_RECEIPTS)
    ]
    store_journal(hass_storage, [pending, *settled])
    entry = await setup_entry(hass, demo_entry("us-travel", "camera-iot", "europe-esim"))

    await renew(hass, line_device(hass, entry, "europe-esim"))

    kept = await receipts(hass)
    assert len(kept) == MAX_RECEIPTS
    references = {receipt["reference"] for receipt in kept}
    assert "ps-pending" in references
    assert {"ps-000", "ps-001"}.isdisjoint(references)
    assert {"ps-002", f"ps-{MAX_RECEIPTS - 1:03d}"} <= references
    assert kept[0]["line_name"] == "Europe Esim"
    stored = hass_storage[f"{DOMAIN}.renewals"]["data"]["records"]
    assert [r["reference"] for r in stored[:2]] == ["ps-pending", "ps-002"]
    assert len(stored) == MAX_RECEIPTS
    # The pending order still holds its line.
    with pytest.raises(HomeAssistantError) as err:
        await renew(hass, line_device(hass, entry, "us-travel"))
    assert err.value.translation_key == "renewal_pending"


async def test_line_with_no_package_on_offer(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    demo_backend: DemoBackend,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A line the carrier offers nothing for cannot be renewed, and the reason is named."""
    monkeypatch.setitem(CATALOGUES, "iot", ())
    with pytest.raises(ServiceValidationError) as err:
        await renew(hass, line_device(hass, init_integration, "camera-iot"))
    assert err.value.translation_key == "no_packages"
    assert "Camera Iot" in str(err.value)
    assert demo_backend.ledger == []


async def test_quote_checked_by_a_provider_with_a_dry_run(
    hass: HomeAssistant, init_integration: MockConfigEntry, demo_backend: DemoBackend
) -> None:
    """Where the provider can check an order for free, a quote it would refuse says why."""
    init_integration.runtime_data.provider.validates_with_provider = True
    device_id = line_device(hass, init_integration, "us-travel")
    assert (await renew(hass, device_id, dry_run=True))["price"] == 20.0
    demo_backend.wallet = Decimal("1.00")
    with pytest.raises(HomeAssistantError) as err:
        await renew(hass, device_id, dry_run=True)
    assert err.value.translation_key == "insufficient_funds"
    assert "cannot pay for this renewal of Us Travel" in str(err.value)
    assert demo_backend.ledger == []
    assert await receipts(hass) == []


async def test_line_gone_from_the_carrier(
    hass: HomeAssistant, init_integration: MockConfigEntry, demo_backend: DemoBackend
) -> None:
    """Renewing a line the carrier no longer has fails before any order, and says why."""
    device_id = line_device(hass, init_integration, "camera-iot")
    del demo_backend.lines["camera-iot"]
    with pytest.raises(HomeAssistantError) as err:
        await renew(hass, device_id)
    assert err.value.translation_key == "provider_error"
    assert "line camera-iot not found" in str(err.value)
    assert demo_backend.ledger == []
    assert await receipts(hass) == []
