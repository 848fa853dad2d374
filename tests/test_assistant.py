"""Voice answers beyond the happy path: which line, unreadable lines, refusals, languages."""

from __future__ import annotations

from pathlib import Path
import shutil

import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from homeassistant.components import conversation
from homeassistant.core import HomeAssistant
from homeassistant.setup import async_setup_component

from custom_components.prepaid_sim.const import CONF_LINE_ID, DOMAIN, SUBENTRY_TYPE_LINE
from custom_components.prepaid_sim.providers.base import line_ref
from custom_components.prepaid_sim.providers.demo import DemoBackend

from .helpers import admin_context, demo_entry, line_device, renew, report, setup_entry

pytestmark = [
    pytest.mark.freeze_time("2026-11-26T12:00:00+00:00"),
    pytest.mark.usefixtures("hass_admin_user"),
]

SENTENCES = Path(__file__).parent.parent / "custom_sentences"


@pytest.fixture
async def agent(hass: HomeAssistant, tmp_path: Path) -> None:
    """Load the shipped custom sentences (and a German one a user wrote) and the agent."""
    hass.config.config_dir = str(tmp_path)
    shutil.copytree(SENTENCES, tmp_path / "custom_sentences")
    german = tmp_path / "custom_sentences" / "de"
    german.mkdir()
    (german / "prepaid_sim.yaml").write_text(
        'language: "de"\n'
        "intents:\n"
        "  PrepaidSimLineStatus:\n"
        "    data:\n"
        '      - sentences: ["wie viele daten hat {line_name}"]\n'
        "lists:\n"
        "  line_name:\n"
        "    wildcard: true\n",
        encoding="utf-8",
    )
    assert await async_setup_component(hass, "homeassistant", {})
    assert await async_setup_component(hass, "conversation", {})
    assert await async_setup_component(hass, "intent", {})
    await hass.async_block_till_done()


async def say(hass: HomeAssistant, text: str, language: str = "en") -> str:
    """Say a sentence to the default agent and return its spoken answer."""
    result = await conversation.async_converse(
        hass, text, None, await admin_context(hass), language=language
    )
    return result.response.speech["plain"]["speech"]


@pytest.mark.usefixtures("agent", "demo_backend")
async def test_only_line_needs_no_name(hass: HomeAssistant) -> None:
    """With one line tracked, a question that names no line is about that line."""
    await setup_entry(hass, demo_entry("camera-iot"))
    answer = await say(hass, "how much mobile data is left")
    assert answer == "Camera Iot has 94 MB left and runs until 2026-12-13."


@pytest.mark.usefixtures("agent", "demo_backend")
async def test_no_name_with_several_lines_asks_which(hass: HomeAssistant) -> None:
    """With several lines and none named, the answer lists them to choose from."""
    await setup_entry(hass, demo_entry("us-travel", "camera-iot"))
    answer = await say(hass, "how much mobile data is left")
    assert answer == "Which line do you mean: Us Travel, Camera Iot?"


@pytest.mark.usefixtures("agent", "demo_backend")
async def test_ambiguous_name_asks_which(hass: HomeAssistant) -> None:
    """A name that fits several lines is not guessed: both are offered, nothing is bought."""
    entry = MockConfigEntry(
        domain=DOMAIN,
        title="Demo account",
        unique_id="demo_demo-account",
        data={"provider": "demo"},
        subentries_data=[
            {
                "subentry_type": SUBENTRY_TYPE_LINE,
                "data": {CONF_LINE_ID: line_id},
                "title": title,
                "unique_id": line_id,
            }
            for line_id, title in (("us-travel", "Travel SIM"), ("camera-iot", "Camera SIM"))
        ],
    )
    await setup_entry(hass, entry)
    assert await say(hass, "how much data is left on my SIM") == (
        "Which line do you mean: Travel SIM, Camera SIM?"
    )
    # The full name is exact, and "SIM" glued to a name still counts as a word.
    answer = await say(hass, "how much data is left on my cameraSIM")
    assert answer == "Camera SIM has 94 MB left and runs until 2026-12-13."


@pytest.mark.usefixtures("agent", "demo_backend")
async def test_lines_of_an_account_that_is_not_loaded_are_ignored(hass: HomeAssistant) -> None:
    """A second account that is not loaded does not make the only loaded line ambiguous."""
    await setup_entry(hass, demo_entry("camera-iot"))
    other = MockConfigEntry(
        domain=DOMAIN,
        title="Other account",
        unique_id="demo_other",
        data={"provider": "demo"},
        subentries_data=[
            {
                "subentry_type": SUBENTRY_TYPE_LINE,
                "data": {CONF_LINE_ID: "us-travel"},
                "title": "Us Travel",
                "unique_id": "us-travel",
            }
        ],
    )
    other.add_to_hass(hass)
    answer = await say(hass, "how much mobile data is left")
    assert answer.startswith("Camera Iot has 94 MB left")
    assert await say(hass, "how much data is left on my US Travel") == (
        "I don't know a line called US Travel."
    )


@pytest.mark.usefixtures("agent")
async def test_line_the_provider_stopped_returning(
    hass: HomeAssistant, demo_backend: DemoBackend
) -> None:
    """A tracked line missing from the account cannot be read, and says so."""
    entry = await setup_entry(hass, demo_entry("us-travel", "camera-iot"))
    del demo_backend.lines["camera-iot"]
    await entry.runtime_data.coordinator.async_refresh()
    answer = await say(hass, "how much data is left on my Camera IoT")
    assert answer == "Camera Iot cannot be read right now."


@pytest.mark.usefixtures("agent", "demo_backend")
async def test_line_without_expiry_or_usage(hass: HomeAssistant) -> None:
    """A provider that reports no expiry gets the data alone; with no data either, no guess."""
    entry = await setup_entry(hass, demo_entry("camera-iot"))
    report(entry, "camera-iot", expires_at=None)
    assert await say(hass, "how much data is left on my Camera IoT") == "Camera Iot has 94 MB left."
    report(entry, "camera-iot", expires_at=None, data_remaining_bytes=None)
    answer = await say(hass, "how much data is left on my Camera IoT")
    assert answer == "Camera Iot cannot be read right now."


@pytest.mark.usefixtures("agent", "demo_backend")
async def test_unlimited_line(hass: HomeAssistant) -> None:
    """An unlimited line is not given a remaining amount, only its expiry."""
    await setup_entry(hass, demo_entry("home-hotspot"))
    answer = await say(hass, "when does my Home Hotspot expire")
    assert answer == "Home Hotspot has unlimited data and runs until 2026-12-08."


@pytest.mark.usefixtures("agent")
async def test_renewal_over_the_spend_cap_is_refused_aloud(
    hass: HomeAssistant, demo_backend: DemoBackend
) -> None:
    """Asking to renew past the cap gets the reason, in the speaker's language; no charge."""
    await setup_entry(hass, demo_entry("europe-esim", spend_cap=10))
    answer = await say(hass, "renew my Europe eSIM")
    assert answer == (
        "Renewing Europe Esim for 12.00 USD would pass its monthly spend cap of 10.00 USD "
        "(0.00 USD spent this month)."
    )
    answer = await say(hass, "续费我的Europe eSIM", language="zh-Hans")
    assert "10.00 USD" in answer
    assert "cap" not in answer
    # Nothing was quoted, so there is nothing to confirm either.
    assert "no renewal waiting" in await say(hass, "confirm the renewal")
    assert demo_backend.ledger == []


@pytest.mark.usefixtures("agent")
async def test_renewal_quote_when_the_provider_is_down(
    hass: HomeAssistant, demo_backend: DemoBackend
) -> None:
    """A quote that cannot be priced says the provider is unreachable."""
    await setup_entry(hass, demo_entry("europe-esim"))
    demo_backend.unavailable = True
    answer = await say(hass, "renew my Europe eSIM")
    assert answer == (
        "The provider could not be reached, nothing was charged: "
        "demo provider switched to unavailable"
    )


@pytest.mark.usefixtures("agent")
async def test_confirmation_after_someone_else_renewed(
    hass: HomeAssistant, demo_backend: DemoBackend
) -> None:
    """A line renewed from the dashboard between quote and confirmation is not bought twice."""
    entry = await setup_entry(hass, demo_entry("europe-esim"))
    assert "12.00 USD" in await say(hass, "renew my Europe eSIM")
    await renew(hass, line_device(hass, entry, "europe-esim"))
    answer = await say(hass, "confirm the renewal")
    assert answer.startswith("Europe Esim was already renewed at 04:00")
    assert len(demo_backend.ledger) == 1


@pytest.mark.usefixtures("agent")
async def test_confirmation_after_the_line_was_removed(
    hass: HomeAssistant, demo_backend: DemoBackend
) -> None:
    """A line removed between quote and confirmation is not bought."""
    entry = await setup_entry(hass, demo_entry("us-travel", "europe-esim"))
    assert "12.00 USD" in await say(hass, "renew my Europe eSIM")
    europe = next(s for s in entry.subentries.values() if s.unique_id == "europe-esim")
    assert hass.config_entries.async_remove_subentry(entry, europe.subentry_id)
    await hass.async_block_till_done()
    answer = await say(hass, "confirm the renewal")
    assert answer == f"Line {line_ref('europe-esim')} is not tracked by this account."
    assert demo_backend.ledger == []


@pytest.mark.usefixtures("agent")
async def test_confirmation_after_the_account_was_unloaded(
    hass: HomeAssistant, demo_backend: DemoBackend
) -> None:
    """An account unloaded between quote and confirmation buys nothing, and says so."""
    entry = await setup_entry(hass, demo_entry("europe-esim"))
    assert "12.00 USD" in await say(hass, "renew my Europe eSIM")
    assert await hass.config_entries.async_unload(entry.entry_id)
    answer = await say(hass, "confirm the renewal")
    assert answer == "Europe Esim cannot be read right now."
    assert demo_backend.ledger == []


@pytest.mark.usefixtures("agent", "demo_backend")
async def test_language_without_translations_answers_in_english(hass: HomeAssistant) -> None:
    """Sentences a user wrote for a language we do not translate get English answers."""
    await setup_entry(hass, demo_entry("camera-iot"))
    answer = await say(hass, "wie viele daten hat Camera IoT", language="de")
    assert answer == "Camera Iot has 94 MB left and runs until 2026-12-13."
