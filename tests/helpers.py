"""What many test modules share: demo entries, accounts added through the UI, actions.

Test modules import from here, never from each other.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.typing import WebSocketGenerator

from homeassistant.config_entries import SOURCE_USER, ConfigEntry
from homeassistant.core import Context, HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers import device_registry as dr, entity_registry as er
from homeassistant.setup import async_setup_component

from custom_components.prepaid_sim.const import (
    CONF_BASE_URL,
    CONF_LINE_ID,
    CONF_PROVIDER,
    DOMAIN,
    SUBENTRY_TYPE_LINE,
)
from custom_components.prepaid_sim.providers.base import Line, LineStatus
from custom_components.prepaid_sim.providers.demo import DEMO_ACCOUNT_ID, DEMO_PROVIDER_KEY

from .emulators import airalo as airalo_emulator, onence as onence_emulator
from .emulators.esimaccess import DEFAULT_ACCESS_CODE, EsimAccessEmulator
from .emulators.esimgo import DEFAULT_API_KEY, EsimGoEmulator

MIB = 1024**2
GIB = 1024**3
# The frozen "now" of most tests.
START = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)

DEMO_ENTRY_ID = "01JDEMOACCOUNTENTRY0000000"
DEMO_LINE_SUBENTRY_ID = "01JDEMOLINESUBENTRY0000000"

# Lines of the emulated accounts the setup tests use.
ESIMACCESS_TRAVEL = "25030000000001"
ESIMGO_TRAVEL = "8944000000000000001"
AIRALO_LINE = "8910300000000000001"
ONENCE_LINE = "8988228066000000001"
AIRALO_CREDENTIALS = {
    "client_id": airalo_emulator.DEFAULT_CLIENT_ID,
    "client_secret": airalo_emulator.DEFAULT_CLIENT_SECRET,
}
ONENCE_CREDENTIALS = {
    "client_id": onence_emulator.DEFAULT_CLIENT_ID,
    "client_secret": onence_emulator.DEFAULT_CLIENT_SECRET,
}
# A hand-entered line, as the manual tracker's form takes it.
MINT = {
    "name": "Mint SIM",
    "carrier": "Mint Mobile",
    "plan_name": "5GB, 3 months",
    "price": 45,
    "currency": "usd",
    "allowance_gb": 5,
    "validity_days": 90,
    "expires_at": "2026-12-01 09:00:00",
}


def demo_entry(*line_ids: str, **line_data: object) -> MockConfigEntry:
    """Return a demo account entry tracking ``line_ids`` (the first with a fixed id)."""
    return MockConfigEntry(
        domain=DOMAIN,
        title="Demo account",
        entry_id=DEMO_ENTRY_ID,
        unique_id=f"{DEMO_PROVIDER_KEY}_{DEMO_ACCOUNT_ID}",
        data={CONF_PROVIDER: DEMO_PROVIDER_KEY},
        subentries_data=[
            {
                "subentry_type": SUBENTRY_TYPE_LINE,
                "subentry_id": DEMO_LINE_SUBENTRY_ID if index == 0 else f"01JDEMOLINE{index:015d}",
                "data": {CONF_LINE_ID: line_id, **line_data},
                "title": line_id.replace("-", " ").title(),
                "unique_id": line_id,
            }
            for index, line_id in enumerate(line_ids)
        ],
    )


async def setup_entry(hass: HomeAssistant, entry: MockConfigEntry) -> MockConfigEntry:
    """Set up an account entry."""
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    return entry


def device_of(hass: HomeAssistant, entry: ConfigEntry, line_id: str) -> str:
    """Return the device id of a tracked line."""
    device = dr.async_get(hass).async_get_device_by_identifier(
        (DOMAIN, f"{entry.unique_id}_{line_id}"), entry.entry_id
    )
    assert device is not None
    return device.id


def line_device(hass: HomeAssistant, entry: MockConfigEntry, line_id: str) -> str:
    """Return the device id of a demo line."""
    return device_of(hass, entry, line_id)


def line_state(hass: HomeAssistant, entry: ConfigEntry, line_id: str, key: str) -> str:
    """Return the state of one entity of a line, by its description key."""
    entity = next(
        e
        for e in er.async_entries_for_device(er.async_get(hass), device_of(hass, entry, line_id))
        if e.unique_id.endswith(f"_{key}")
    )
    state = hass.states.get(entity.entity_id)
    assert state is not None
    return state.state


async def renew(
    hass: HomeAssistant, device_id: str, *, context: Context | None = None, **fields: object
) -> dict[str, Any]:
    """Call the renew action (as an automation unless ``context`` names a user)."""
    response = await hass.services.async_call(
        DOMAIN,
        "renew",
        {"device_id": device_id, **fields},
        blocking=True,
        return_response=True,
        context=context,
    )
    assert isinstance(response, dict)
    return response


async def renew_line(
    hass: HomeAssistant, entry: ConfigEntry, line_id: str, **fields: object
) -> dict[str, Any]:
    """Renew a tracked line through the action."""
    return await renew(hass, device_of(hass, entry, line_id), **fields)


async def receipts(hass: HomeAssistant) -> list[dict[str, Any]]:
    """Return every receipt, newest first."""
    response = await hass.services.async_call(
        DOMAIN, "get_renewals", {}, blocking=True, return_response=True
    )
    assert isinstance(response, dict)
    return response["renewals"]  # type: ignore[no-any-return]


def report(entry: MockConfigEntry, line_id: str, **changes: object) -> None:
    """Have the account report the line with ``changes`` (as a provider that omits fields)."""
    coordinator = entry.runtime_data.coordinator
    snapshot = coordinator.data
    line = replace(snapshot.lines[line_id], **changes)
    coordinator.async_set_updated_data(replace(snapshot, lines={**snapshot.lines, line_id: line}))


def usage_line(
    used: int,
    total: int = GIB,
    expires: timedelta = timedelta(days=10),
    start: datetime = START,
) -> Line:
    """Return a line with ``used`` bytes of ``total``, expiring ``expires`` after ``start``."""
    return Line(
        line_id="l1",
        name="Line",
        status=LineStatus.ACTIVE,
        data_total_bytes=total,
        data_used_bytes=used,
        data_remaining_bytes=total - used,
        expires_at=start + expires,
    )


async def _finish_account_flow(
    hass: HomeAssistant, provider: str, *steps: dict[str, Any]
) -> ConfigEntry:
    """Run the account flow for ``provider`` through ``steps``; return the entry."""
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_PROVIDER: provider}
    )
    for step in steps:
        result = await hass.config_entries.flow.async_configure(result["flow_id"], step)
    assert result["type"] is FlowResultType.CREATE_ENTRY, result
    await hass.async_block_till_done(wait_background_tasks=True)
    return result["result"]


async def add_esimaccess_account(
    hass: HomeAssistant, emulator: EsimAccessEmulator, line_id: str = ESIMACCESS_TRAVEL
) -> ConfigEntry:
    """Add the emulated eSIM Access account with one line through the UI flow."""
    return await _finish_account_flow(
        hass,
        "esimaccess",
        {"access_code": DEFAULT_ACCESS_CODE, CONF_BASE_URL: emulator.base_url},
        {CONF_LINE_ID: line_id},
    )


async def add_esimgo_account(
    hass: HomeAssistant, emulator: EsimGoEmulator, line_id: str = ESIMGO_TRAVEL
) -> ConfigEntry:
    """Add the emulated eSIM Go account with one eSIM through the UI flow."""
    return await _finish_account_flow(
        hass,
        "esimgo",
        {"api_key": DEFAULT_API_KEY, CONF_BASE_URL: emulator.base_url},
        {CONF_LINE_ID: line_id},
    )


async def add_oauth_account(
    hass: HomeAssistant, provider: str, base_url: str, credentials: dict[str, str], line: str
) -> ConfigEntry:
    """Add an Airalo or 1NCE account and its first line through the UI flow."""
    return await _finish_account_flow(
        hass, provider, {**credentials, CONF_BASE_URL: base_url}, {CONF_LINE_ID: line}
    )


async def add_manual_account(hass: HomeAssistant) -> ConfigEntry:
    """Add the manual tracker with the Mint line through the UI flow."""
    return await _finish_account_flow(hass, "manual", MINT)


async def add_line(hass: HomeAssistant, entry: ConfigEntry, line_id: str) -> None:
    """Track one more line through "Add line"."""
    result = await hass.config_entries.subentries.async_init(
        (entry.entry_id, "line"), context={"source": SOURCE_USER}
    )
    assert result["type"] is FlowResultType.FORM, (result, entry.state, entry.reason)
    await hass.config_entries.subentries.async_configure(result["flow_id"], {CONF_LINE_ID: line_id})
    await hass.async_block_till_done(wait_background_tasks=True)


async def press(hass: HomeAssistant, entity_id: str, *, context: Context | None = None) -> None:
    """Press a button (as an automation unless ``context`` names a user)."""
    await hass.services.async_call(
        "button", "press", {"entity_id": entity_id}, blocking=True, context=context
    )


async def start_fix(
    hass: HomeAssistant, hass_client: Any, issue_id: str
) -> tuple[Any, dict[str, Any]]:
    """Start a fix flow through the repairs API (as an administrator); return the client
    and the first step."""
    from homeassistant.setup import async_setup_component

    assert await async_setup_component(hass, "repairs", {})
    client = await hass_client()
    response = await client.post(
        "/api/repairs/issues/fix", json={"handler": DOMAIN, "issue_id": issue_id}
    )
    return client, await response.json()


async def admin_context(hass: HomeAssistant) -> Context:
    """Return a context of the administrator that ``hass_admin_user`` created."""
    users = await hass.auth.async_get_users()
    admin = next(user for user in users if user.is_admin and not user.system_generated)
    return Context(user_id=admin.id)


def subentry_of(entry: ConfigEntry, line_id: str) -> str:
    """Return the subentry id that tracks a line."""
    return next(
        subentry.subentry_id
        for subentry in entry.subentries.values()
        if subentry.data.get(CONF_LINE_ID) == line_id
    )


def line_issue(entry: ConfigEntry, kind: str, line_id: str) -> str:
    """Return the id of a line's repair issue (named by its subentry, never its line id)."""
    return f"{entry.entry_id}_{kind}_{subentry_of(entry, line_id)}"


async def start_account_flow(
    hass: HomeAssistant, provider: str, credentials: dict[str, Any]
) -> dict[str, Any]:
    """Open the account flow, choose ``provider`` and submit ``credentials``; return the
    step that follows (the line picker, a form error or an abort)."""
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_PROVIDER: provider}
    )
    return dict(await hass.config_entries.flow.async_configure(result["flow_id"], credentials))


def line_options(result: dict[str, Any]) -> list[str]:
    """Return the line ids a line picker (account or "Add line" flow) offers."""
    options = result["data_schema"].schema[CONF_LINE_ID].config["options"]
    return [option["value"] for option in options]


def registry_view(hass: HomeAssistant, entry: ConfigEntry) -> dict[str, str]:
    """Map each entity id of an account to its device id (what must survive a new key)."""
    return {
        entity.entity_id: entity.device_id or ""
        for entity in er.async_entries_for_config_entry(er.async_get(hass), entry.entry_id)
    }


def device_ids(hass: HomeAssistant, entry: ConfigEntry) -> set[str]:
    """Return the ids of every device of an account."""
    return {
        device.id
        for device in dr.async_entries_for_config_entry(dr.async_get(hass), entry.entry_id)
    }


async def notifications(
    hass: HomeAssistant, hass_ws_client: WebSocketGenerator
) -> dict[str, dict[str, Any]]:
    """Return the persistent notifications by id, as the frontend reads them."""
    assert await async_setup_component(hass, "persistent_notification", {})
    client = await hass_ws_client(hass)
    await client.send_json_auto_id({"type": "persistent_notification/get"})
    answer = await client.receive_json()
    assert answer["success"]
    return {item["notification_id"]: item for item in answer["result"]}
