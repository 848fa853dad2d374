"""LLM tools: what a model reads about lines, and how renewals it asks for can fail."""

from __future__ import annotations

from typing import Any

import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from homeassistant.components import conversation, llm as llm_component
from homeassistant.core import HomeAssistant
from homeassistant.helpers import llm
from homeassistant.setup import async_setup_component

from custom_components.prepaid_sim.providers.demo import DemoBackend

from .helpers import admin_context, demo_entry

pytestmark = [
    pytest.mark.freeze_time("2026-11-26T12:00:00+00:00"),
    pytest.mark.usefixtures("hass_admin_user"),
]

STATUS = "prepaid_sim__line_status"
RENEW = "prepaid_sim__renew_line"


async def context(hass: HomeAssistant, language: str | None = "en") -> llm.LLMContext:
    """Return the context of a conversation with the administrator."""
    return llm.LLMContext(
        platform="test",
        context=await admin_context(hass),
        language=language,
        assistant=conversation.DOMAIN,
        device_id=None,
    )


@pytest.fixture
async def tools(hass: HomeAssistant, init_integration: MockConfigEntry) -> dict[str, llm.Tool]:
    """Return our tools as the Assist API offers them."""
    assert await async_setup_component(hass, "llm", {})
    api = await llm.async_get_api(hass, llm.LLM_API_ASSIST, await context(hass))
    return {tool.name: tool for tool in api.tools if tool.name.startswith("prepaid_sim__")}


async def call(
    hass: HomeAssistant,
    tools: dict[str, llm.Tool],
    name: str,
    args: dict[str, Any],
    language: str | None = "en",
) -> dict[str, Any]:
    """Call a tool as the model would."""
    result = await tools[name].async_call(
        hass, llm.ToolInput(name, args), await context(hass, language)
    )
    assert isinstance(result, dict)
    return result


async def test_only_the_assist_api_gets_the_tools(
    hass: HomeAssistant, init_integration: MockConfigEntry
) -> None:
    """Another LLM API is not handed tools that spend money."""
    assert await async_setup_component(hass, "llm", {})
    offered = await llm_component.async_get_tools(hass, await context(hass), "some_other_api")
    assert not [tool for tool in offered.tools if tool.name.startswith("prepaid_sim__")]


async def test_status_of_every_line(hass: HomeAssistant, tools: dict[str, llm.Tool]) -> None:
    """With no line named, the model gets every tracked line."""
    answer = await call(hass, tools, STATUS, {})
    assert answer["success"] is True
    by_name = {line["line"]: line for line in answer["lines"]}
    assert set(by_name) == {"Us Travel", "Camera Iot", "Europe Esim"}
    assert by_name["Camera Iot"] == {
        "line": "Camera Iot",
        "available": True,
        "status": "active",
        "unlimited": False,
        "data_remaining_bytes": 94 * 1024**2,
        "data_remaining": "94 MB",
        "data_total_bytes": 1024**3,
        "expires_at": "2026-12-13T12:00:00+00:00",
        "expired": False,
        "queued_packages": [],
        "keep_alive_by": None,
        "renewal_opens_at": None,
    }


async def test_status_of_an_unknown_line(hass: HomeAssistant, tools: dict[str, llm.Tool]) -> None:
    """An unknown line is an error the model can repeat, in the conversation's language."""
    assert await call(hass, tools, STATUS, {"line": "Moon Rover"}) == {
        "success": False,
        "error": "I don't know a line called Moon Rover.",
    }
    # A conversation with no language set gets English.
    answer = await call(hass, tools, STATUS, {"line": "Moon Rover"}, language=None)
    assert answer["error"] == "I don't know a line called Moon Rover."


async def test_status_of_a_line_that_cannot_be_read(
    hass: HomeAssistant,
    tools: dict[str, llm.Tool],
    init_integration: MockConfigEntry,
    demo_backend: DemoBackend,
) -> None:
    """A tracked line the provider stopped returning is reported as unavailable, no stale data."""
    del demo_backend.lines["camera-iot"]
    await init_integration.runtime_data.coordinator.async_refresh()
    answer = await call(hass, tools, STATUS, {"line": "camera iot"})
    assert answer == {"success": True, "lines": [{"line": "Camera Iot", "available": False}]}


async def test_renewal_refused_by_the_provider(
    hass: HomeAssistant, tools: dict[str, llm.Tool], demo_backend: DemoBackend
) -> None:
    """A quote the provider cannot give is an error with the reason; nothing is bought."""
    demo_backend.unavailable = True
    answer = await call(hass, tools, RENEW, {"line": "europe esim"})
    assert answer == {
        "success": False,
        "error": (
            "The provider could not be reached, nothing was charged: "
            "demo provider switched to unavailable"
        ),
    }
    assert demo_backend.ledger == []


async def test_confirming_another_line_than_quoted(
    hass: HomeAssistant, tools: dict[str, llm.Tool], demo_backend: DemoBackend
) -> None:
    """A confirmation only buys the line that was quoted to this person."""
    quote = await call(hass, tools, RENEW, {"line": "europe esim"})
    assert (quote["success"], quote["price"]) == (True, "12.00 USD")
    answer = await call(hass, tools, RENEW, {"line": "us travel", "confirm": True})
    assert answer == {
        "success": False,
        "error": "There is no renewal waiting for your confirmation. Ask to renew a line first.",
    }
    assert demo_backend.ledger == []


async def test_confirmation_refused_at_purchase(
    hass: HomeAssistant, tools: dict[str, llm.Tool], demo_backend: DemoBackend
) -> None:
    """A confirmed renewal the carrier refuses reports why, and nothing is charged."""
    await call(hass, tools, RENEW, {"line": "europe esim"})
    demo_backend.reject_orders_with = "package_unavailable"
    answer = await call(hass, tools, RENEW, {"line": "europe esim", "confirm": True})
    assert answer["success"] is False
    assert "package_unavailable" in answer["error"]
    assert demo_backend.ledger == []


@pytest.mark.usefixtures("demo_backend")
async def test_spend_cap_reaches_the_model(hass: HomeAssistant) -> None:
    """A quote over the line's monthly cap is refused before any price is offered."""
    entry = demo_entry("europe-esim", spend_cap=10)
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    assert await async_setup_component(hass, "llm", {})
    api = await llm.async_get_api(hass, llm.LLM_API_ASSIST, await context(hass))
    tool = next(tool for tool in api.tools if tool.name == RENEW)
    answer = await tool.async_call(
        hass, llm.ToolInput(RENEW, {"line": "europe"}), await context(hass)
    )
    assert answer == {
        "success": False,
        "error": (
            "Renewing Europe Esim for 12.00 USD would pass its monthly spend cap of 10.00 USD "
            "(0.00 USD spent this month)"
        ),
    }
