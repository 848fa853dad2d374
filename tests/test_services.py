"""Actions: renew, list_packages and get_renewals."""

from __future__ import annotations

from decimal import Decimal

import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError

from custom_components.prepaid_sim.const import DOMAIN
from custom_components.prepaid_sim.providers.demo import DemoBackend

from .helpers import line_device, renew

pytestmark = pytest.mark.freeze_time("2026-11-26T12:00:00+00:00")


async def test_renew_charges_once_and_extends_expiry(
    hass: HomeAssistant, init_integration: MockConfigEntry, demo_backend: DemoBackend
) -> None:
    """Renewing with the default package debits the wallet once and moves the expiry."""
    device_id = line_device(hass, init_integration, "europe-esim")
    before = hass.states.get("sensor.europe_esim_plan_expiry").state
    assert before == "2026-11-29T12:00:00+00:00"

    order = await renew(hass, device_id)

    assert order["package"] == {"id": "eu-5gb-15d", "name": "Europe 5 GB, 15 days"}
    assert (order["price"], order["currency"], order["state"]) == (12.0, "USD", "succeeded")
    assert order["order_id"] == "DEMO-00001"
    assert order["new_expires_at"] == "2026-12-14T12:00:00+00:00"
    assert [charge.amount.amount for charge in demo_backend.ledger] == [Decimal("12.00")]
    assert demo_backend.wallet == Decimal("48.00")
    await hass.async_block_till_done()
    assert hass.states.get("sensor.europe_esim_plan_expiry").state == "2026-12-14T12:00:00+00:00"
    assert hass.states.get("sensor.europe_esim_balance").state == "48.00"


async def test_renew_with_chosen_package(
    hass: HomeAssistant, init_integration: MockConfigEntry, demo_backend: DemoBackend
) -> None:
    """A named package is bought and its data added to the allowance."""
    device_id = line_device(hass, init_integration, "camera-iot")
    order = await renew(hass, device_id, package="iot-5gb-365d")
    assert order["package"]["id"] == "iot-5gb-365d"
    assert demo_backend.ledger[0].package_id == "iot-5gb-365d"
    await hass.async_block_till_done()
    # 1 GiB + 5 GiB, in the MiB the small plan was first shown in.
    assert float(hass.states.get("sensor.camera_iot_data_allowance").state) == pytest.approx(6144)


async def test_dry_run_charges_nothing(
    hass: HomeAssistant, init_integration: MockConfigEntry, demo_backend: DemoBackend
) -> None:
    """A dry run quotes package, price and the resulting expiry without buying."""
    device_id = line_device(hass, init_integration, "us-travel")
    quote = await renew(hass, device_id, dry_run=True)
    assert quote == {
        "dry_run": True,
        "line": "Us Travel",
        "package": {"id": "us-10gb-30d", "name": "US 10 GB, 30 days"},
        "price": 20.0,
        "currency": "USD",
        "new_expires_at": "2027-01-19T12:00:00+00:00",
    }
    assert demo_backend.ledger == []
    assert demo_backend.wallet == Decimal("60.00")


async def test_list_packages(hass: HomeAssistant, init_integration: MockConfigEntry) -> None:
    """The packages of a line come with price, data, validity and the default marked."""
    response = await hass.services.async_call(
        DOMAIN,
        "list_packages",
        {"device_id": line_device(hass, init_integration, "camera-iot")},
        blocking=True,
        return_response=True,
    )
    assert response == {
        "packages": [
            {
                "id": "iot-1gb-30d",
                "name": "IoT 1 GB, 30 days",
                "price": 4.0,
                "currency": "USD",
                "data_bytes": 1024**3,
                "daily_data_bytes": None,
                "unlimited": False,
                "validity_days": 30,
                "default": True,
            },
            {
                "id": "iot-500mb-90d",
                "name": "IoT 500 MB, 90 days",
                "price": 6.0,
                "currency": "USD",
                "data_bytes": 500 * 1024**2,
                "daily_data_bytes": None,
                "unlimited": False,
                "validity_days": 90,
                "default": False,
            },
            {
                "id": "iot-5gb-365d",
                "name": "IoT 5 GB, 365 days",
                "price": 25.0,
                "currency": "USD",
                "data_bytes": 5 * 1024**3,
                "daily_data_bytes": None,
                "unlimited": False,
                "validity_days": 365,
                "default": False,
            },
        ]
    }


async def test_unknown_package_is_refused(
    hass: HomeAssistant, init_integration: MockConfigEntry, demo_backend: DemoBackend
) -> None:
    """An unknown package is a translated validation error that lists the offers."""
    device_id = line_device(hass, init_integration, "us-travel")
    with pytest.raises(ServiceValidationError) as err:
        await renew(hass, device_id, package="us-999gb")
    assert err.value.translation_key == "unknown_package"
    assert "us-1gb-7d, us-10gb-30d, us-25gb-30d" in str(err.value)
    assert demo_backend.ledger == []


async def test_unknown_device_is_refused(
    hass: HomeAssistant, init_integration: MockConfigEntry
) -> None:
    """A device id that is not a line is refused before anything is sent."""
    with pytest.raises(ServiceValidationError) as err:
        await renew(hass, "not-a-device")
    assert err.value.translation_key == "service_device_not_found"


async def test_line_not_loaded_is_refused(
    hass: HomeAssistant, init_integration: MockConfigEntry
) -> None:
    """A line whose account is unloaded cannot be renewed."""
    device_id = line_device(hass, init_integration, "us-travel")
    await hass.config_entries.async_unload(init_integration.entry_id)
    with pytest.raises(ServiceValidationError) as err:
        await renew(hass, device_id)
    assert err.value.translation_key == "service_config_entry_not_loaded"


async def test_insufficient_funds(
    hass: HomeAssistant, init_integration: MockConfigEntry, demo_backend: DemoBackend
) -> None:
    """A wallet that cannot pay gives a clear error, a failed receipt and no charge."""
    demo_backend.wallet = Decimal("1.00")
    device_id = line_device(hass, init_integration, "us-travel")
    with pytest.raises(HomeAssistantError) as err:
        await renew(hass, device_id)
    assert err.value.translation_key == "insufficient_funds"
    assert demo_backend.ledger == []
    response = await hass.services.async_call(
        DOMAIN, "get_renewals", {"device_id": device_id}, blocking=True, return_response=True
    )
    (receipt,) = response["renewals"]
    assert (receipt["state"], receipt["error"]) == ("failed", "insufficient_funds")


async def test_get_renewals_lists_receipts(
    hass: HomeAssistant, init_integration: MockConfigEntry, demo_backend: DemoBackend
) -> None:
    """Receipts carry time, package, price, order id, reference, caller and outcome."""
    await renew(hass, line_device(hass, init_integration, "europe-esim"))
    await renew(hass, line_device(hass, init_integration, "camera-iot"))
    response = await hass.services.async_call(
        DOMAIN, "get_renewals", {}, blocking=True, return_response=True
    )
    receipts = response["renewals"]
    assert [r["line_name"] for r in receipts] == ["Camera Iot", "Europe Esim"]
    assert [r["device_id"] for r in receipts] == [
        line_device(hass, init_integration, "camera-iot"),
        line_device(hass, init_integration, "europe-esim"),
    ]
    # The line is named by its device: no line id (an ICCID for some providers).
    assert all("line_id" not in r and "line_key" not in r for r in receipts)
    europe = receipts[1]
    assert europe["order_id"] == demo_backend.ledger[0].order_id
    assert europe["reference"] == demo_backend.ledger[0].reference
    assert (europe["price"], europe["currency"], europe["caller"]) == ("12.00", "USD", "automation")
    assert europe["state"] == "succeeded"
    assert europe["verified"] is True
