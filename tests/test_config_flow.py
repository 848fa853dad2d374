"""The config flow: account, first line, more lines, reauth and reconfigure."""

from __future__ import annotations

import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from homeassistant.config_entries import SOURCE_USER, ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers import device_registry as dr, entity_registry as er

from custom_components.prepaid_sim.const import (
    CONF_LINE_ID,
    CONF_PROVIDER,
    DOMAIN,
    SUBENTRY_TYPE_LINE,
)
from custom_components.prepaid_sim.providers.demo import DemoBackend


async def _start_demo_flow(hass: HomeAssistant) -> dict:
    """Open the flow and choose the demo provider."""
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "user"
    return await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_PROVIDER: "demo"}
    )


@pytest.mark.usefixtures("demo_backend")
async def test_user_flow_creates_account_with_first_line(hass: HomeAssistant) -> None:
    """Demo needs no credentials: pick the provider, then the first line."""
    result = await _start_demo_flow(hass)
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "line"
    options = result["data_schema"].schema[CONF_LINE_ID].config["options"]
    # Sorted by name, each with its plan.
    assert [option["label"] for option in options] == [
        "Camera IoT SIM (IoT 1 GB, 30 days)",
        "Europe eSIM (Europe 5 GB, 15 days)",
        "Home Hotspot (US Unlimited, 30 days)",
        "Pet Tracker SIM (IoT 500 MB, 90 days)",
        "US Travel SIM (US 10 GB, 30 days)",
    ]

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_LINE_ID: "camera-iot"}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    entry = result["result"]
    assert entry.title == "Demo account"
    assert entry.unique_id == "demo_demo-account"
    assert entry.data == {CONF_PROVIDER: "demo"}
    (subentry,) = entry.subentries.values()
    assert (subentry.subentry_type, subentry.unique_id, subentry.title) == (
        SUBENTRY_TYPE_LINE,
        "camera-iot",
        "Camera IoT SIM",
    )
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.LOADED
    assert hass.states.get("sensor.camera_iot_sim_data_remaining") is not None


@pytest.mark.parametrize(
    ("switch", "reason"),
    [
        ("unavailable", "cannot_connect"),
        ("auth_invalid", "invalid_auth"),
        ("not_provider_api", "not_provider_api"),
    ],
)
async def test_user_flow_provider_errors(
    hass: HomeAssistant, demo_backend: DemoBackend, switch: str, reason: str
) -> None:
    """A provider that cannot be opened aborts with a translated reason."""
    setattr(demo_backend, switch, True)
    result = await _start_demo_flow(hass)
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == reason


@pytest.mark.freeze_time("2026-11-26T12:00:00+00:00")
async def test_user_flow_rate_limited_says_until_when(
    hass: HomeAssistant, demo_backend: DemoBackend
) -> None:
    """A provider that asks to slow down: the message says when to try again."""
    await hass.config.async_set_time_zone("UTC")
    demo_backend.rate_limited_for = 90
    result = await _start_demo_flow(hass)
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "rate_limited"
    assert result["description_placeholders"] == {"time": "12:01"}


async def test_user_flow_unexpected_error(
    hass: HomeAssistant, demo_backend: DemoBackend, caplog: pytest.LogCaptureFixture
) -> None:
    """An unexpected failure is reported as unknown, not a stack trace in the UI."""
    demo_backend.garbled = True
    result = await _start_demo_flow(hass)
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "unknown"
    # The log keeps the whole story.
    assert "Unexpected error while opening the account" in caplog.text
    assert "demo answer switched to garbled" in caplog.text


async def test_user_flow_no_lines(hass: HomeAssistant, demo_backend: DemoBackend) -> None:
    """An account without lines cannot be added."""
    demo_backend.lines.clear()
    result = await _start_demo_flow(hass)
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "no_lines"


@pytest.mark.usefixtures("init_integration")
async def test_same_account_twice_aborts(hass: HomeAssistant) -> None:
    """The same account cannot be added twice."""
    result = await _start_demo_flow(hass)
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"


async def _start_add_line(hass: HomeAssistant, entry: MockConfigEntry) -> dict:
    """Open the "Add line" subentry flow."""
    return await hass.config_entries.subentries.async_init(
        (entry.entry_id, SUBENTRY_TYPE_LINE), context={"source": SOURCE_USER}
    )


async def test_add_line(hass: HomeAssistant, init_integration: MockConfigEntry) -> None:
    """ "Add line" offers only untracked lines, and the new line gets its entities."""
    result = await _start_add_line(hass, init_integration)
    assert result["type"] is FlowResultType.FORM
    options = result["data_schema"].schema[CONF_LINE_ID].config["options"]
    assert [option["value"] for option in options] == ["home-hotspot", "pet-tracker"]

    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], {CONF_LINE_ID: "pet-tracker"}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()
    assert init_integration.state is ConfigEntryState.LOADED
    state = hass.states.get("sensor.pet_tracker_sim_status")
    assert state is not None
    assert state.state == "not_active"


async def test_add_same_line_twice_aborts(
    hass: HomeAssistant, init_integration: MockConfigEntry
) -> None:
    """Two "Add line" flows for one line: the second aborts."""
    first = await _start_add_line(hass, init_integration)
    second = await _start_add_line(hass, init_integration)
    result = await hass.config_entries.subentries.async_configure(
        first["flow_id"], {CONF_LINE_ID: "home-hotspot"}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()
    result = await hass.config_entries.subentries.async_configure(
        second["flow_id"], {CONF_LINE_ID: "home-hotspot"}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"


async def test_add_line_when_all_tracked(hass: HomeAssistant, demo_backend: DemoBackend) -> None:
    """With every line tracked, "Add line" says so."""
    from .helpers import demo_entry

    entry = demo_entry(*demo_backend.lines)
    entry.add_to_hass(hass)
    await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    result = await _start_add_line(hass, entry)
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "all_lines_configured"


async def test_add_line_provider_down(
    hass: HomeAssistant, init_integration: MockConfigEntry, demo_backend: DemoBackend
) -> None:
    """ "Add line" aborts cleanly when the lines cannot be listed."""
    demo_backend.unavailable = True
    result = await _start_add_line(hass, init_integration)
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "cannot_connect"


async def test_add_line_entry_not_loaded(
    hass: HomeAssistant, mock_config_entry: MockConfigEntry, demo_backend: DemoBackend
) -> None:
    """Lines can only be added to a loaded account."""
    demo_backend.unavailable = True
    mock_config_entry.add_to_hass(hass)
    await hass.config_entries.async_setup(mock_config_entry.entry_id)
    assert mock_config_entry.state is ConfigEntryState.SETUP_RETRY
    result = await _start_add_line(hass, mock_config_entry)
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "entry_not_loaded"


async def test_remove_line_removes_device_and_entities(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    device_registry: dr.DeviceRegistry,
    entity_registry: er.EntityRegistry,
) -> None:
    """Removing a line's subentry removes its device and entities."""
    subentry_id = next(
        sid for sid, sub in init_integration.subentries.items() if sub.unique_id == "camera-iot"
    )
    identifier = (DOMAIN, "demo_demo-account_camera-iot")
    device = device_registry.async_get_device_by_identifier(identifier, init_integration.entry_id)
    assert device is not None
    assert er.async_entries_for_device(entity_registry, device.id)

    assert hass.config_entries.async_remove_subentry(init_integration, subentry_id)
    await hass.async_block_till_done()
    assert (
        device_registry.async_get_device_by_identifier(identifier, init_integration.entry_id)
        is None
    )
    assert not er.async_entries_for_device(entity_registry, device.id)
    assert hass.states.get("sensor.camera_iot_data_remaining") is None
    assert init_integration.state is ConfigEntryState.LOADED
    assert hass.states.get("sensor.us_travel_data_remaining") is not None


async def test_line_settings(hass: HomeAssistant, init_integration: MockConfigEntry) -> None:
    """A line's settings change through its subentry's reconfigure step, without a reload."""
    subentry_id = next(iter(init_integration.subentries))
    await hass.async_block_till_done()
    result = await init_integration.start_subentry_reconfigure_flow(hass, subentry_id)
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "reconfigure"
    # The package field offers the line's packages once they have been read.
    package_options = result["data_schema"].schema["preferred_package"].config["options"]
    assert [o["value"] for o in package_options] == ["us-1gb-7d", "us-10gb-30d", "us-25gb-30d"]
    settings = {
        "low_data_percent": 25,
        "expiry_warning_days": 7,
        "preferred_package": "us-1gb-7d",
        "auto_renew": "low_data",
        "auto_renew_max_per_month": 2,
        "auto_renew_hours_before_expiry": 48,
        "spend_cap": 30,
    }
    result = await hass.config_entries.subentries.async_configure(result["flow_id"], settings)
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reconfigure_successful"
    # The optional voice switch is saved with its default when the form leaves it alone.
    assert init_integration.subentries[subentry_id].data == {
        CONF_LINE_ID: "us-travel",
        **settings,
        "voice_without_user": False,
    }
    await hass.async_block_till_done()
    assert init_integration.state is ConfigEntryState.LOADED
    select = hass.states.get("select.us_travel_renewal_package")
    assert select is not None
    assert select.state == "US 1 GB, 7 days"


async def test_line_settings_while_not_loaded(
    hass: HomeAssistant, mock_config_entry: MockConfigEntry, demo_backend: DemoBackend
) -> None:
    """Settings of a line can be changed while its account is down (no package list)."""
    demo_backend.unavailable = True
    mock_config_entry.add_to_hass(hass)
    await hass.config_entries.async_setup(mock_config_entry.entry_id)
    subentry_id = next(iter(mock_config_entry.subentries))
    result = await mock_config_entry.start_subentry_reconfigure_flow(hass, subentry_id)
    assert result["type"] is FlowResultType.FORM
    assert "options" not in result["data_schema"].schema["preferred_package"].config


async def test_reauth_after_credentials_refused(
    hass: HomeAssistant, mock_config_entry: MockConfigEntry, demo_backend: DemoBackend
) -> None:
    """Refused credentials start reauth; a retry that works reloads the account."""
    demo_backend.auth_invalid = True
    mock_config_entry.add_to_hass(hass)
    await hass.config_entries.async_setup(mock_config_entry.entry_id)
    await hass.async_block_till_done()
    assert mock_config_entry.state is ConfigEntryState.SETUP_ERROR
    (flow,) = hass.config_entries.flow.async_progress_by_handler(DOMAIN)
    assert flow["step_id"] == "reauth_confirm"

    # Still refused: the form shows the error and keeps the flow open.
    result = await hass.config_entries.flow.async_configure(flow["flow_id"], {})
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"base": "invalid_auth"}

    demo_backend.auth_invalid = False
    result = await hass.config_entries.flow.async_configure(flow["flow_id"], {})
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reauth_successful"
    await hass.async_block_till_done()
    assert mock_config_entry.state is ConfigEntryState.LOADED


async def test_reconfigure_loaded_entry(
    hass: HomeAssistant, init_integration: MockConfigEntry
) -> None:
    """Reconfigure checks the account again and keeps it loaded."""
    result = await init_integration.start_reconfigure_flow(hass)
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "reconfigure"
    result = await hass.config_entries.flow.async_configure(result["flow_id"], {})
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reconfigure_successful"
    await hass.async_block_till_done()
    assert init_integration.state is ConfigEntryState.LOADED
