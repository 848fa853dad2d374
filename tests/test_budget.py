"""An account's monthly budget (issue #17.6): set in its options, enforced on every renewal."""

from __future__ import annotations

from typing import Any

import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.typing import WebSocketGenerator

from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.exceptions import ServiceValidationError

from custom_components.prepaid_sim.providers.demo import DemoBackend

from .helpers import (
    add_manual_account,
    demo_entry,
    line_device,
    notifications,
    receipts,
    renew,
    setup_entry,
    subentry_of,
)

pytestmark = pytest.mark.freeze_time("2026-11-26T12:00:00+00:00")

SPENT = "sensor.spent_this_month_on_demo_account"


async def set_budget(hass: HomeAssistant, entry: MockConfigEntry, **fields: Any) -> dict[str, Any]:
    """Save the account's options through its options flow; return the flow's last step."""
    result = await hass.config_entries.options.async_init(entry.entry_id)
    assert (result["type"], result["step_id"]) == (FlowResultType.FORM, "init")
    result = await hass.config_entries.options.async_configure(result["flow_id"], fields)
    await hass.async_block_till_done()
    return dict(result)


def suggested(result: dict[str, Any]) -> dict[str, Any]:
    """Return the values a form suggests, by field."""
    return {
        str(key): key.description["suggested_value"]
        for key in result["data_schema"].schema
        if key.description and "suggested_value" in key.description
    }


async def budget_entry(hass: HomeAssistant, *lines: str, **options: Any) -> MockConfigEntry:
    """Set up the demo account with ``options`` saved before it loads."""
    entry = demo_entry(*lines)
    entry.add_to_hass(hass)
    hass.config_entries.async_update_entry(entry, options=options)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    return entry


async def test_options_set_and_clear_the_budget_without_a_reload(
    hass: HomeAssistant, demo_backend: DemoBackend
) -> None:
    """The budget applies at once; the account keeps running (no reload)."""
    entry = await setup_entry(hass, demo_entry("us-travel", "europe-esim"))
    loaded = entry.runtime_data
    state = hass.states.get(SPENT)
    assert state is not None
    assert "budget" not in state.attributes

    result = await hass.config_entries.options.async_init(entry.entry_id)
    # The currency is the account's (its wallet's).
    assert suggested(dict(result)) == {"budget_currency": "USD"}
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {"monthly_budget": 30}
    )
    await hass.async_block_till_done()
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert entry.options == {"monthly_budget": 30, "budget_currency": "USD"}
    assert entry.state is ConfigEntryState.LOADED
    assert entry.runtime_data is loaded
    state = hass.states.get(SPENT)
    assert state is not None
    assert (state.attributes["budget"], state.attributes["budget_left"]) == (30.0, 30.0)
    assert "budget_currency" not in state.attributes

    await renew(hass, line_device(hass, entry, "us-travel"))
    await hass.async_block_till_done()
    state = hass.states.get(SPENT)
    assert state is not None
    assert (state.state, state.attributes["budget_left"]) == ("20.00", 10.0)

    # The form shows the budget saved; emptied, there is no budget any more.
    result = await hass.config_entries.options.async_init(entry.entry_id)
    assert suggested(dict(result)) == {"monthly_budget": 30, "budget_currency": "USD"}
    result = await hass.config_entries.options.async_configure(result["flow_id"], {})
    await hass.async_block_till_done()
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert entry.options == {}
    assert entry.runtime_data is loaded
    state = hass.states.get(SPENT)
    assert state is not None
    assert "budget" not in state.attributes
    assert "budget_left" not in state.attributes


async def test_bad_input_is_a_form_error(hass: HomeAssistant, demo_backend: DemoBackend) -> None:
    """A negative budget or a currency that is not a code is refused on the form."""
    entry = await setup_entry(hass, demo_entry("us-travel"))
    result = await set_budget(hass, entry, monthly_budget=-5)
    assert (result["type"], result["errors"]) == (
        FlowResultType.FORM,
        {"monthly_budget": "budget_negative"},
    )
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {"monthly_budget": 5, "budget_currency": "dollars"}
    )
    assert (result["type"], result["errors"]) == (
        FlowResultType.FORM,
        {"budget_currency": "invalid_currency"},
    )
    assert entry.options == {}
    # Corrected on the same form: saved, the code in capitals.
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {"monthly_budget": 0, "budget_currency": " eur "}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert entry.options == {"monthly_budget": 0, "budget_currency": "EUR"}


async def test_the_currency_of_an_account_without_a_wallet(
    hass: HomeAssistant, demo_backend: DemoBackend
) -> None:
    """A hand-kept account has no wallet: its lines name the currency, loaded or not."""
    entry = await add_manual_account(hass)
    for state in (ConfigEntryState.LOADED, ConfigEntryState.NOT_LOADED):
        if state is ConfigEntryState.NOT_LOADED:
            assert await hass.config_entries.async_unload(entry.entry_id)
        assert entry.state is state
        result = await hass.config_entries.options.async_init(entry.entry_id)
        assert suggested(dict(result)) == {"budget_currency": "USD"}
        hass.config_entries.options.async_abort(result["flow_id"])


async def test_a_budget_needs_a_currency(hass: HomeAssistant, demo_backend: DemoBackend) -> None:
    """Before the account ever loaded its currency is unknown: the form asks for it."""
    entry = demo_entry("us-travel")
    entry.add_to_hass(hass)
    result = await hass.config_entries.options.async_init(entry.entry_id)
    assert suggested(dict(result)) == {}
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {"monthly_budget": 10}
    )
    assert result["errors"] == {"budget_currency": "invalid_currency"}
    assert entry.options == {}


async def test_renewal_over_the_budget_is_refused_before_any_order(
    hass: HomeAssistant, demo_backend: DemoBackend
) -> None:
    """All the account's lines count together; the one that would pass it is refused."""
    entry = await setup_entry(hass, demo_entry("us-travel", "europe-esim"))
    await set_budget(hass, entry, monthly_budget=25)
    # Under the budget: 20 of 25.
    assert (await renew(hass, line_device(hass, entry, "us-travel")))["state"] == "succeeded"
    europe = line_device(hass, entry, "europe-esim")
    # A dry run is refused the same way.
    for dry_run in (True, False):
        with pytest.raises(ServiceValidationError) as err:
            await renew(hass, europe, dry_run=dry_run)
        assert err.value.translation_key == "monthly_budget_reached"
        assert str(err.value) == (
            "Renewing Europe Esim for 12.00 USD would pass the monthly budget of Demo account,"
            " 25.00 USD (20.00 USD spent this month by its lines)"
        )
    # Nothing was ordered or journalled for it.
    assert [charge.package_id for charge in demo_backend.ledger] == ["us-10gb-30d"]
    assert [receipt["line_name"] for receipt in await receipts(hass)] == ["Us Travel"]
    # A package that fits what is left passes.
    order = await renew(hass, europe, package="eu-1gb-7d")
    assert (order["state"], order["price"]) == ("succeeded", 4.5)
    assert len(demo_backend.ledger) == 2


async def test_an_unsettled_renewal_takes_its_share(
    hass: HomeAssistant, demo_backend: DemoBackend
) -> None:
    """A renewal whose charge is not settled yet may have charged: it counts."""
    entry = await budget_entry(
        hass, "us-travel", "europe-esim", monthly_budget=25, budget_currency="USD"
    )
    demo_backend.orders_processing = True
    assert (await renew(hass, line_device(hass, entry, "us-travel")))["state"] == "pending"
    with pytest.raises(ServiceValidationError) as err:
        await renew(hass, line_device(hass, entry, "europe-esim"))
    assert err.value.translation_placeholders["spent"] == "20.00 USD"
    assert len(demo_backend.ledger) == 1
    state = hass.states.get(SPENT)
    assert state is not None
    # Not paid yet, so not spent; but it already holds its share of the budget.
    assert (state.state, state.attributes["budget_left"]) == ("0", 5.0)


async def test_only_the_budgets_currency_counts(
    hass: HomeAssistant, demo_backend: DemoBackend
) -> None:
    """A budget in euros does not hold renewals priced in dollars."""
    entry = await budget_entry(hass, "us-travel", monthly_budget=1, budget_currency="EUR")
    assert (await renew(hass, line_device(hass, entry, "us-travel")))["state"] == "succeeded"
    state = hass.states.get(SPENT)
    assert state is not None
    assert state.attributes["budget"] == 1.0
    assert state.attributes["budget_left"] == 1.0
    assert state.attributes["budget_currency"] == "EUR"


async def test_auto_renew_keeps_to_the_budget(
    hass: HomeAssistant, hass_ws_client: WebSocketGenerator, demo_backend: DemoBackend
) -> None:
    """Auto-renew goes through the same check: refused, told, nothing charged."""
    entry = demo_entry("camera-iot", auto_renew="low_data")
    entry.add_to_hass(hass)
    hass.config_entries.async_update_entry(
        entry, options={"monthly_budget": 3, "budget_currency": "USD"}
    )
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    assert demo_backend.ledger == []
    notification = (await notifications(hass, hass_ws_client))[
        f"prepaid_sim_auto_renew_{subentry_of(entry, 'camera-iot')}"
    ]
    assert notification["title"] == "Camera Iot was not auto-renewed"
    assert "would pass the monthly budget of Demo account, 3.00 USD" in notification["message"]
