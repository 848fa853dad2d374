"""Which entities a change reaches: unchanged lines are skipped, nothing else is missed."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from decimal import Decimal

from freezegun.api import FrozenDateTimeFactory
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_fire_time_changed

from homeassistant.config_entries import SOURCE_RECONFIGURE, ConfigSubentry
from homeassistant.const import STATE_OFF, STATE_ON
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import issue_registry as ir
from homeassistant.util import dt as dt_util

from custom_components.prepaid_sim.binary_sensor import BINARY_SENSORS
from custom_components.prepaid_sim.const import DOMAIN
from custom_components.prepaid_sim.coordinator import LineContext
from custom_components.prepaid_sim.providers.base import (
    LINE_USAGE_FIELDS,
    Line,
    LineStatus,
    line_ref,
)
from custom_components.prepaid_sim.providers.demo import DemoBackend, PurchaseFault
from custom_components.prepaid_sim.sensor import SENSORS

from .helpers import line_device, line_issue, renew

pytestmark = pytest.mark.freeze_time("2026-11-26T12:00:00+00:00")


def _stop_using(backend: DemoBackend, *line_ids: str) -> None:
    """Freeze the usage of the given lines where it is now."""
    now = backend.clock()
    for line_id in line_ids:
        line = backend.lines[line_id]
        backend.lines[line_id] = replace(
            line, used_at_anchor=line.used_bytes(now), anchor=now, bytes_per_hour=0
        )


async def _poll(hass: HomeAssistant, freezer: FrozenDateTimeFactory) -> None:
    """Let the next scheduled refresh run."""
    freezer.tick(timedelta(minutes=31))
    async_fire_time_changed(hass)
    await hass.async_block_till_done()


async def _go_idle(
    hass: HomeAssistant, backend: DemoBackend, freezer: FrozenDateTimeFactory
) -> None:
    """Stop every line's usage and let a refresh read that."""
    _stop_using(backend, "us-travel", "camera-iot", "europe-esim")
    await _poll(hass, freezer)


async def test_unchanged_lines_keep_their_objects(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    demo_backend: DemoBackend,
    freezer: FrozenDateTimeFactory,
) -> None:
    """A refresh carries unchanged lines over as the same objects; changed ones move."""
    _stop_using(demo_backend, "camera-iot", "europe-esim")
    coordinator = init_integration.runtime_data.coordinator
    await _poll(hass, freezer)
    before = coordinator.data
    used_before = hass.states.get("sensor.us_travel_data_used").state
    iot_before = hass.states.get("sensor.camera_iot_data_used")

    await _poll(hass, freezer)

    after = coordinator.data
    assert after is not before
    assert after.lines["camera-iot"] is before.lines["camera-iot"]
    assert after.lines["europe-esim"] is before.lines["europe-esim"]
    assert after.lines["us-travel"] is not before.lines["us-travel"]
    assert after.wallet is before.wallet
    assert hass.states.get("sensor.us_travel_data_used").state != used_before
    # The unchanged line's state was not even rewritten.
    assert hass.states.get("sensor.camera_iot_data_used").last_reported == (
        iot_before.last_reported
    )


async def test_wallet_change_reaches_every_line(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    demo_backend: DemoBackend,
    freezer: FrozenDateTimeFactory,
) -> None:
    """A new balance shows on every line, although no line changed."""
    await _go_idle(hass, demo_backend, freezer)
    lines = init_integration.runtime_data.coordinator.data.lines

    demo_backend.wallet = Decimal("12.34")
    await _poll(hass, freezer)

    assert init_integration.runtime_data.coordinator.data.lines == lines
    for line in ("us_travel", "camera_iot", "europe_esim"):
        assert hass.states.get(f"sensor.{line}_balance").state == "12.34"


async def test_settings_change_without_new_data(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    demo_backend: DemoBackend,
    freezer: FrozenDateTimeFactory,
) -> None:
    """New settings reach the line's entities with no refresh and no new reading."""
    await _go_idle(hass, demo_backend, freezer)
    assert hass.states.get("binary_sensor.us_travel_low_data").state == STATE_OFF
    subentry = subentry_for(init_integration, "us-travel")

    hass.config_entries.async_update_subentry(
        init_integration, subentry, data={**subentry.data, "low_data_mb": 8 * 1024}
    )
    await hass.async_block_till_done()

    assert hass.states.get("binary_sensor.us_travel_low_data").state == STATE_ON


async def test_settings_change_reaches_repairs(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    demo_backend: DemoBackend,
    freezer: FrozenDateTimeFactory,
    issue_registry: ir.IssueRegistry,
) -> None:
    """The repair checks run again for new settings, though the data did not change."""
    await _go_idle(hass, demo_backend, freezer)
    issue_id = line_issue(init_integration, "line_expiring", "us-travel")
    assert issue_registry.async_get_issue(DOMAIN, issue_id) is None
    subentry = subentry_for(init_integration, "us-travel")

    # US Travel runs for 24 more days.
    hass.config_entries.async_update_subentry(
        init_integration, subentry, data={**subentry.data, "expiry_warning_days": 30}
    )
    await hass.async_block_till_done()

    assert issue_registry.async_get_issue(DOMAIN, issue_id) is not None


async def test_pending_renewal_shows_at_once(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    demo_backend: DemoBackend,
) -> None:
    """A renewal whose answer was lost shows as a problem as soon as it is journaled.

    An order the provider is still processing is a normal renewal in flight: no problem.
    """
    demo_backend.orders_processing = True
    assert hass.states.get("binary_sensor.us_travel_renewal_problem").state == STATE_OFF
    await renew(hass, line_device(hass, init_integration, "us-travel"))
    await hass.async_block_till_done()
    assert hass.states.get("binary_sensor.us_travel_renewal_problem").state == STATE_OFF

    demo_backend.orders_processing = False
    demo_backend.next_purchase_fault = PurchaseFault.LOSE_RESPONSE_AFTER_COMMIT
    demo_backend.order_history_unavailable = True
    with pytest.raises(HomeAssistantError, match="answer was lost"):
        await renew(hass, line_device(hass, init_integration, "camera-iot"))
    await hass.async_block_till_done()
    assert hass.states.get("binary_sensor.camera_iot_renewal_problem").state == STATE_ON


async def test_entities_that_ignore_usage_do_not_read_it(
    hass: HomeAssistant, init_integration: MockConfigEntry
) -> None:
    """What a usage-only change skips really does not depend on the usage figures.

    Each description marked ``ignores_usage`` gives the same value for two readings of a
    line that differ in every usage field and nothing else.
    """
    data = init_integration.runtime_data
    renewals = data.renewals
    before = data.coordinator.data.lines["camera-iot"]
    changes = {
        "data_used_bytes": (before.data_used_bytes or 0) + 50 * 1024**2,
        "data_remaining_bytes": 0,
        "usage_updated_at": dt_util.utcnow() + timedelta(hours=1),
    }
    assert set(changes) == LINE_USAGE_FIELDS
    after = replace(before, **changes)
    assert after.differs_only_in_usage(before)
    assert not replace(after, status=LineStatus.DEPLETED).differs_only_in_usage(before)

    checked = 0
    for sensor in SENSORS:
        if sensor.ignores_usage:
            for fn in (sensor.value_fn, sensor.unit_fn, sensor.attrs_fn):
                if fn is not None:
                    assert fn(after, data) == fn(before, data), sensor.key
            checked += 1
    for binary in BINARY_SENSORS:
        if binary.ignores_usage:
            settings = data.settings.of("camera-iot")
            assert binary.is_on_fn(after, settings, renewals) == binary.is_on_fn(
                before, settings, renewals
            ), binary.key
            if binary.changes_at_fn is not None:
                assert binary.changes_at_fn(after, settings) == binary.changes_at_fn(
                    before, settings
                )
            checked += 1
    # Some do read it: the low-data alarm and the data sensors are never skipped.
    assert {d.key for d in (*SENSORS, *BINARY_SENSORS) if not d.ignores_usage} == {
        "data_remaining",
        "data_used",
        "data_runs_out",
        "suggested_package",
        "low_data",
    }
    assert checked == 8


async def test_a_failing_entity_does_not_stop_the_others(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    demo_backend: DemoBackend,
    freezer: FrozenDateTimeFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """An error in one line listener is logged; the rest of the lines still update."""
    coordinator = init_integration.runtime_data.coordinator

    def broken() -> None:
        raise RuntimeError("broken listener")

    remove = coordinator.async_add_listener(broken, LineContext("us-travel"))
    used_before = hass.states.get("sensor.camera_iot_data_used").state

    await _poll(hass, freezer)

    assert f"Error updating an entity of line {line_ref('us-travel')}" in caplog.text
    assert "us-travel" not in caplog.text
    assert hass.states.get("sensor.camera_iot_data_used").state != used_before
    remove()


async def test_time_alone_raises_and_updates_the_expiry_repair(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    demo_backend: DemoBackend,
    freezer: FrozenDateTimeFactory,
    issue_registry: ir.IssueRegistry,
) -> None:
    """A line whose reading never changes still gets its repair when its warning starts.

    Checks skip lines that did not change, so this proves they run again when time alone
    changes the answer: the warning period starts, and a day of the countdown passes.
    """
    await _go_idle(hass, demo_backend, freezer)
    coordinator = init_integration.runtime_data.coordinator
    reading = coordinator.data.lines["us-travel"]
    issue_id = line_issue(init_integration, "line_expiring", "us-travel")
    assert issue_registry.async_get_issue(DOMAIN, issue_id) is None
    assert reading.expires_at is not None

    # 2.9 days before the end (the warning is 3 days): "3 days"; half a day later, "2".
    for days_before, shown in ((2.9, "3"), (2.4, "2")):
        freezer.move_to(reading.expires_at - timedelta(days=days_before))
        async_fire_time_changed(hass)
        await hass.async_block_till_done()
        # Still the same reading: time alone moved the repair.
        assert coordinator.data.lines["us-travel"] is reading
        issue = issue_registry.async_get_issue(DOMAIN, issue_id)
        assert issue is not None
        assert issue.translation_placeholders["days"] == shown


def subentry_for(entry: MockConfigEntry, line_id: str) -> ConfigSubentry:
    """Return the subentry of a tracked line."""
    return next(s for s in entry.subentries.values() if s.data["line_id"] == line_id)


def _listen_per_line(entry: MockConfigEntry) -> dict[str, int]:
    """Count how often each line's listeners are told, through the coordinator's own API."""
    coordinator = entry.runtime_data.coordinator
    told = dict.fromkeys(("us-travel", "camera-iot", "europe-esim"), 0)
    for line_id in told:

        def count(line_id: str = line_id) -> None:
            told[line_id] += 1

        entry.async_on_unload(coordinator.async_add_listener(count, LineContext(line_id)))
    return told


@pytest.mark.parametrize("through_dialog", [False, True], ids=["update_subentry", "dialog"])
async def test_a_settings_change_tells_only_its_line(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    demo_backend: DemoBackend,
    freezer: FrozenDateTimeFactory,
    through_dialog: bool,
) -> None:
    """Changing one line's settings tells that line's entities, not the other lines'.

    Through the line's settings dialog (which names its line) or any other update of the
    subentry (found by comparing each line's data).
    """
    await _go_idle(hass, demo_backend, freezer)
    told = _listen_per_line(init_integration)
    subentry = subentry_for(init_integration, "us-travel")

    if through_dialog:
        flow = await hass.config_entries.subentries.async_init(
            (init_integration.entry_id, "line"),
            context={"source": SOURCE_RECONFIGURE, "subentry_id": subentry.subentry_id},
        )
        result = await hass.config_entries.subentries.async_configure(
            flow["flow_id"],
            {
                "low_data_percent": 10,
                "low_data_mb": 8 * 1024,
                "expiry_warning_days": 3,
                "auto_renew": "off",
                "auto_renew_max_per_month": 1,
                "auto_renew_hours_before_expiry": 24,
                "voice_without_user": False,
            },
        )
        assert result["reason"] == "reconfigure_successful"
    else:
        hass.config_entries.async_update_subentry(
            init_integration, subentry, data={**subentry.data, "low_data_mb": 8 * 1024}
        )
    await hass.async_block_till_done()

    assert hass.states.get("binary_sensor.us_travel_low_data").state == STATE_ON
    assert told == {"us-travel": 1, "camera-iot": 0, "europe-esim": 0}


async def test_a_receipt_tells_only_its_line(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    demo_backend: DemoBackend,
    freezer: FrozenDateTimeFactory,
) -> None:
    """A renewal's receipt reaches its own line's entities; the other lines are not told."""
    await _go_idle(hass, demo_backend, freezer)
    demo_backend.orders_processing = True  # the receipt stays pending: no refresh follows
    told = _listen_per_line(init_integration)

    await renew(hass, line_device(hass, init_integration, "europe-esim"))
    await hass.async_block_till_done()

    assert told["europe-esim"] >= 1
    assert told["camera-iot"] == told["us-travel"] == 0


async def test_usage_readings_do_not_rewrite_the_account_entities(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    demo_backend: DemoBackend,
    freezer: FrozenDateTimeFactory,
) -> None:
    """Data flowing moves no plan end and no receipt: the calendar and spend stay as written.

    A receipt, though, reaches both at once.
    """
    await _go_idle(hass, demo_backend, freezer)
    calendar = "calendar.expiries_of_demo_account"
    spend = "sensor.spent_this_month_on_demo_account"
    before = {entity_id: hass.states.get(entity_id) for entity_id in (calendar, spend)}
    demo_backend.lines["us-travel"] = replace(
        demo_backend.lines["us-travel"], bytes_per_hour=50 * 1024**2
    )
    await _poll(hass, freezer)
    assert hass.states.get("sensor.us_travel_data_used").last_reported > before[spend].last_reported
    for entity_id, state in before.items():
        assert hass.states.get(entity_id).last_reported == state.last_reported, entity_id

    await renew(hass, line_device(hass, init_integration, "europe-esim"))
    await hass.async_block_till_done()
    assert hass.states.get(spend).state != before[spend].state
    assert hass.states.get(calendar).attributes["message"] == "Europe Esim renewed"


async def test_a_dialog_saved_unchanged_does_not_hide_the_next_change(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    demo_backend: DemoBackend,
    freezer: FrozenDateTimeFactory,
) -> None:
    """A settings dialog saved as it was fires nothing; a later change of another line
    still reaches that line."""
    await _go_idle(hass, demo_backend, freezer)
    told = _listen_per_line(init_integration)
    unchanged = subentry_for(init_integration, "camera-iot")
    init_integration.runtime_data.settings.expect_change("camera-iot")
    assert not hass.config_entries.async_update_subentry(
        init_integration, unchanged, data=dict(unchanged.data)
    )
    subentry = subentry_for(init_integration, "us-travel")
    hass.config_entries.async_update_subentry(
        init_integration, subentry, data={**subentry.data, "low_data_mb": 8 * 1024}
    )
    await hass.async_block_till_done()

    assert hass.states.get("binary_sensor.us_travel_low_data").state == STATE_ON
    assert told == {"us-travel": 1, "camera-iot": 0, "europe-esim": 0}


async def test_usage_keys_move_with_what_their_entities_show(
    hass: HomeAssistant, init_integration: MockConfigEntry
) -> None:
    """An entity skipped while its usage key stays equal would have shown the same value.

    The low-data alert's key moves exactly when the threshold is crossed; the forecast
    entities' key is None while there is no rate (their value is unknown then) and moves
    with the remaining data once there is one.
    """
    data = init_integration.runtime_data
    line = data.coordinator.data.lines["us-travel"]
    total = line.data_total_bytes
    assert total is not None
    low_data = next(d for d in BINARY_SENSORS if d.key == "low_data")
    settings = data.settings.of("us-travel")

    def reading(remaining: int) -> Line:
        return replace(line, data_remaining_bytes=remaining, data_used_bytes=total - remaining)

    plenty, still_plenty, little = reading(total // 2), reading(total // 3), reading(total // 50)
    assert low_data.usage_key_fn is not None
    assert low_data.usage_key_fn(plenty, data) == low_data.usage_key_fn(still_plenty, data)
    assert low_data.is_on_fn(plenty, settings, data.renewals) is False
    assert low_data.is_on_fn(still_plenty, settings, data.renewals) is False
    assert low_data.usage_key_fn(little, data) != low_data.usage_key_fn(plenty, data)
    assert low_data.is_on_fn(little, settings, data.renewals) is True

    forecast = [d for d in SENSORS if d.usage_key_fn is not None]
    assert {d.key for d in forecast} == {"data_runs_out", "suggested_package"}
    history = data.coordinator.history
    assert history.rate("us-travel") is None
    for description in forecast:
        assert description.usage_key_fn is not None
        assert description.usage_key_fn(plenty, data) is None
        assert description.usage_key_fn(little, data) is None
        assert description.value_fn(plenty, data) is None
        assert description.value_fn(little, data) is None
    history.forget([])
    history.add(reading(total // 2), dt_util.utcnow() - timedelta(hours=2))
    history.add(reading(total // 3), dt_util.utcnow())
    for description in forecast:
        assert description.usage_key_fn is not None
        assert description.usage_key_fn(plenty, data) != description.usage_key_fn(little, data)
    runs_out = next(d for d in forecast if d.key == "data_runs_out")
    assert runs_out.value_fn(plenty, data) != runs_out.value_fn(little, data)


async def test_a_usage_move_tells_the_alert_only_when_it_crosses_its_threshold(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    demo_backend: DemoBackend,
    freezer: FrozenDateTimeFactory,
) -> None:
    """Data flowing above the threshold rewrites the data sensors, not the alert; data
    flowing across it turns the alert on at once."""
    await _go_idle(hass, demo_backend, freezer)
    data = init_integration.runtime_data
    coordinator = data.coordinator
    low_data = next(d for d in BINARY_SENSORS if d.key == "low_data")
    key_fn = low_data.usage_key_fn
    assert key_fn is not None
    told: list[bool] = []
    init_integration.async_on_unload(
        coordinator.async_add_listener(
            lambda: told.append(True),
            LineContext("us-travel", usage_key=lambda line: key_fn(line, data)),
        )
    )
    alert = "binary_sensor.us_travel_low_data"
    before = hass.states.get(alert)
    assert before.state == STATE_OFF
    demo = demo_backend.lines["us-travel"]
    assert demo.total_bytes is not None

    async def use(used: int) -> None:
        demo_backend.lines["us-travel"] = replace(
            demo_backend.lines["us-travel"], used_at_anchor=used
        )
        await _poll(hass, freezer)
        assert coordinator.usage_only_lines == {"us-travel"}

    # The first refresh after the entities were added tells them all (a full tell).
    await use(demo.used_at_anchor + 100 * 1024**2)
    assert len(told) == 1
    await use(demo.used_at_anchor + 200 * 1024**2)
    assert len(told) == 1
    assert hass.states.get("sensor.us_travel_data_used").last_reported > before.last_reported
    assert hass.states.get(alert).last_reported == before.last_reported

    await use(demo.total_bytes - 10 * 1024**2)
    assert len(told) == 2
    assert hass.states.get(alert).state == STATE_ON
