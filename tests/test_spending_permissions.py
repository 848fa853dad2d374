"""Who can spend (issue #13), through Home Assistant's public surfaces.

Only administrators and automations spend, on every path: the renew action, the Renew
button, the package select, voice (the conversation agent and the HTTP intent endpoint),
the LLM tools and the repair fix. A quote binds package, price, user and device. Each test
reads the demo carrier's ledger: no charge when refused, exactly one when allowed.
"""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from http import HTTPStatus
from pathlib import Path
import shutil
from typing import Any

import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry, MockUser
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from homeassistant.auth.const import GROUP_ID_USER
from homeassistant.components import conversation
from homeassistant.components.select import (
    ATTR_OPTION,
    DOMAIN as SELECT_DOMAIN,
    SERVICE_SELECT_OPTION,
)
from homeassistant.const import ATTR_ENTITY_ID
from homeassistant.core import Context, HomeAssistant
from homeassistant.exceptions import ServiceValidationError, Unauthorized
from homeassistant.helpers import issue_registry as ir, llm
from homeassistant.setup import async_setup_component

from custom_components.prepaid_sim.const import DOMAIN
from custom_components.prepaid_sim.providers import demo
from custom_components.prepaid_sim.providers.base import Money
from custom_components.prepaid_sim.providers.demo import DemoBackend

from .helpers import demo_entry, line_device, line_issue, press, receipts, renew, setup_entry

pytestmark = pytest.mark.freeze_time("2026-11-26T12:00:00+00:00")


@pytest.fixture(autouse=True)
def renew_buttons_enabled(entity_registry_enabled_by_default: None) -> None:
    """Enable the opt-in Renew buttons (before any setup): these tests press them."""


SENTENCES = Path(__file__).parent.parent / "custom_sentences"
BUTTON = "button.europe_esim_renew"
SELECT = "select.europe_esim_renewal_package"
KITCHEN = "kitchen-satellite"
BEDROOM = "bedroom-satellite"
REFUSED = "Only an administrator (or an automation) can renew Europe Esim"
NOTHING_WAITING = "no renewal waiting"
RENEW_TOOL = "prepaid_sim__renew_line"


@pytest.fixture
def mock_config_entry() -> MockConfigEntry:
    """Track the expiring line only, so voice and tools need no line name."""
    return demo_entry("europe-esim")


@pytest.fixture
def admin(hass_admin_user: MockUser) -> Context:
    """Return a context of an administrator."""
    return Context(user_id=hass_admin_user.id)


@pytest.fixture
def other_admin(hass: HomeAssistant, hass_admin_user: MockUser) -> Context:
    """Return a context of a second administrator."""
    user = MockUser(name="Second admin", groups=list(hass_admin_user.groups)).add_to_hass(hass)
    assert user.is_admin
    return Context(user_id=user.id)


@pytest.fixture
def reader(hass_read_only_user: MockUser) -> Context:
    """Return a context of a user who is not an administrator."""
    assert not hass_read_only_user.is_admin
    return Context(user_id=hass_read_only_user.id)


@pytest.fixture
async def user(hass: HomeAssistant, local_auth: Any) -> Context:
    """Return a context of an ordinary user: may control entities, is no administrator."""
    group = await hass.auth.async_get_group(GROUP_ID_USER)
    assert group is not None
    member = MockUser(name="Ordinary user", groups=[group]).add_to_hass(hass)
    assert not member.is_admin
    return Context(user_id=member.id)


@pytest.fixture
async def agent(hass: HomeAssistant, tmp_path: Path) -> None:
    """Load the shipped custom sentences, the conversation agent and the intents."""
    hass.config.config_dir = str(tmp_path)
    shutil.copytree(SENTENCES, tmp_path / "custom_sentences")
    assert await async_setup_component(hass, "homeassistant", {})
    assert await async_setup_component(hass, "conversation", {})
    assert await async_setup_component(hass, "intent", {})
    await hass.async_block_till_done()


async def say(
    hass: HomeAssistant, text: str, context: Context, device_id: str | None = None
) -> str:
    """Say a sentence to the default agent (from a satellite, if named); return the answer."""
    result = await conversation.async_converse(
        hass, text, None, context, language="en", device_id=device_id
    )
    speech: str = result.response.speech["plain"]["speech"]
    return speech


async def tool(
    hass: HomeAssistant, context: Context | None, args: dict[str, Any], device_id: str | None = None
) -> dict[str, Any]:
    """Call the renew tool as a model would, through the Assist API of ``context``."""
    assert await async_setup_component(hass, "llm", {})
    llm_context = llm.LLMContext(
        platform="test",
        context=context,
        language="en",
        assistant=conversation.DOMAIN,
        device_id=device_id,
    )
    api = await llm.async_get_api(hass, llm.LLM_API_ASSIST, llm_context)
    (renew_tool,) = (t for t in api.tools if t.name == RENEW_TOOL)
    result = await renew_tool.async_call(hass, llm.ToolInput(RENEW_TOOL, args), llm_context)
    assert isinstance(result, dict)
    return result


def set_price(monkeypatch: pytest.MonkeyPatch, package_id: str, amount: str) -> None:
    """Change a package's price in the demo carrier's catalogue."""
    for name, packages in demo.CATALOGUES.items():
        if any(p.package_id == package_id for p in packages):
            monkeypatch.setitem(
                demo.CATALOGUES,
                name,
                tuple(
                    replace(p, price=Money(Decimal(amount), p.price.currency))
                    if p.package_id == package_id
                    else p
                    for p in packages
                ),
            )
            return
    raise AssertionError(package_id)


def charged(backend: DemoBackend) -> list[tuple[str, str]]:
    """Return the carrier's charges as (package, amount)."""
    return [(c.package_id, str(c.amount)) for c in backend.ledger]


# --- rule 9: administrators (and automations) spend, on every path ---------------------


@pytest.mark.usefixtures("init_integration")
async def test_renew_action_refuses_a_user_who_is_not_an_administrator(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    demo_backend: DemoBackend,
    reader: Context,
) -> None:
    """The action is for administrators: neither a renewal nor a quote for anyone else."""
    device_id = line_device(hass, init_integration, "europe-esim")
    with pytest.raises(Unauthorized):
        await renew(hass, device_id, context=reader)
    with pytest.raises(Unauthorized):
        await renew(hass, device_id, context=reader, dry_run=True)
    assert demo_backend.ledger == []


@pytest.mark.usefixtures("init_integration")
async def test_renew_action_by_an_administrator_charges_once(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    demo_backend: DemoBackend,
    admin: Context,
) -> None:
    """An administrator renews; the receipt names the person."""
    response = await renew(hass, line_device(hass, init_integration, "europe-esim"), context=admin)
    assert response["state"] == "succeeded"
    assert charged(demo_backend) == [("eu-5gb-15d", "12.00 USD")]
    (receipt,) = await receipts(hass)
    assert receipt["caller"] == "user"


@pytest.mark.usefixtures("init_integration", "hass_read_only_user")
async def test_renew_action_without_a_user_charges_once(
    hass: HomeAssistant, init_integration: MockConfigEntry, demo_backend: DemoBackend
) -> None:
    """A script or automation (no user in the context) renews."""
    await renew(hass, line_device(hass, init_integration, "europe-esim"), context=Context())
    assert charged(demo_backend) == [("eu-5gb-15d", "12.00 USD")]
    (receipt,) = await receipts(hass)
    assert receipt["caller"] == "automation"


@pytest.mark.usefixtures("init_integration")
async def test_refused_press_says_why_and_charges_nothing(
    hass: HomeAssistant, demo_backend: DemoBackend, user: Context, admin: Context
) -> None:
    """A press by someone who may not spend names the line and who can renew it."""
    with pytest.raises(ServiceValidationError) as err:
        await press(hass, BUTTON, context=user)
    assert err.value.translation_domain == DOMAIN
    assert err.value.translation_key == "admin_required"
    assert err.value.translation_placeholders == {"line": "Europe Esim"}
    assert str(err.value).startswith(REFUSED)
    assert "nothing was bought" in str(err.value)
    assert demo_backend.ledger == []

    await press(hass, BUTTON, context=admin)
    assert charged(demo_backend) == [("eu-5gb-15d", "12.00 USD")]
    (receipt,) = await receipts(hass)
    assert receipt["caller"] == "button"


@pytest.mark.usefixtures("init_integration")
async def test_read_only_user_cannot_press(
    hass: HomeAssistant, demo_backend: DemoBackend, reader: Context
) -> None:
    """A read-only user may not even control the button (Home Assistant refuses first)."""
    with pytest.raises(Unauthorized):
        await press(hass, BUTTON, context=reader)
    with pytest.raises(Unauthorized):
        await hass.services.async_call(
            SELECT_DOMAIN,
            SERVICE_SELECT_OPTION,
            {ATTR_ENTITY_ID: SELECT, ATTR_OPTION: "Europe 10 GB, 30 days"},
            blocking=True,
            context=reader,
        )
    assert demo_backend.ledger == []


@pytest.mark.usefixtures("init_integration", "hass_read_only_user")
async def test_press_by_an_automation_charges_once(
    hass: HomeAssistant, demo_backend: DemoBackend
) -> None:
    """A press with no user (an automation or script) renews."""
    await press(hass, BUTTON, context=Context())
    assert len(demo_backend.ledger) == 1


@pytest.mark.usefixtures("init_integration")
async def test_choosing_a_package_is_for_administrators(
    hass: HomeAssistant, demo_backend: DemoBackend, user: Context, admin: Context
) -> None:
    """The package decides what is bought: a non-administrator can neither choose nor press."""
    await hass.async_block_till_done(wait_background_tasks=True)
    before = hass.states.get(SELECT)
    assert before is not None
    assert before.state == "Europe 5 GB, 15 days"
    with pytest.raises(ServiceValidationError) as err:
        await hass.services.async_call(
            SELECT_DOMAIN,
            SERVICE_SELECT_OPTION,
            {ATTR_ENTITY_ID: SELECT, ATTR_OPTION: "Europe 10 GB, 30 days"},
            blocking=True,
            context=user,
        )
    assert err.value.translation_key == "admin_required"
    assert str(err.value).startswith(REFUSED)
    state = hass.states.get(SELECT)
    assert state is not None
    assert state.state == "Europe 5 GB, 15 days"
    with pytest.raises(ServiceValidationError):
        await press(hass, BUTTON, context=user)
    assert demo_backend.ledger == []

    # An administrator's choice is what the next press buys.
    await hass.services.async_call(
        SELECT_DOMAIN,
        SERVICE_SELECT_OPTION,
        {ATTR_ENTITY_ID: SELECT, ATTR_OPTION: "Europe 10 GB, 30 days"},
        blocking=True,
        context=admin,
    )
    await press(hass, BUTTON, context=admin)
    assert charged(demo_backend) == [("eu-10gb-30d", "19.00 USD")]


@pytest.mark.usefixtures("init_integration", "agent")
async def test_voice_refuses_a_user_who_is_not_an_administrator(
    hass: HomeAssistant, demo_backend: DemoBackend, reader: Context
) -> None:
    """Asked by voice, the quote is refused aloud and nothing can be confirmed."""
    answer = await say(hass, "renew my Europe eSIM", reader, KITCHEN)
    assert answer.startswith(REFUSED)
    answer = await say(hass, "confirm the renewal", reader, KITCHEN)
    assert NOTHING_WAITING in answer
    assert demo_backend.ledger == []


async def handle_intent(
    client: Any, name: str, data: dict[str, str] | None = None, **extra: str
) -> str:
    """Post an intent to Home Assistant's intent endpoint; return the spoken answer."""
    response = await client.post(
        "/api/intent/handle", json={"name": name, "data": data or {}, **extra}
    )
    assert response.status == HTTPStatus.OK, await response.text()
    body = await response.json()
    speech: str = body["speech"]["plain"]["speech"]
    return speech


@pytest.mark.usefixtures("init_integration", "agent")
async def test_intent_endpoint_refuses_a_user_who_is_not_an_administrator(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    hass_read_only_access_token: str,
    demo_backend: DemoBackend,
) -> None:
    """The HTTP intent endpoint runs as the token's user: a read-only user cannot renew."""
    client = await hass_client(hass_read_only_access_token)
    answer = await handle_intent(client, "PrepaidSimRenewLine", {"line_name": "Europe eSIM"})
    assert answer.startswith(REFUSED)
    answer = await handle_intent(client, "PrepaidSimConfirmRenewal")
    assert NOTHING_WAITING in answer
    assert demo_backend.ledger == []


@pytest.mark.usefixtures("init_integration", "agent")
async def test_intent_endpoint_binds_the_quote_to_its_user(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    hass_read_only_access_token: str,
    demo_backend: DemoBackend,
) -> None:
    """An administrator's quote cannot be confirmed by another user naming the same device."""
    admin_client = await hass_client()
    reader_client = await hass_client(hass_read_only_access_token)
    answer = await handle_intent(
        admin_client, "PrepaidSimRenewLine", {"line_name": "Europe eSIM"}, device_id=KITCHEN
    )
    assert "12.00 USD" in answer
    answer = await handle_intent(reader_client, "PrepaidSimConfirmRenewal", device_id=KITCHEN)
    assert answer.startswith(REFUSED) or NOTHING_WAITING in answer
    assert demo_backend.ledger == []
    answer = await handle_intent(admin_client, "PrepaidSimConfirmRenewal", device_id=KITCHEN)
    assert answer == "Done: bought Europe 5 GB, 15 days for 12.00 USD."
    assert len(demo_backend.ledger) == 1


@pytest.mark.usefixtures("init_integration")
async def test_llm_tool_refuses_a_user_who_is_not_an_administrator(
    hass: HomeAssistant, demo_backend: DemoBackend, reader: Context
) -> None:
    """The model is told the user may not renew; confirming buys nothing."""
    quote = await tool(hass, reader, {"line": "Europe eSIM"})
    assert quote["success"] is False
    assert quote["error"].startswith(REFUSED)
    done = await tool(hass, reader, {"line": "Europe eSIM", "confirm": True})
    assert done["success"] is False
    assert NOTHING_WAITING in done["error"]
    assert demo_backend.ledger == []


async def test_repair_fix_is_for_administrators(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    hass_read_only_access_token: str,
    init_integration: MockConfigEntry,
    demo_backend: DemoBackend,
    issue_registry: ir.IssueRegistry,
) -> None:
    """Repairs are administrators-only by Home Assistant's design; the fix then renews once."""
    issue_id = line_issue(init_integration, "line_expiring", "europe-esim")
    assert await async_setup_component(hass, "repairs", {})
    fix = {"handler": DOMAIN, "issue_id": issue_id}

    reader_client = await hass_client(hass_read_only_access_token)
    response = await reader_client.post("/api/repairs/issues/fix", json=fix)
    assert response.status == HTTPStatus.UNAUTHORIZED
    assert demo_backend.ledger == []

    client = await hass_client()
    flow = await (await client.post("/api/repairs/issues/fix", json=fix)).json()
    assert flow["step_id"] == "confirm"
    response = await reader_client.post(f"/api/repairs/issues/fix/{flow['flow_id']}", json={})
    assert response.status == HTTPStatus.UNAUTHORIZED
    assert demo_backend.ledger == []
    response = await client.post(f"/api/repairs/issues/fix/{flow['flow_id']}", json={})
    assert (await response.json())["type"] == "create_entry"
    await hass.async_block_till_done()
    assert charged(demo_backend) == [("eu-5gb-15d", "12.00 USD")]
    assert issue_registry.async_get_issue(DOMAIN, issue_id) is None


async def test_automation_renews_whoever_triggered_it(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    demo_backend: DemoBackend,
    reader: Context,
) -> None:
    """An automation runs with no user: it renews, even when a non-administrator's
    event triggered it."""
    assert await async_setup_component(
        hass,
        "automation",
        {
            "automation": {
                "triggers": [{"trigger": "event", "event_type": "renew_europe"}],
                "actions": [
                    {
                        "action": "prepaid_sim.renew",
                        "data": {"device_id": line_device(hass, init_integration, "europe-esim")},
                    }
                ],
            }
        },
    )
    hass.bus.async_fire("renew_europe", context=reader)
    await hass.async_block_till_done()
    assert charged(demo_backend) == [("eu-5gb-15d", "12.00 USD")]
    (receipt,) = await receipts(hass)
    assert receipt["caller"] == "automation"


# --- rule 10: a quote binds package, price, user and device ------------------------------


@pytest.mark.usefixtures("init_integration", "agent")
async def test_voice_confirmation_refused_when_the_price_went_up(
    hass: HomeAssistant, demo_backend: DemoBackend, admin: Context, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The price rose between quote and confirmation: nothing is bought."""
    assert "12.00 USD" in await say(hass, "renew my Europe eSIM", admin, KITCHEN)
    set_price(monkeypatch, "eu-5gb-15d", "15.00")
    answer = await say(hass, "confirm the renewal", admin, KITCHEN)
    assert answer == (
        "The renewal of Europe Esim was quoted at 12.00 USD but now costs 15.00 USD; "
        "nothing was bought. Ask for a new quote."
    )
    assert demo_backend.ledger == []
    # The refused confirmation used the quote up.
    assert NOTHING_WAITING in await say(hass, "confirm the renewal", admin, KITCHEN)
    assert demo_backend.ledger == []


@pytest.mark.usefixtures("init_integration", "agent")
async def test_voice_confirmation_at_a_lower_price(
    hass: HomeAssistant, demo_backend: DemoBackend, admin: Context, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No more than the quoted price: a cheaper price is fine, and is what is charged."""
    await say(hass, "renew my Europe eSIM", admin, KITCHEN)
    set_price(monkeypatch, "eu-5gb-15d", "10.00")
    answer = await say(hass, "confirm the renewal", admin, KITCHEN)
    assert answer == "Done: bought Europe 5 GB, 15 days for 10.00 USD."
    assert charged(demo_backend) == [("eu-5gb-15d", "10.00 USD")]


@pytest.mark.usefixtures("init_integration", "agent")
async def test_voice_confirmation_buys_the_quoted_package(
    hass: HomeAssistant, demo_backend: DemoBackend, admin: Context
) -> None:
    """A package chosen between quote and confirmation does not change what was agreed."""
    await say(hass, "renew my Europe eSIM", admin, KITCHEN)
    await hass.async_block_till_done(wait_background_tasks=True)
    await hass.services.async_call(
        SELECT_DOMAIN,
        SERVICE_SELECT_OPTION,
        {ATTR_ENTITY_ID: SELECT, ATTR_OPTION: "Europe 10 GB, 30 days"},
        blocking=True,
        context=admin,
    )
    await say(hass, "confirm the renewal", admin, KITCHEN)
    assert charged(demo_backend) == [("eu-5gb-15d", "12.00 USD")]


@pytest.mark.usefixtures("init_integration")
async def test_tool_confirmation_refused_when_the_price_went_up(
    hass: HomeAssistant, demo_backend: DemoBackend, admin: Context, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same holds for the LLM tool."""
    quote = await tool(hass, admin, {"line": "Europe eSIM"}, KITCHEN)
    assert quote["price"] == "12.00 USD"
    set_price(monkeypatch, "eu-5gb-15d", "15.00")
    done = await tool(hass, admin, {"line": "Europe eSIM", "confirm": True}, KITCHEN)
    assert done["success"] is False
    assert "quoted at 12.00 USD but now costs 15.00 USD" in done["error"]
    assert demo_backend.ledger == []


@pytest.mark.usefixtures("init_integration", "agent")
async def test_voice_quote_is_confirmed_by_the_same_user_on_the_same_satellite(
    hass: HomeAssistant, demo_backend: DemoBackend, admin: Context, other_admin: Context
) -> None:
    """Another administrator, or the same one elsewhere, has no renewal waiting."""
    await say(hass, "renew my Europe eSIM", admin, KITCHEN)
    assert NOTHING_WAITING in await say(hass, "confirm the renewal", other_admin, KITCHEN)
    assert NOTHING_WAITING in await say(hass, "confirm the renewal", admin, BEDROOM)
    assert NOTHING_WAITING in await say(hass, "confirm the renewal", admin)
    assert demo_backend.ledger == []
    answer = await say(hass, "confirm the renewal", admin, KITCHEN)
    assert answer == "Done: bought Europe 5 GB, 15 days for 12.00 USD."
    assert len(demo_backend.ledger) == 1


@pytest.mark.usefixtures("init_integration")
async def test_tool_quote_is_confirmed_by_the_same_user_on_the_same_device(
    hass: HomeAssistant, demo_backend: DemoBackend, admin: Context, other_admin: Context
) -> None:
    """The LLM tool binds its quote the same way."""
    await tool(hass, admin, {"line": "Europe eSIM"}, KITCHEN)
    confirm = {"line": "Europe eSIM", "confirm": True}
    for context, device in ((other_admin, KITCHEN), (admin, BEDROOM), (admin, None)):
        done = await tool(hass, context, confirm, device)
        assert done["success"] is False
        assert NOTHING_WAITING in done["error"]
    assert demo_backend.ledger == []
    done = await tool(hass, admin, confirm, KITCHEN)
    assert done["renewed"] is True
    assert len(demo_backend.ledger) == 1


@pytest.mark.usefixtures("agent", "hass_admin_user")
async def test_satellite_without_a_user_cannot_buy_by_default(
    hass: HomeAssistant, demo_backend: DemoBackend
) -> None:
    """Nobody signed in to the satellite: no quote, so nothing to confirm."""
    await setup_entry(hass, demo_entry("europe-esim"))
    answer = await say(hass, "renew my Europe eSIM", Context(), KITCHEN)
    assert answer.startswith("Renewing Europe Esim by voice needs a signed-in user")
    assert NOTHING_WAITING in await say(hass, "confirm the renewal", Context(), KITCHEN)
    assert demo_backend.ledger == []


@pytest.mark.usefixtures("agent", "hass_admin_user")
async def test_satellite_without_a_user_buys_when_the_line_allows_it(
    hass: HomeAssistant, demo_backend: DemoBackend
) -> None:
    """With voice_without_user, the same satellite confirms; another one cannot."""
    await setup_entry(hass, demo_entry("europe-esim", voice_without_user=True))
    assert "12.00 USD" in await say(hass, "renew my Europe eSIM", Context(), KITCHEN)
    assert NOTHING_WAITING in await say(hass, "confirm the renewal", Context(), BEDROOM)
    assert demo_backend.ledger == []
    answer = await say(hass, "confirm the renewal", Context(), KITCHEN)
    assert answer == "Done: bought Europe 5 GB, 15 days for 12.00 USD."
    assert len(demo_backend.ledger) == 1


@pytest.mark.usefixtures("hass_admin_user")
async def test_tool_without_a_user_follows_the_line_setting(
    hass: HomeAssistant, demo_backend: DemoBackend
) -> None:
    """An LLM conversation with nobody signed in is held to the same setting."""
    entry = await setup_entry(hass, demo_entry("europe-esim"))
    quote = await tool(hass, Context(), {"line": "Europe eSIM"}, KITCHEN)
    assert quote["success"] is False
    assert "needs a signed-in user" in quote["error"]
    assert demo_backend.ledger == []

    subentry = next(iter(entry.subentries.values()))
    hass.config_entries.async_update_subentry(
        entry, subentry, data={**subentry.data, "voice_without_user": True}
    )
    await hass.async_block_till_done()
    assert (await tool(hass, Context(), {"line": "Europe eSIM"}, KITCHEN))["success"] is True
    done = await tool(hass, Context(), {"line": "Europe eSIM", "confirm": True}, KITCHEN)
    assert done["renewed"] is True
    assert len(demo_backend.ledger) == 1
