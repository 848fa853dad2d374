"""Reauth and reconfigure on the emulators: the account comes back at once (issue #14.8),
under a unique id that stays true to the key, with its devices and entity ids."""

from __future__ import annotations

from collections.abc import AsyncGenerator
import re

import pytest

from homeassistant.config_entries import SOURCE_RECONFIGURE, ConfigEntry, ConfigEntryState
from homeassistant.const import STATE_UNAVAILABLE
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType

from custom_components.prepaid_sim.const import CONF_BASE_URL, CONF_PROVIDER, DOMAIN

from .emulators import airalo as airalo_emulator
from .emulators.esimaccess import DEFAULT_ACCESS_CODE, GIB, EsimAccessEmulator
from .emulators.esimgo import EsimGoEmulator
from .helpers import (
    AIRALO_CREDENTIALS,
    AIRALO_LINE,
    ESIMACCESS_TRAVEL,
    ESIMGO_TRAVEL,
    add_esimaccess_account,
    add_esimgo_account,
    add_oauth_account,
    device_ids,
    line_state,
    registry_view,
    start_account_flow,
)

ROTATED = "rotated-access-code"
REVOKED_SECRET = "revoked"  # noqa: S105 - a test credential
ROTATED_SECRET = "rotated-secret"  # noqa: S105 - a test credential


@pytest.fixture
async def esimaccess(socket_enabled: None) -> AsyncGenerator[EsimAccessEmulator]:
    """Run an eSIM Access account that the default and a rotated code open."""
    async with EsimAccessEmulator(access_codes=(DEFAULT_ACCESS_CODE, ROTATED)) as emulator:
        emulator.add_esim(esim_tran_no=ESIMACCESS_TRAVEL, total_volume=3 * GIB, order_usage=GIB)
        yield emulator


@pytest.fixture
async def airalo(socket_enabled: None) -> AsyncGenerator[airalo_emulator.AiraloEmulator]:
    """Run an Airalo account with one eSIM."""
    async with airalo_emulator.AiraloEmulator() as emulator:
        emulator.add_sim(iccid=AIRALO_LINE, total_mb=3072, remaining_mb=1024)
        yield emulator


@pytest.fixture
async def esimgo(socket_enabled: None) -> AsyncGenerator[EsimGoEmulator]:
    """Run an eSIM Go organisation with one eSIM."""
    async with EsimGoEmulator() as emulator:
        emulator.add_esim(iccid=ESIMGO_TRAVEL)
        yield emulator


async def _refused(hass: HomeAssistant, entry: ConfigEntry, line_id: str) -> dict:
    """Poll with the key refused: the line goes unavailable and reauth is offered."""
    await entry.runtime_data.coordinator.async_refresh()
    await hass.async_block_till_done()
    assert line_state(hass, entry, line_id, "data_remaining") == STATE_UNAVAILABLE
    (flow,) = hass.config_entries.flow.async_progress_by_handler(DOMAIN)
    assert flow["context"]["source"] == "reauth"
    assert flow["step_id"] == "reauth_confirm"
    return flow


async def _finish(hass: HomeAssistant, flow_id: str, user_input: dict, reason: str) -> None:
    """Submit a reauth or reconfigure form and expect it to succeed."""
    result = await hass.config_entries.flow.async_configure(flow_id, user_input)
    assert result["type"] is FlowResultType.ABORT, result
    assert result["reason"] == reason
    # No clock moves from here: the account must be back without waiting for a poll.
    await hass.async_block_till_done(wait_background_tasks=True)


async def test_esimaccess_key_restored_then_same_key(
    hass: HomeAssistant, esimaccess: EsimAccessEmulator
) -> None:
    """The key works again at the provider: reauth with it reads the lines at once."""
    entry = await add_esimaccess_account(hass, esimaccess)
    coordinator = entry.runtime_data.coordinator
    esimaccess.valid_access_codes = set()
    flow = await _refused(hass, entry, ESIMACCESS_TRAVEL)

    # Still refused: the form says so and stays open.
    credentials = {"access_code": DEFAULT_ACCESS_CODE, CONF_BASE_URL: esimaccess.base_url}
    result = await hass.config_entries.flow.async_configure(flow["flow_id"], credentials)
    assert result["errors"] == {"base": "invalid_auth"}

    esimaccess.valid_access_codes = {DEFAULT_ACCESS_CODE}
    await _finish(hass, flow["flow_id"], credentials, "reauth_successful")
    assert entry.state is ConfigEntryState.LOADED
    # Read again in place, not reloaded.
    assert entry.runtime_data.coordinator is coordinator
    assert coordinator.last_update_success
    assert float(line_state(hass, entry, ESIMACCESS_TRAVEL, "data_remaining")) == pytest.approx(2)
    assert not hass.config_entries.flow.async_progress_by_handler(DOMAIN)


async def test_esimaccess_reauth_with_new_key(
    hass: HomeAssistant, esimaccess: EsimAccessEmulator
) -> None:
    """A new key of the same account: the account reloads at once under the new key's id,
    with the same devices and entity ids."""
    entry = await add_esimaccess_account(hass, esimaccess)
    old_unique_id = entry.unique_id
    entities, devices = registry_view(hass, entry), device_ids(hass, entry)
    esimaccess.valid_access_codes = {ROTATED}
    flow = await _refused(hass, entry, ESIMACCESS_TRAVEL)

    await _finish(
        hass,
        flow["flow_id"],
        {"access_code": ROTATED, CONF_BASE_URL: esimaccess.base_url},
        "reauth_successful",
    )
    assert entry.state is ConfigEntryState.LOADED
    assert entry.data["access_code"] == ROTATED
    # The unique id follows the key (eSIM Access has no account id of its own) ...
    assert entry.unique_id is not None
    assert entry.unique_id != old_unique_id
    assert entry.unique_id.startswith("esimaccess_esimaccess-")
    # ... and the devices and entities follow the unique id: none orphaned, none renamed.
    assert registry_view(hass, entry) == entities
    assert device_ids(hass, entry) == devices
    assert line_state(hass, entry, ESIMACCESS_TRAVEL, "data_remaining") != STATE_UNAVAILABLE

    # The old key, were it valid again, is not "already configured": the id is true.
    esimaccess.valid_access_codes = {DEFAULT_ACCESS_CODE, ROTATED}
    result = await start_account_flow(
        hass,
        "esimaccess",
        {"access_code": DEFAULT_ACCESS_CODE, CONF_BASE_URL: esimaccess.base_url},
    )
    # Its only line is tracked by the entry already.
    assert result["reason"] == "account_in_other_entry"


async def test_esimaccess_reconfigure_errors_keep_the_form(
    hass: HomeAssistant, esimaccess: EsimAccessEmulator
) -> None:
    """A rate limit and an unusable address are errors on the form; nothing is saved."""
    entry = await add_esimaccess_account(hass, esimaccess)
    data = dict(entry.data)
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_RECONFIGURE, "entry_id": entry.entry_id}
    )
    esimaccess.fail_next["balance/query"] = "rate_limit"
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"access_code": ROTATED, CONF_BASE_URL: esimaccess.base_url}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"base": "rate_limited"}
    assert re.fullmatch(r"\d\d:\d\d", result["description_placeholders"]["time"])
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"access_code": ROTATED, CONF_BASE_URL: "http://[::1"}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {CONF_BASE_URL: "base_url_malformed"}
    assert entry.data == data


async def test_airalo_secret_restored_then_same_secret(
    hass: HomeAssistant, airalo: airalo_emulator.AiraloEmulator
) -> None:
    """An OAuth account whose secret works again: reauth with it reads the line at once."""
    entry = await add_oauth_account(
        hass, "airalo", airalo.base_url, AIRALO_CREDENTIALS, AIRALO_LINE
    )
    coordinator = entry.runtime_data.coordinator
    airalo.client_secret = REVOKED_SECRET
    airalo.expire_tokens()
    flow = await _refused(hass, entry, AIRALO_LINE)
    airalo.client_secret = AIRALO_CREDENTIALS["client_secret"]
    await _finish(
        hass,
        flow["flow_id"],
        {**AIRALO_CREDENTIALS, CONF_BASE_URL: airalo.base_url},
        "reauth_successful",
    )
    assert entry.state is ConfigEntryState.LOADED
    assert entry.runtime_data.coordinator is coordinator
    assert float(line_state(hass, entry, AIRALO_LINE, "data_remaining")) == pytest.approx(1)


async def test_airalo_reauth_with_new_secret(
    hass: HomeAssistant, airalo: airalo_emulator.AiraloEmulator
) -> None:
    """A new client secret: the account reloads at once with the same devices and entities.

    Airalo's account id comes from the client id, which stays: so does the unique id.
    """
    entry = await add_oauth_account(
        hass, "airalo", airalo.base_url, AIRALO_CREDENTIALS, AIRALO_LINE
    )
    unique_id = entry.unique_id
    entities, devices = registry_view(hass, entry), device_ids(hass, entry)
    airalo.client_secret = ROTATED_SECRET
    airalo.expire_tokens()
    flow = await _refused(hass, entry, AIRALO_LINE)
    credentials = {**AIRALO_CREDENTIALS, "client_secret": ROTATED_SECRET}
    await _finish(
        hass, flow["flow_id"], {**credentials, CONF_BASE_URL: airalo.base_url}, "reauth_successful"
    )
    assert entry.state is ConfigEntryState.LOADED
    assert (entry.unique_id, entry.data["client_secret"]) == (unique_id, ROTATED_SECRET)
    assert registry_view(hass, entry) == entities
    assert device_ids(hass, entry) == devices
    assert float(line_state(hass, entry, AIRALO_LINE, "data_remaining")) == pytest.approx(1)


async def test_esimgo_new_key_same_organisation(
    hass: HomeAssistant, esimgo: EsimGoEmulator
) -> None:
    """eSIM Go names the organisation: a new key of it keeps the unique id; an
    organisation id that changed with the tracked lines on it moves the id along."""
    entry = await add_esimgo_account(hass, esimgo)
    unique_id = entry.unique_id
    entities, devices = registry_view(hass, entry), device_ids(hass, entry)
    esimgo.api_key = "rotated-key"
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_RECONFIGURE, "entry_id": entry.entry_id}
    )
    await _finish(
        hass,
        result["flow_id"],
        {"api_key": "rotated-key", CONF_BASE_URL: esimgo.base_url},
        "reconfigure_successful",
    )
    assert entry.state is ConfigEntryState.LOADED
    assert (entry.unique_id, entry.data["api_key"]) == (unique_id, "rotated-key")
    assert entry.data[CONF_PROVIDER] == "esimgo"

    esimgo.organisation_id = "org-renumbered"
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_RECONFIGURE, "entry_id": entry.entry_id}
    )
    await _finish(
        hass,
        result["flow_id"],
        {"api_key": "rotated-key", CONF_BASE_URL: esimgo.base_url},
        "reconfigure_successful",
    )
    assert entry.state is ConfigEntryState.LOADED
    assert entry.unique_id == "esimgo_org-renumbered"
    assert registry_view(hass, entry) == entities
    assert device_ids(hass, entry) == devices
    assert line_state(hass, entry, ESIMGO_TRAVEL, "data_remaining") != STATE_UNAVAILABLE


async def test_esimgo_key_of_another_organisation(
    hass: HomeAssistant, esimgo: EsimGoEmulator, socket_enabled: None
) -> None:
    """A key that opens an organisation without the tracked lines is refused."""
    entry = await add_esimgo_account(hass, esimgo)
    async with EsimGoEmulator(api_key="other-key") as other:
        other.organisation_id = "org-other"
        other.add_esim(iccid="8944000000000000999")
        result = await hass.config_entries.flow.async_init(
            DOMAIN, context={"source": SOURCE_RECONFIGURE, "entry_id": entry.entry_id}
        )
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"], {"api_key": "other-key", CONF_BASE_URL: other.base_url}
        )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "wrong_account"
    assert entry.unique_id == "esimgo_org-5f2c"
