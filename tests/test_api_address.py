"""The API base URL through Home Assistant: checked on the form, never redirected, kept safe.

The credentials go wherever the address points, so an address the clients refuse is a
field error on the form, a redirect is reported (never followed), and an entry saved with
an unusable address fails setup with a message instead of sending the key there.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any

import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.exceptions import HomeAssistantError

from custom_components.prepaid_sim.const import CONF_BASE_URL, CONF_LINE_ID, CONF_PROVIDER, DOMAIN

from .emulators.esimaccess import DEFAULT_ACCESS_CODE, GIB, EsimAccessEmulator
from .emulators.server import TrapServer
from .helpers import ESIMACCESS_TRAVEL, add_esimaccess_account, line_device, start_account_flow


@pytest.fixture
async def trap(socket_enabled: None) -> AsyncGenerator[TrapServer]:
    """Record whatever reaches the address a redirect points to."""
    async with TrapServer() as trap:
        yield trap


@pytest.fixture
async def emulator(trap: TrapServer) -> AsyncGenerator[EsimAccessEmulator]:
    """Run an eSIM Access account with one line; its redirects point at the trap."""
    async with EsimAccessEmulator() as emulator:
        emulator.redirect_target = trap.base_url
        emulator.add_esim(esim_tran_no=ESIMACCESS_TRAVEL, total_volume=3 * GIB)
        yield emulator


def _credentials(base_url: str) -> dict[str, Any]:
    """Return the eSIM Access credentials form with ``base_url``."""
    return {"access_code": DEFAULT_ACCESS_CODE, CONF_BASE_URL: base_url}


@pytest.mark.parametrize(
    ("base_url", "error"),
    [
        ("api.esimaccess.com", "base_url_malformed"),
        ("ftp://api.esimaccess.com", "base_url_scheme"),
        ("https://user:secret@api.esimaccess.com", "base_url_userinfo"),
        ("http://api.esimaccess.com", "base_url_insecure"),
    ],
)
async def test_unusable_address_is_a_field_error(
    hass: HomeAssistant, base_url: str, error: str
) -> None:
    """The form stays open with the error on the address field; nothing is created."""
    result = await start_account_flow(hass, "esimaccess", _credentials(base_url))
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "credentials"
    assert result["errors"] == {CONF_BASE_URL: error}
    assert hass.config_entries.async_entries(DOMAIN) == []


async def test_redirecting_address_is_reported_not_followed(
    hass: HomeAssistant, emulator: EsimAccessEmulator, trap: TrapServer
) -> None:
    """A redirect names where it points; the access code never reaches that place."""
    emulator.fail_next["balance/query"] = "redirect"
    result = await start_account_flow(hass, "esimaccess", _credentials(emulator.base_url))
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"base": "redirected"}
    assert result["description_placeholders"]["location"] == trap.base_url.split("//")[1]
    assert trap.received == []

    # The user's next try goes to the provider and works.
    result = await start_account_flow(hass, "esimaccess", _credentials(emulator.base_url))
    assert result["step_id"] == "line"


async def test_saved_unusable_address_fails_setup_without_sending(
    hass: HomeAssistant, trap: TrapServer
) -> None:
    """An entry saved with a plain-HTTP public address (by hand) does not send its key."""
    entry = MockConfigEntry(
        domain=DOMAIN,
        title="eSIM Access",
        unique_id="esimaccess_hand-edited",
        data={
            CONF_PROVIDER: "esimaccess",
            "access_code": DEFAULT_ACCESS_CODE,
            CONF_BASE_URL: "http://api.esimaccess.example",
        },
        subentries_data=[
            {
                "subentry_type": "line",
                "data": {CONF_LINE_ID: ESIMACCESS_TRAVEL},
                "title": "Travel",
                "unique_id": ESIMACCESS_TRAVEL,
            }
        ],
    )
    entry.add_to_hass(hass)
    assert not await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.SETUP_ERROR
    assert entry.reason is not None
    assert "Reconfigure" in entry.reason
    assert trap.received == []


@pytest.mark.parametrize(
    ("fault", "key"),
    [
        ("redirect", "redirected"),
        ("oversize", "response_too_large"),
        ("rate_limit", "rate_limited_until"),
    ],
)
async def test_unusable_answer_to_a_person_is_translated(
    hass: HomeAssistant, emulator: EsimAccessEmulator, trap: TrapServer, fault: str, key: str
) -> None:
    """Listing packages from an unusable answer (or a long rate limit) says so, translated."""
    entry = await add_esimaccess_account(hass, emulator)
    await hass.async_block_till_done(wait_background_tasks=True)
    emulator.fail_next["package/list"] = fault
    with pytest.raises(HomeAssistantError) as err:
        await hass.services.async_call(
            DOMAIN,
            "list_packages",
            {"device_id": line_device(hass, entry, ESIMACCESS_TRAVEL)},
            blocking=True,
            return_response=True,
        )
    assert (err.value.translation_domain, err.value.translation_key) == (DOMAIN, key)
    assert trap.received == []
