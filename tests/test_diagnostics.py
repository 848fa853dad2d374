"""Diagnostics of one line: its reading and its receipts only, with nothing identifying."""

from __future__ import annotations

import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.components.diagnostics import get_diagnostics_for_device
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr

from custom_components.prepaid_sim.providers.demo import DemoBackend

from .helpers import line_device, renew

pytestmark = pytest.mark.freeze_time("2026-11-26T12:00:00+00:00")

REDACTED = "**REDACTED**"


async def test_line_diagnostics(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    init_integration: MockConfigEntry,
    demo_backend: DemoBackend,
    device_registry: dr.DeviceRegistry,
) -> None:
    """A line's diagnostics hold that line and its receipts, with SIM numbers and names hidden."""
    await renew(hass, line_device(hass, init_integration, "europe-esim"))
    await renew(hass, line_device(hass, init_integration, "us-travel"))
    device = device_registry.async_get(line_device(hass, init_integration, "us-travel"))
    assert device is not None

    diagnostics = await get_diagnostics_for_device(hass, hass_client, init_integration, device)

    assert diagnostics["provider"] == "demo"
    snapshot = diagnostics["snapshot"]
    assert list(snapshot["lines"]) == ["us-travel"]
    line = snapshot["lines"]["us-travel"]
    assert (line["iccid"], line["phone_number"], line["name"]) == (REDACTED,) * 3
    assert line["data_total_bytes"] == 20 * 1024**3
    assert snapshot["wallet"] == {"amount": "28.00", "currency": "USD"}
    (receipt,) = diagnostics["renewals"]
    assert receipt["line_id"] == "us-travel"
    assert receipt["order_id"] == demo_backend.ledger[1].order_id
    assert receipt["line_name"] == REDACTED
    text = str(diagnostics)
    for secret in ("8901260000000000011", "+15550100001", "US Travel SIM", "Us Travel"):
        assert secret not in text
    # The other line's receipt and reading stay out of this line's diagnostics.
    assert "europe-esim" not in text
