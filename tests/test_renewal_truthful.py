"""Truthful renewal states (issue #13): auto-renew backoff, renewal problem in flight,
expired lines, queued top-ups and the default package, against the carriers' ledgers."""

from __future__ import annotations

import asyncio
from datetime import timedelta
import logging
from pathlib import Path
import shutil
from typing import Any

from freezegun.api import FrozenDateTimeFactory
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_fire_time_changed

from homeassistant.components import conversation, persistent_notification
from homeassistant.const import STATE_OFF, STATE_ON
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import ServiceValidationError
from homeassistant.helpers import issue_registry as ir
from homeassistant.setup import async_setup_component

from custom_components.prepaid_sim.const import DOMAIN
from custom_components.prepaid_sim.providers.demo import DemoBackend, DemoProvider

from .helpers import (
    admin_context,
    demo_entry,
    device_of,
    line_device,
    line_issue,
    line_state,
    press,
    receipts,
    renew,
    setup_entry,
    subentry_of,
)

pytestmark = pytest.mark.freeze_time("2026-11-26T12:00:00+00:00")


@pytest.fixture(autouse=True)
def renew_buttons_enabled(entity_registry_enabled_by_default: None) -> None:
    """Enable the opt-in Renew buttons (before any setup): a test presses one."""


SENTENCES = Path(__file__).parent.parent / "custom_sentences"


async def tick(hass: HomeAssistant, freezer: FrozenDateTimeFactory, delta: timedelta) -> None:
    """Move the clock and let the timers due by then run (polls, checks)."""
    freezer.tick(delta)
    async_fire_time_changed(hass)
    await hass.async_block_till_done(wait_background_tasks=True)


async def let_tasks_run(turns: int = 50) -> None:
    """Give other tasks turns; the frozen clock would stop a timed sleep from ever ending."""
    for _ in range(turns):
        await asyncio.sleep(0)


def issues_of_kind(issue_registry: ir.IssueRegistry, kind: str) -> list[ir.IssueEntry]:
    """Return our open issues of one kind."""
    return [
        issue
        for (domain, _), issue in issue_registry.issues.items()
        if domain == DOMAIN and issue.translation_key == kind
    ]


# --- item 4: auto-renew backs off after a failure -------------------------------------------


def auto_renew_warnings(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    """Return the warnings auto-renew logged."""
    return [
        record
        for record in caplog.records
        if record.levelno == logging.WARNING and record.getMessage().startswith("Auto-renew of")
    ]


async def test_failed_auto_renew_waits_and_warns_once(
    hass: HomeAssistant,
    demo_backend: DemoBackend,
    freezer: FrozenDateTimeFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A refused auto-renewal is not retried on every refresh (each retry would be an order
    at the carrier): it waits for a settings change or the next day, with one warning."""
    demo_backend.reject_orders_with = "package_unavailable"
    entry = await setup_entry(hass, demo_entry("camera-iot", auto_renew="low_data"))
    assert [r["state"] for r in await receipts(hass)] == ["failed"]
    assert len(auto_renew_warnings(caplog)) == 1

    # Four hours of one-minute refreshes, the line still low: no new attempt, no new warning.
    for _ in range(8):
        await tick(hass, freezer, timedelta(minutes=30))
    assert len(await receipts(hass)) == 1
    assert len(auto_renew_warnings(caplog)) == 1

    # The user changes the line's settings: that is worth one new try at once.
    subentry = entry.subentries[subentry_of(entry, "camera-iot")]
    hass.config_entries.async_update_subentry(
        entry, subentry, data={**subentry.data, "low_data_percent": 15}
    )
    await hass.async_block_till_done(wait_background_tasks=True)
    assert [r["state"] for r in await receipts(hass)] == ["failed", "failed"]
    await tick(hass, freezer, timedelta(minutes=30))
    assert len(await receipts(hass)) == 2
    # Still the same run of failures: still the one warning.
    assert len(auto_renew_warnings(caplog)) == 1
    assert demo_backend.ledger == []

    # The carrier sells the package again; the next local day the line is renewed, once.
    demo_backend.reject_orders_with = None
    await tick(hass, freezer, timedelta(minutes=30))
    assert len(await receipts(hass)) == 2
    await tick(hass, freezer, timedelta(hours=20))
    assert [c.package_id for c in demo_backend.ledger] == ["iot-1gb-30d"]
    assert [r["state"] for r in await receipts(hass)] == ["succeeded", "failed", "failed"]
    await tick(hass, freezer, timedelta(hours=1))
    assert len(demo_backend.ledger) == 1


# --- item 12: no problem while a renewal is in flight ---------------------------------------


async def test_renewal_problem_stays_off_while_a_renewal_is_in_flight(
    hass: HomeAssistant, init_integration: MockConfigEntry, demo_backend: DemoBackend
) -> None:
    """An order at the carrier, or one the carrier is still processing, is a renewal going
    as it should: Renewal problem stays off throughout."""
    problem = "binary_sensor.us_travel_renewal_problem"
    device_id = line_device(hass, init_integration, "us-travel")
    demo_backend.purchase_gate = gate = asyncio.Event()
    purchase = hass.async_create_task(renew(hass, device_id))
    await let_tasks_run()
    assert not purchase.done()
    # The journal already holds the renewal (written before sending), and the entity
    # has been told of it.
    (receipt,) = await receipts(hass)
    assert receipt["state"] == "sending"
    assert hass.states.get(problem).state == STATE_OFF
    gate.set()
    assert (await purchase)["state"] == "succeeded"
    await hass.async_block_till_done()
    assert hass.states.get(problem).state == STATE_OFF

    # Accepted but still processing: pending, followed up, and still no problem.
    demo_backend.purchase_gate = None
    demo_backend.orders_processing = True
    order = await renew(hass, line_device(hass, init_integration, "camera-iot"))
    await hass.async_block_till_done()
    assert order["state"] == "pending"
    assert hass.states.get("binary_sensor.camera_iot_renewal_problem").state == STATE_OFF


# --- item 13: an expired line the provider will not renew -----------------------------------


@pytest.fixture
async def voice(hass: HomeAssistant, tmp_path: Path, hass_admin_user: Any) -> None:
    """Load the shipped custom sentences and the default conversation agent."""
    hass.config.config_dir = str(tmp_path)
    shutil.copytree(SENTENCES, tmp_path / "custom_sentences")
    for component in ("homeassistant", "conversation", "intent"):
        assert await async_setup_component(hass, component, {})
    await hass.async_block_till_done()


async def say(hass: HomeAssistant, text: str) -> str:
    """Say a sentence to the default agent as the administrator; return the answer."""
    result = await conversation.async_converse(
        hass, text, None, await admin_context(hass), language="en"
    )
    return str(result.response.speech["plain"]["speech"])


@pytest.mark.usefixtures("voice")
async def test_expired_line_without_renewal_is_expired_and_offers_nothing(
    hass: HomeAssistant,
    demo_backend: DemoBackend,
    issue_registry: ir.IssueRegistry,
    freezer: FrozenDateTimeFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Past its expiry, on a provider that refuses renewals of expired lines: the line is
    expired (not expiring in 0 days), nothing offers or buys a renewal, and the repair
    says what to do instead."""
    monkeypatch.setattr(DemoProvider, "renews_expired_lines", False)
    assert await async_setup_component(hass, "persistent_notification", {})
    notified: list[str] = []
    persistent_notification.async_register_callback(
        hass, lambda _kind, shown: notified.extend(shown)
    )
    entry = await setup_entry(
        hass, demo_entry("europe-esim", auto_renew="expiring", auto_renew_hours_before_expiry=1)
    )
    expiring = "binary_sensor.europe_esim_expiring_soon"
    assert hass.states.get(expiring).state == STATE_ON

    # Europe eSIM ends three days after the start; the next refresh finds it expired.
    await tick(hass, freezer, timedelta(days=3, hours=1))

    assert line_state(hass, entry, "europe-esim", "status") == "expired"
    assert hass.states.get(expiring).state == STATE_OFF
    assert not issue_registry.async_get_issue(
        DOMAIN, line_issue(entry, "line_expiring", "europe-esim")
    )
    assert not issue_registry.async_get_issue(
        DOMAIN, line_issue(entry, "line_expired", "europe-esim")
    )
    issue = issue_registry.async_get_issue(
        DOMAIN, line_issue(entry, "line_expired_no_renewal", "europe-esim")
    )
    assert issue is not None
    # Nothing to fix with a renewal: the repair only explains.
    assert not issue.is_fixable

    device_id = device_of(hass, entry, "europe-esim")
    for fields in ({}, {"dry_run": True}, {"allow_repeat": True, "package": "eu-1gb-7d"}):
        with pytest.raises(ServiceValidationError) as err:
            await renew(hass, device_id, **fields)
        assert err.value.translation_key == "line_expired_no_renewal"
        assert "Buy a new plan or eSIM from the provider" in str(err.value)
    with pytest.raises(ServiceValidationError) as err:
        await press(hass, "button.europe_esim_renew")
    assert err.value.translation_key == "line_expired_no_renewal"

    answer = await say(hass, "how much data is left on my Europe eSIM")
    assert answer == "Europe Esim expired on 2026-11-29."
    answer = await say(hass, "renew my Europe eSIM")
    assert "does not renew expired lines" in answer
    assert "USD" not in answer
    assert "no renewal waiting" in await say(hass, "confirm the renewal")

    # Auto-renew (due in the last hour before expiry) leaves it alone too, refresh after
    # refresh: not one attempt is journaled, nothing is charged.
    for _ in range(3):
        await tick(hass, freezer, timedelta(minutes=30))
    assert await receipts(hass) == []
    assert demo_backend.ledger == []
    assert not [
        notification_id
        for notification_id in notified
        if notification_id.startswith(f"{DOMAIN}_auto_renew_")
    ]


# --- item 15: the default package is the current plan ---------------------------------------


async def test_default_package_is_the_current_plan_not_the_cheapest(
    hass: HomeAssistant, demo_backend: DemoBackend
) -> None:
    """US Travel runs on 10 GB for 30 days; 1 GB for 7 days is cheaper. A renewal that names
    no package buys the plan the line is on, and every surface says so beforehand."""
    entry = await setup_entry(hass, demo_entry("us-travel"))
    await hass.async_block_till_done(wait_background_tasks=True)
    device_id = line_device(hass, entry, "us-travel")
    assert hass.states.get("select.us_travel_renewal_package").state == "US 10 GB, 30 days"
    listing = await hass.services.async_call(
        DOMAIN, "list_packages", {"device_id": device_id}, blocking=True, return_response=True
    )
    assert isinstance(listing, dict)
    packages = listing["packages"]
    assert min(packages, key=lambda p: p["price"])["id"] == "us-1gb-7d"
    assert [p["id"] for p in packages if p["default"]] == ["us-10gb-30d"]
    quote = await renew(hass, device_id, dry_run=True)
    assert (quote["package"]["id"], quote["price"]) == ("us-10gb-30d", 20.0)

    await renew(hass, device_id)
    assert [(c.package_id, str(c.amount.amount)) for c in demo_backend.ledger] == [
        ("us-10gb-30d", "20.00")
    ]
