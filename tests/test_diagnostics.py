"""Diagnostics (issue #14.5): an account's and a line's, with nothing identifying.

No ICCID, EID, phone number or line id, in keys or values; no secret, token or API address.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
import json

import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.components.diagnostics import (
    get_diagnostics_for_config_entry,
    get_diagnostics_for_device,
)
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator
from syrupy.assertion import SnapshotAssertion
from syrupy.filters import props

from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr

from custom_components.prepaid_sim.providers.base import line_ref
from custom_components.prepaid_sim.providers.demo import DemoBackend

from .emulators import airalo as airalo_emulator
from .helpers import (
    AIRALO_CREDENTIALS,
    AIRALO_LINE,
    add_line,
    add_oauth_account,
    device_of,
    line_device,
    renew,
    renew_line,
)

REDACTED = "**REDACTED**"
AIRALO_SECOND = "8910300000000000002"
# What differs from run to run: times, random ids and the emulator's address.
VOLATILE = props(
    "entry_id",
    "created_at",
    "modified_at",
    "fetched_at",
    "subentry_id",
    "reference",
    "expires_at",
    "usage_updated_at",
    "completed_at",
    "new_expires_at",
    "last_topup_at",
    "added_at",
)


@pytest.mark.freeze_time("2026-11-26T12:00:00+00:00")
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
    ref = line_ref("us-travel")
    assert diagnostics["line"] == ref
    assert list(snapshot["lines"]) == [ref]
    line = snapshot["lines"][ref]
    assert line["line_id"] == ref
    assert (line["iccid"], line["phone_number"], line["name"]) == (REDACTED,) * 3
    assert line["data_total_bytes"] == 20 * 1024**3
    assert snapshot["wallet"] == {"amount": "28.00", "currency": "USD"}
    # Receipts (journal.as_receipt) carry no line id; diagnostics name the line by ref.
    (receipt,) = diagnostics["renewals"]
    assert "line_id" not in receipt
    assert receipt["line"] == ref
    assert receipt["order_id"] == demo_backend.ledger[1].order_id
    assert receipt["line_name"] == REDACTED
    text = json.dumps(diagnostics)
    for secret in (
        "us-travel",
        "8901260000000000011",
        "+15550100001",
        "US Travel SIM",
        "Us Travel",
    ):
        assert secret not in text
    # The other line's receipt and reading stay out of this line's diagnostics.
    assert "europe-esim" not in text
    assert line_ref("europe-esim") not in text


@pytest.fixture
async def airalo(socket_enabled: None) -> AsyncGenerator[airalo_emulator.AiraloEmulator]:
    """Run an Airalo account: its line ids are the eSIMs' ICCIDs."""
    async with airalo_emulator.AiraloEmulator() as emulator:
        emulator.add_sim(iccid=AIRALO_LINE, total_mb=3072, remaining_mb=1024)
        emulator.add_sim(iccid=AIRALO_SECOND, total_mb=1024, remaining_mb=1024)
        yield emulator


async def test_airalo_diagnostics_hide_iccids(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    airalo: airalo_emulator.AiraloEmulator,
    device_registry: dr.DeviceRegistry,
    snapshot: SnapshotAssertion,
) -> None:
    """An account whose line ids are ICCIDs: none of them, no secret and no address show."""
    entry = await add_oauth_account(
        hass, "airalo", airalo.base_url, AIRALO_CREDENTIALS, AIRALO_LINE
    )
    await add_line(hass, entry, AIRALO_SECOND)
    # An automation that names its request after the ICCID: scrubbed wherever it shows.
    await renew_line(
        hass,
        entry,
        AIRALO_LINE,
        package="change-7days-1gb-topup",
        request_id=f"topup-{AIRALO_LINE}",
    )
    await hass.async_block_till_done(wait_background_tasks=True)

    diagnostics = await get_diagnostics_for_config_entry(hass, hass_client, entry)
    device = device_registry.async_get(device_of(hass, entry, AIRALO_LINE))
    assert device is not None
    line = await get_diagnostics_for_device(hass, hass_client, entry, device)

    for text in (json.dumps(diagnostics), json.dumps(line)):
        for secret in (
            AIRALO_LINE,
            AIRALO_SECOND,
            *AIRALO_CREDENTIALS.values(),
            airalo.base_url,
            str(airalo.port),
        ):
            assert secret not in text
    assert diagnostics["entry"]["data"]["base_url"] == REDACTED
    assert set(diagnostics["snapshot"]["lines"]) == {line_ref(AIRALO_LINE), line_ref(AIRALO_SECOND)}
    (receipt,) = diagnostics["renewals"]
    assert receipt["line"] == line_ref(AIRALO_LINE)
    assert receipt["request_id"] == f"topup-{line_ref(AIRALO_LINE)}"
    assert diagnostics == snapshot(name="account", exclude=VOLATILE)
    assert line == snapshot(name="line", exclude=VOLATILE)
