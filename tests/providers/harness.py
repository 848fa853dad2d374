"""One way to drive every HTTP provider client against its emulator, for cross-provider tests.

A ``Harness`` holds a running emulator, a client pointed at it, a line on the account and
switches that put a fault on the next request of a kind (an account read, the token, a
purchase), whatever the emulator calls its routes.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
import contextlib
from dataclasses import dataclass
from typing import Final

import aiohttp

from custom_components.prepaid_sim.providers.airalo import AiraloProvider
from custom_components.prepaid_sim.providers.base import Package, Provider
from custom_components.prepaid_sim.providers.esimaccess import EsimAccessProvider
from custom_components.prepaid_sim.providers.esimgo import EsimGoProvider
from custom_components.prepaid_sim.providers.onence import OnenceProvider
from custom_components.prepaid_sim.providers.ratelimit import RateLimiter
from tests.emulators import airalo, esimaccess, esimgo, onence
from tests.emulators.server import EmulatorServer, ImplausibleValue

from .conftest import FakeClock

PROVIDER_KEYS: Final = ("esimaccess", "esimgo", "airalo", "onence")
# Providers whose credentials are swapped for a token first (OAuth client credentials).
TOKEN_PROVIDER_KEYS: Final = ("airalo", "onence")
# A 19-digit ICCID: every client must keep it out of logs and error messages.
LINE_ICCID: Final = "8944500102198304826"

type FaultSwitch = Callable[[str], None]


@dataclass(frozen=True, slots=True, kw_only=True)
class Harness:
    """A running emulator, a client of it and the switches of its faults."""

    key: str
    emulator: EmulatorServer
    provider: Provider
    # Builds another client of the same account, with any base URL.
    make_client: Callable[[str], Provider]
    line_id: str
    iccid: str
    # The path prefix the provider's docs give (users copy the host with or without it).
    api_path: str
    # Every secret the client sends; none may ever reach another server.
    secrets: tuple[str, ...]
    # Put a fault on the first request ``async_get_account`` sends after any token.
    fail_account_read: FaultSwitch
    # Put a fault on the purchase request itself.
    fail_purchase: FaultSwitch
    # Put a fault on the request that reads the line's own data in ``async_fetch``.
    fail_line_read: FaultSwitch
    # Put a fault on the token request (OAuth providers only).
    fail_token: FaultSwitch | None = None
    # Set the answer's Retry-After of the "rate_limit" fault.
    set_retry_after: Callable[[int], None]
    # Add another healthy line to the account; return its line id.
    add_line: Callable[[], str]
    # Make the account report an impossible value for one line, from now on.
    serve_implausible: Callable[[str, ImplausibleValue], None]

    async def package(self) -> Package:
        """Return a package the line can buy."""
        return (await self.provider.async_list_packages(self.line_id))[0]

    def bare_host(self) -> str:
        """Return the emulator's address without any path."""
        return f"http://{self.emulator.host}:{self.emulator.port}"

    def charges(self) -> int:
        """Return how many purchases the emulator charged."""
        ledger: list[object] = getattr(self.emulator, "ledger")  # noqa: B009 - every emulator has one
        return len(ledger)


@contextlib.asynccontextmanager
async def _esimaccess(session: aiohttp.ClientSession, clock: FakeClock) -> AsyncIterator[Harness]:
    """Serve eSIM Access: lines are keyed by esimTranNo, the ICCID is a field."""
    async with esimaccess.EsimAccessEmulator(clock=clock, timeout_delay=2.0) as emu:
        esim = emu.add_esim(iccid=LINE_ICCID)

        def make(url: str) -> Provider:
            return EsimAccessProvider(session, esimaccess.DEFAULT_ACCESS_CODE, base_url=url)

        def set_retry_after(seconds: int) -> None:
            emu.retry_after = seconds

        yield Harness(
            key="esimaccess",
            api_path="/api/v1/open",
            emulator=emu,
            provider=make(emu.base_url),
            make_client=make,
            line_id=esim.esim_tran_no,
            iccid=LINE_ICCID,
            secrets=(esimaccess.DEFAULT_ACCESS_CODE,),
            fail_account_read=lambda mode: emu.fail_next.update({"balance/query": mode}),
            fail_purchase=lambda mode: emu.fail_next.update({"esim/topup": mode}),
            fail_line_read=lambda mode: emu.fail_next.update({"esim/query": mode}),
            set_retry_after=set_retry_after,
            add_line=lambda: emu.add_esim().esim_tran_no,
            serve_implausible=emu.serve_implausible,
        )


@contextlib.asynccontextmanager
async def _esimgo(session: aiohttp.ClientSession, clock: FakeClock) -> AsyncIterator[Harness]:
    """Serve eSIM Go: lines are keyed by ICCID."""
    async with esimgo.EsimGoEmulator(rate_limit=1000, timeout_seconds=1.0) as emu:
        iccid = emu.add_esim(iccid=LINE_ICCID)
        retry = {"seconds": 1}

        def make(url: str) -> Provider:
            return EsimGoProvider(
                session,
                esimgo.DEFAULT_API_KEY,
                base_url=url,
                request_timeout=5.0,
                rate_limiter=RateLimiter(1000),
            )

        def fail(path: str, method: str) -> FaultSwitch:
            return lambda mode: emu.fail_next(
                path, mode, method=method, retry_after=retry["seconds"]
            )

        def set_retry_after(seconds: int) -> None:
            retry["seconds"] = seconds

        yield Harness(
            key="esimgo",
            api_path="/v2.4",
            emulator=emu,
            provider=make(emu.base_url),
            make_client=make,
            line_id=iccid,
            iccid=LINE_ICCID,
            secrets=(esimgo.DEFAULT_API_KEY,),
            fail_account_read=fail("/organisation", "GET"),
            fail_purchase=fail("/orders", "POST"),
            fail_line_read=fail("/esims", "GET"),
            set_retry_after=set_retry_after,
            add_line=emu.add_esim,
            serve_implausible=emu.serve_implausible,
        )


@contextlib.asynccontextmanager
async def _airalo(session: aiohttp.ClientSession, clock: FakeClock) -> AsyncIterator[Harness]:
    """Serve Airalo: OAuth client credentials, lines keyed by ICCID."""
    async with airalo.AiraloEmulator(clock=clock, timeout_delay=2.0, rate_limit=None) as emu:
        sim = emu.add_sim(iccid=LINE_ICCID)

        def make(url: str) -> Provider:
            return AiraloProvider(
                session,
                airalo.DEFAULT_CLIENT_ID,
                airalo.DEFAULT_CLIENT_SECRET,
                base_url=url,
                request_timeout=5.0,
                clock=clock.monotonic,
                rate_limiter=RateLimiter(1000),
            )

        def set_retry_after(seconds: int) -> None:
            emu.retry_after = seconds

        yield Harness(
            key="airalo",
            api_path="/v2",
            emulator=emu,
            provider=make(emu.base_url),
            make_client=make,
            line_id=sim.iccid,
            iccid=LINE_ICCID,
            secrets=(airalo.DEFAULT_CLIENT_ID, airalo.DEFAULT_CLIENT_SECRET),
            fail_account_read=lambda mode: emu.fail_next.update({"balance": mode}),
            fail_purchase=lambda mode: emu.fail_next.update({"order_topup": mode}),
            fail_line_read=lambda mode: emu.fail_next.update({"usage": mode}),
            fail_token=lambda mode: emu.fail_next.update({"token": mode}),
            set_retry_after=set_retry_after,
            add_line=lambda: emu.add_sim().iccid,
            serve_implausible=emu.serve_implausible,
        )


@contextlib.asynccontextmanager
async def _onence(session: aiohttp.ClientSession, clock: FakeClock) -> AsyncIterator[Harness]:
    """Serve 1NCE: OAuth with HTTP Basic, lines keyed by ICCID."""
    async with onence.OnenceEmulator(clock=clock, timeout_delay=2.0, sims_rate_limit=None) as emu:
        sim = emu.add_sim(iccid=LINE_ICCID)

        def make(url: str) -> Provider:
            return OnenceProvider(
                session,
                onence.DEFAULT_CLIENT_ID,
                onence.DEFAULT_CLIENT_SECRET,
                base_url=url,
                request_timeout=5.0,
                clock=clock.monotonic,
                rate_limiter=RateLimiter(1000),
            )

        def set_retry_after(seconds: int) -> None:
            emu.retry_after = seconds

        yield Harness(
            key="onence",
            api_path="/management-api",
            emulator=emu,
            provider=make(emu.base_url),
            make_client=make,
            line_id=sim.iccid,
            iccid=LINE_ICCID,
            secrets=(onence.DEFAULT_CLIENT_ID, onence.DEFAULT_CLIENT_SECRET),
            fail_account_read=lambda mode: emu.fail_next.update({"sims": mode}),
            fail_purchase=lambda mode: emu.fail_next.update({"topup": mode}),
            fail_line_read=lambda mode: emu.fail_next.update({"quota": mode}),
            fail_token=lambda mode: emu.fail_next.update({"token": mode}),
            set_retry_after=set_retry_after,
            add_line=lambda: emu.add_sim().iccid,
            serve_implausible=emu.serve_implausible,
        )


_OPENERS: Final = {
    "esimaccess": _esimaccess,
    "esimgo": _esimgo,
    "airalo": _airalo,
    "onence": _onence,
}


@contextlib.asynccontextmanager
async def open_harness(key: str, clock: FakeClock) -> AsyncIterator[Harness]:
    """Start the emulator of provider ``key`` with one line and yield its harness."""
    async with aiohttp.ClientSession() as session, _OPENERS[key](session, clock) as harness:
        yield harness
