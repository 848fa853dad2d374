"""Voice: the example custom sentences through Home Assistant's conversation agent,
and the LLM tools."""

from __future__ import annotations

from pathlib import Path
import shutil

import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from homeassistant.components import conversation
from homeassistant.core import HomeAssistant
from homeassistant.helpers import llm
from homeassistant.setup import async_setup_component

from custom_components.prepaid_sim.providers.demo import DemoBackend

from .helpers import admin_context

pytestmark = [
    pytest.mark.freeze_time("2026-11-26T12:00:00+00:00"),
    pytest.mark.usefixtures("hass_admin_user"),
]

SENTENCES = Path(__file__).parent.parent / "custom_sentences"


@pytest.fixture
async def voice(
    hass: HomeAssistant, tmp_path: Path, init_integration: MockConfigEntry
) -> MockConfigEntry:
    """Load the shipped custom sentences and the conversation agent."""
    hass.config.config_dir = str(tmp_path)
    shutil.copytree(SENTENCES, tmp_path / "custom_sentences")
    assert await async_setup_component(hass, "homeassistant", {})
    assert await async_setup_component(hass, "conversation", {})
    assert await async_setup_component(hass, "intent", {})
    await hass.async_block_till_done()
    return init_integration


async def say(hass: HomeAssistant, text: str, language: str = "en") -> str:
    """Say a sentence to the default agent and return its spoken answer."""
    result = await conversation.async_converse(
        hass, text, None, await admin_context(hass), language=language
    )
    return result.response.speech["plain"]["speech"]


@pytest.mark.usefixtures("voice")
async def test_how_much_data_is_left(hass: HomeAssistant) -> None:
    """The status sentence names the line's remaining data and expiry."""
    answer = await say(hass, "how much data is left on my Camera IoT")
    assert answer == "Camera Iot has 94 MB left and runs until 2026-12-13."


@pytest.mark.usefixtures("voice")
async def test_renew_needs_confirmation(hass: HomeAssistant, demo_backend: DemoBackend) -> None:
    """Renewing by voice quotes first; only the confirmation buys, once."""
    answer = await say(hass, "renew my Europe eSIM")
    assert "Europe 5 GB, 15 days" in answer
    assert "12.00 USD" in answer
    assert demo_backend.ledger == []
    answer = await say(hass, "confirm the renewal")
    assert answer == "Done: bought Europe 5 GB, 15 days for 12.00 USD."
    assert [c.package_id for c in demo_backend.ledger] == ["eu-5gb-15d"]
    # A second confirmation has nothing to confirm: no second charge.
    answer = await say(hass, "confirm the renewal")
    assert "no renewal waiting" in answer
    assert len(demo_backend.ledger) == 1


@pytest.mark.usefixtures("voice")
async def test_unknown_line(hass: HomeAssistant) -> None:
    """A line nobody tracks gets a clear answer."""
    answer = await say(hass, "how much data is left on my Moon Rover")
    assert answer == "I don't know a line called Moon Rover."


@pytest.mark.usefixtures("voice")
async def test_simplified_chinese(hass: HomeAssistant, demo_backend: DemoBackend) -> None:
    """The Simplified Chinese sentences work end to end."""
    expected = "Camera Iot 还剩 94 MB 流量，有效期到 2026-12-13。"  # noqa: RUF001
    answer = await say(hass, "我的Camera IoT还剩多少流量", language="zh-Hans")
    assert answer == expected
    # Assist pipelines speak regional codes; the answer is still Simplified Chinese.
    answer = await say(hass, "我的Camera IoT还剩多少流量", language="zh-CN")
    assert answer == expected
    await say(hass, "续费我的Europe eSIM", language="zh-Hans")
    await say(hass, "确认续费", language="zh-Hans")
    assert len(demo_backend.ledger) == 1


@pytest.mark.usefixtures("voice")
async def test_traditional_chinese(hass: HomeAssistant, demo_backend: DemoBackend) -> None:
    """The Traditional Chinese sentences work end to end."""
    answer = await say(hass, "我的US Travel還剩多少流量", language="zh-TW")
    assert "Us Travel" in answer
    assert "還剩" in answer
    await say(hass, "續約我的US Travel", language="zh-Hant")
    await say(hass, "確認續約", language="zh-Hant")
    assert [c.package_id for c in demo_backend.ledger] == ["us-10gb-30d"]


async def _tools(hass: HomeAssistant) -> dict[str, llm.Tool]:
    """Return our tools as the Assist API offers them."""
    assert await async_setup_component(hass, "llm", {})
    api = await llm.async_get_api(
        hass,
        llm.LLM_API_ASSIST,
        llm.LLMContext(
            platform="test",
            context=await admin_context(hass),
            language="en",
            assistant=conversation.DOMAIN,
            device_id=None,
        ),
    )
    return {tool.name: tool for tool in api.tools if tool.name.startswith("prepaid_sim__")}


@pytest.mark.usefixtures("init_integration")
async def test_llm_tools(hass: HomeAssistant, demo_backend: DemoBackend) -> None:
    """Status is read-only; renewal needs a quote, then confirm: true."""
    tools = await _tools(hass)
    assert set(tools) == {"prepaid_sim__line_status", "prepaid_sim__renew_line"}
    assert tools["prepaid_sim__line_status"].annotations.read_only
    assert tools["prepaid_sim__renew_line"].annotations.destructive

    context = llm.LLMContext(
        platform="test",
        context=await admin_context(hass),
        language="en",
        assistant=conversation.DOMAIN,
        device_id=None,
    )
    status = await tools["prepaid_sim__line_status"].async_call(
        hass, llm.ToolInput("prepaid_sim__line_status", {"line": "us travel"}), context
    )
    assert status["lines"][0]["data_remaining"] == "6.8 GB"

    # Confirming without a quote buys nothing.
    answer = await tools["prepaid_sim__renew_line"].async_call(
        hass,
        llm.ToolInput("prepaid_sim__renew_line", {"line": "us travel", "confirm": True}),
        context,
    )
    assert answer["success"] is False
    assert demo_backend.ledger == []

    quote = await tools["prepaid_sim__renew_line"].async_call(
        hass, llm.ToolInput("prepaid_sim__renew_line", {"line": "us travel"}), context
    )
    assert (quote["renewed"], quote["price"]) == (False, "20.00 USD")
    assert demo_backend.ledger == []
    done = await tools["prepaid_sim__renew_line"].async_call(
        hass,
        llm.ToolInput("prepaid_sim__renew_line", {"line": "us travel", "confirm": True}),
        context,
    )
    assert done["renewed"] is True
    assert len(demo_backend.ledger) == 1
