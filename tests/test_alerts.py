"""Alerts when the provider leaves facts out, and as lines run dry or expire."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from freezegun.api import FrozenDateTimeFactory
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_fire_time_changed

from homeassistant.const import STATE_OFF, STATE_ON, STATE_UNKNOWN
from homeassistant.core import HomeAssistant
from homeassistant.helpers import issue_registry as ir

from custom_components.prepaid_sim.alerts import days_left
from custom_components.prepaid_sim.const import DOMAIN
from custom_components.prepaid_sim.providers.base import Line, LineStatus

from .helpers import demo_entry, line_device, line_issue, renew, report, setup_entry

pytestmark = pytest.mark.freeze_time("2026-11-26T12:00:00+00:00")


@pytest.mark.usefixtures("demo_backend")
async def test_allowance_not_reported(hass: HomeAssistant) -> None:
    """Without the allowance a percentage cannot be judged; a MiB threshold still can."""
    entry = await setup_entry(hass, demo_entry("camera-iot"))
    report(entry, "camera-iot", data_total_bytes=None)
    await hass.async_block_till_done()
    assert hass.states.get("binary_sensor.camera_iot_low_data").state == STATE_UNKNOWN

    subentry = next(iter(entry.subentries.values()))
    hass.config_entries.async_update_subentry(
        entry, subentry, data={**subentry.data, "low_data_mb": 100}
    )
    await hass.async_block_till_done()
    # 94 MiB left is below 100 MiB.
    assert hass.states.get("binary_sensor.camera_iot_low_data").state == STATE_ON


@pytest.mark.usefixtures("demo_backend")
async def test_remaining_data_not_reported(hass: HomeAssistant) -> None:
    """Without the remaining data no threshold can be judged: unknown, not a false alarm."""
    entry = await setup_entry(hass, demo_entry("camera-iot", low_data_mb=100))
    assert hass.states.get("binary_sensor.camera_iot_low_data").state == STATE_ON
    report(entry, "camera-iot", data_remaining_bytes=None)
    await hass.async_block_till_done()
    assert hass.states.get("binary_sensor.camera_iot_low_data").state == STATE_UNKNOWN


@pytest.mark.usefixtures("demo_backend")
async def test_expiry_not_reported(hass: HomeAssistant, issue_registry: ir.IssueRegistry) -> None:
    """Without an expiry the line is not called expiring and its renewal repair goes away."""
    entry = await setup_entry(hass, demo_entry("europe-esim"))
    issue_id = line_issue(entry, "line_expiring", "europe-esim")
    assert issue_registry.async_get_issue(DOMAIN, issue_id) is not None
    report(entry, "europe-esim", expires_at=None)
    await hass.async_block_till_done()
    assert hass.states.get("binary_sensor.europe_esim_expiring_soon").state == STATE_UNKNOWN
    assert hass.states.get("sensor.europe_esim_plan_expiry").state == STATE_UNKNOWN
    assert issue_registry.async_get_issue(DOMAIN, issue_id) is None


async def test_line_runs_dry_then_expires(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    issue_registry: ir.IssueRegistry,
    freezer: FrozenDateTimeFactory,
) -> None:
    """A line that used its allowance is depleted; past its expiry it is expired, 0 days left."""
    # Camera IoT has 94 MiB left at 4 MiB an hour: gone within a day.
    freezer.tick(timedelta(hours=24))
    async_fire_time_changed(hass)
    await hass.async_block_till_done()
    assert hass.states.get("sensor.camera_iot_status").state == "depleted"
    assert float(hass.states.get("sensor.camera_iot_data_remaining").state) == 0
    assert hass.states.get("binary_sensor.camera_iot_low_data").state == STATE_ON

    # Europe eSIM expired on its third day.
    freezer.tick(timedelta(days=2))
    async_fire_time_changed(hass)
    await hass.async_block_till_done()
    assert hass.states.get("sensor.europe_esim_status").state == "expired"
    # Expired is not "expiring in 0 days": the expiring alarm and issue give way to an
    # expired issue that offers the renewal (the demo provider renews expired lines).
    assert hass.states.get("binary_sensor.europe_esim_expiring_soon").state == STATE_OFF
    assert not issue_registry.async_get_issue(
        DOMAIN, line_issue(init_integration, "line_expiring", "europe-esim")
    )
    issue = issue_registry.async_get_issue(
        DOMAIN, line_issue(init_integration, "line_expired", "europe-esim")
    )
    assert issue is not None
    assert issue.is_fixable
    assert issue.translation_placeholders["date"] == "2026-11-29"


def test_days_left() -> None:
    """Days left round as the frontend shows them; none without an expiry, never negative."""
    now = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)

    def expiring(delta: timedelta | None) -> Line:
        return Line(
            line_id="l1",
            name="Line",
            status=LineStatus.ACTIVE,
            expires_at=None if delta is None else now + delta,
        )

    assert days_left(expiring(None), now) is None
    assert days_left(expiring(timedelta(days=2, hours=13)), now) == 3
    assert days_left(expiring(timedelta(days=2, hours=11)), now) == 2
    assert days_left(expiring(-timedelta(days=4)), now) == 0


@pytest.mark.usefixtures("entity_registry_enabled_by_default")
async def test_last_renewal_sensor(hass: HomeAssistant, init_integration: MockConfigEntry) -> None:
    """The last renewal shows nothing before any renewal, then the receipt's details."""
    state = hass.states.get("sensor.us_travel_last_renewal")
    assert state.state == STATE_UNKNOWN
    assert "package" not in state.attributes
    order = await renew(hass, line_device(hass, init_integration, "us-travel"))
    await hass.async_block_till_done()
    state = hass.states.get("sensor.us_travel_last_renewal")
    assert state.state == "2026-11-26T12:00:00+00:00"
    assert {key: state.attributes[key] for key in ("package", "price", "outcome", "order_id")} == {
        "package": "US 10 GB, 30 days",
        "price": 20.0,
        "outcome": "succeeded",
        "order_id": order["order_id"],
    }
    assert hass.states.get("binary_sensor.us_travel_renewal_problem").state == STATE_OFF
