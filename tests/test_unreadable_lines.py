"""Lines the provider answers for with impossible values, and SIMs that are off, in Home
Assistant: only that line is unavailable, logged once when it starts and once when it ends.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
import logging

import pytest

from homeassistant.config_entries import ConfigEntry
from homeassistant.const import STATE_UNAVAILABLE
from homeassistant.core import HomeAssistant

from custom_components.prepaid_sim.const import CONF_LINE_ID

from .emulators import esimaccess, esimgo, onence
from .emulators.server import EmulatorServer, ImplausibleValue
from .helpers import (
    ONENCE_CREDENTIALS,
    add_esimaccess_account,
    add_esimgo_account,
    add_line,
    add_oauth_account,
    line_state,
)

INTEGRATION_LOGGER = "custom_components.prepaid_sim"
ONE_DAY = timedelta(days=1)


@dataclass(frozen=True, slots=True, kw_only=True)
class Account:
    """An emulated account in Home Assistant with a healthy and a faulty line."""

    entry: ConfigEntry
    healthy: str
    faulty: str
    serve_implausible: Callable[[ImplausibleValue], None]
    recover: Callable[[], None]


async def _esimaccess(hass: HomeAssistant, emu: EmulatorServer) -> Account:
    assert isinstance(emu, esimaccess.EsimAccessEmulator)
    healthy, faulty = emu.add_esim(), emu.add_esim()
    entry = await add_esimaccess_account(hass, emu, healthy.esim_tran_no)
    await add_line(hass, entry, faulty.esim_tran_no)
    return Account(
        entry=entry,
        healthy=healthy.esim_tran_no,
        faulty=faulty.esim_tran_no,
        serve_implausible=lambda value: emu.serve_implausible(faulty.esim_tran_no, value),
        recover=faulty.overrides.clear,
    )


async def _esimgo(hass: HomeAssistant, emu: EmulatorServer) -> Account:
    assert isinstance(emu, esimgo.EsimGoEmulator)
    healthy, faulty = emu.add_esim(), emu.add_esim()
    entry = await add_esimgo_account(hass, emu, healthy)
    await add_line(hass, entry, faulty)
    return Account(
        entry=entry,
        healthy=healthy,
        faulty=faulty,
        serve_implausible=lambda value: emu.serve_implausible(faulty, value),
        recover=emu.esims[faulty].assignments[-1].overrides.clear,
    )


async def _onence(hass: HomeAssistant, emu: EmulatorServer) -> Account:
    assert isinstance(emu, onence.OnenceEmulator)
    healthy, faulty = emu.add_sim(), emu.add_sim()
    entry = await add_oauth_account(hass, "onence", emu.base_url, ONENCE_CREDENTIALS, healthy.iccid)
    await add_line(hass, entry, faulty.iccid)
    return Account(
        entry=entry,
        healthy=healthy.iccid,
        faulty=faulty.iccid,
        serve_implausible=lambda value: emu.serve_implausible(faulty.iccid, value),
        recover=faulty.quota_overrides.clear,
    )


_EMULATORS: dict[str, tuple[Callable[[], EmulatorServer], Callable[..., Awaitable[Account]]]] = {
    "esimaccess": (esimaccess.EsimAccessEmulator, _esimaccess),
    "esimgo": (lambda: esimgo.EsimGoEmulator(rate_limit=1000), _esimgo),
    "onence": (onence.OnenceEmulator, _onence),
}


@pytest.fixture(params=list(_EMULATORS))
async def account(
    request: pytest.FixtureRequest, hass: HomeAssistant, socket_enabled: None
) -> AsyncGenerator[Account]:
    """Run a provider's emulator and add its account with two lines."""
    make, add = _EMULATORS[request.param]
    async with make() as emulator:
        yield await add(hass, emulator)


def _title(entry: ConfigEntry, line_id: str) -> str:
    """Return the title of the line's subentry, as the log names it."""
    return next(
        sub.title for sub in entry.subentries.values() if sub.data.get(CONF_LINE_ID) == line_id
    )


@pytest.mark.parametrize("value", ["negative_size", "far_date", "wrong_type"])
async def test_implausible_line_is_unavailable_and_logged_once(
    hass: HomeAssistant,
    account: Account,
    value: ImplausibleValue,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Several refreshes of an unreadable line: one warning; its recovery: one info."""
    coordinator = account.entry.runtime_data.coordinator
    title = _title(account.entry, account.faulty)
    caplog.set_level(logging.INFO)
    caplog.clear()
    account.serve_implausible(value)
    for _ in range(3):
        await coordinator.async_refresh()
        await hass.async_block_till_done()
        assert line_state(hass, account.entry, account.faulty, "status") == STATE_UNAVAILABLE
        assert line_state(hass, account.entry, account.healthy, "status") == "active"
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1, [r.getMessage() for r in warnings]
    assert warnings[0].name.startswith(INTEGRATION_LOGGER)
    assert title in warnings[0].getMessage()
    assert "cannot be understood" in warnings[0].getMessage()
    # It says what was wrong, as the provider client found it.
    assert "no reason given" not in warnings[0].getMessage()

    caplog.clear()
    account.recover()
    for _ in range(2):
        await coordinator.async_refresh()
        await hass.async_block_till_done()
    assert line_state(hass, account.entry, account.faulty, "status") == "active"
    recovered = [r.getMessage() for r in caplog.records if "can be read again" in r.getMessage()]
    assert recovered == [f"{account.entry.title}: line {title} can be read again"]
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


@pytest.fixture
async def onence_emulator(socket_enabled: None) -> AsyncGenerator[onence.OnenceEmulator]:
    """Run a 1NCE emulator."""
    async with onence.OnenceEmulator() as emulator:
        yield emulator


async def test_disabled_onence_sims_show_why(
    hass: HomeAssistant, onence_emulator: onence.OnenceEmulator
) -> None:
    """A Disabled 1NCE SIM reads expired, not activated or suspended, as the case is."""
    switched_off = onence_emulator.add_sim(status="Disabled")
    never_activated = onence_emulator.add_sim(status="Disabled", activated=False)
    lifetime_over = onence_emulator.add_sim(status="Disabled", expires_in=-ONE_DAY)
    entry = await add_oauth_account(
        hass, "onence", onence_emulator.base_url, ONENCE_CREDENTIALS, switched_off.iccid
    )
    await add_line(hass, entry, never_activated.iccid)
    await add_line(hass, entry, lifetime_over.iccid)
    assert line_state(hass, entry, switched_off.iccid, "status") == "suspended"
    assert line_state(hass, entry, never_activated.iccid, "status") == "not_active"
    assert line_state(hass, entry, lifetime_over.iccid, "status") == "expired"
