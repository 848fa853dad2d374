"""Tests of the Airalo client against its loopback emulator."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
import contextlib
from datetime import UTC, datetime, timedelta
from decimal import Decimal
import socket
import time

import aiohttp
import pytest

from custom_components.prepaid_sim.providers.airalo import (
    DEFAULT_BASE_URL,
    MB,
    PRODUCTION_BASE_URL,
    SANDBOX_BASE_URL,
    UPDATE_INTERVAL,
    USAGE_READ_INTERVAL,
    AccountState,
    AiraloProvider,
    parse_time,
)
from custom_components.prepaid_sim.providers.airalo.parse import (
    Reply,
    as_bool,
    order_price,
    order_status,
    parse_topup_package,
    purchase_error,
    reply_data,
)
from custom_components.prepaid_sim.providers.airalo.reconcile import order_iccids
from custom_components.prepaid_sim.providers.base import (
    AuthenticationError,
    LineNotFoundError,
    LineStatus,
    Money,
    OrderOutcomeUnknownError,
    OrderRejectedError,
    OrderStatus,
    Package,
    ProviderUnavailableError,
    RateLimitedError,
    pick_refresh_error,
)
from custom_components.prepaid_sim.providers.http import parse_retry_after, safe_decimal
from custom_components.prepaid_sim.providers.ratelimit import RateLimiter
from tests.emulators.airalo import (
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    AiraloEmulator,
    EmulatedSim,
)
from tests.emulators.server import TokenApiFaultMode

from .canned import CannedApi
from .conftest import FakeClock

# The emulator's route name of POST /token.
AUTH_ROUTE = "token"


@pytest.fixture
async def emulator(socket_enabled: None, clock: FakeClock) -> AsyncIterator[AiraloEmulator]:
    """Serve an Airalo emulator on loopback for one test (sockets allowed)."""
    async with AiraloEmulator(clock=clock, timeout_delay=2.0) as server:
        yield server


@contextlib.asynccontextmanager
async def client(
    emulator: AiraloEmulator,
    clock: FakeClock,
    *,
    credential: str = DEFAULT_CLIENT_SECRET,
    request_timeout: float = 5.0,
    rate_limiter: RateLimiter | None = None,
) -> AsyncIterator[AiraloProvider]:
    """Open a session and a provider pointed at the emulator.

    Tests not about pacing use a generous limiter (and the emulator's limit off) to run fast.
    """
    if rate_limiter is None:
        emulator.rate_limit = None
        rate_limiter = RateLimiter(1000)
    async with aiohttp.ClientSession() as session:
        yield AiraloProvider(
            session,
            DEFAULT_CLIENT_ID,
            credential,
            base_url=emulator.base_url,
            request_timeout=request_timeout,
            clock=clock.monotonic,
            rate_limiter=rate_limiter,
        )


async def _package_for(
    provider: AiraloProvider, iccid: str, package_id: str = "change-7days-1gb-topup"
) -> Package:
    """Return one of the line's top-up packages."""
    packages = {p.package_id: p for p in await provider.async_list_packages(iccid)}
    return packages[package_id]


def test_hosts_and_interval() -> None:
    """Production is the default; the sandbox host is available; reads spread over 3 refreshes."""
    assert DEFAULT_BASE_URL == PRODUCTION_BASE_URL == "https://partners-api.airalo.com/v2"
    assert SANDBOX_BASE_URL == "https://sandbox-partners-api.airalo.com/v2"
    assert USAGE_READ_INTERVAL / UPDATE_INTERVAL == 3
    assert MB == 1_048_576


# --- reading ---------------------------------------------------------------------------


async def test_list_lines_reads_every_page(emulator: AiraloEmulator, clock: FakeClock) -> None:
    """250 eSIMs come back in ceil(250 / 100) pages; recycled ones are left out."""
    sims = [emulator.add_sim() for _ in range(249)]
    recycled = emulator.add_sim(recycled=True)
    async with client(emulator, clock) as provider:
        lines = await provider.async_list_lines()
    assert len(lines) == 249
    assert {line.line_id for line in lines} == {sim.iccid for sim in sims}
    assert recycled.iccid not in {line.line_id for line in lines}
    assert emulator.calls("sims") == 3
    assert lines[0].name == f"eSIM {sims[0].iccid[-4:]}"
    assert lines[0].plan_name == "Change-3 GB - 30 Days"


async def test_fetch_normalizes_lines(emulator: AiraloEmulator, clock: FakeClock) -> None:
    """MB become bytes (x 1,048,576), expiry is aware UTC, statuses map, unlimited 0/0 reads."""
    healthy = emulator.add_sim(total_mb=3072, remaining_mb=1024, expires_in=timedelta(days=10))
    fraction = emulator.add_sim(total_mb=2048, remaining_mb=Decimal("767.5"))
    finished = emulator.add_sim(total_mb=1024, remaining_mb=0, status="FINISHED")
    used_up = emulator.add_sim(total_mb=1024, remaining_mb=0)
    fresh = emulator.add_sim(status="NOT_ACTIVE", expires_in=None)
    expired = emulator.add_sim(status="EXPIRED", expires_in=timedelta(days=-1))
    lapsed = emulator.add_sim(expires_in=timedelta(hours=-1))
    unlimited = emulator.add_sim(unlimited=True)
    odd = emulator.add_sim(status="SOMETHING_NEW")
    sims = [healthy, fraction, finished, used_up, fresh, expired, lapsed, unlimited, odd]
    async with client(emulator, clock) as provider:
        await provider.async_list_lines()
        snapshot = await provider.async_fetch([sim.iccid for sim in sims])

    assert snapshot.wallet == Money(Decimal(100), "USD")
    assert not snapshot.missing_line_ids
    assert not snapshot.unreadable_line_ids
    line = snapshot.lines[healthy.iccid]
    assert line.status is LineStatus.ACTIVE
    assert line.data_total_bytes == 3072 * MB
    assert line.data_remaining_bytes == 1024 * MB
    assert line.data_used_bytes == 2048 * MB
    assert line.unlimited is False
    assert line.expires_at == clock.now + timedelta(days=10)
    assert line.expires_at is not None
    assert line.expires_at.utcoffset() == timedelta(0)
    assert line.iccid == healthy.iccid
    assert line.plan_name == "Change-3 GB - 30 Days"
    assert line.usage_updated_at is not None

    assert snapshot.lines[fraction.iccid].data_remaining_bytes == int(Decimal("767.5") * MB)
    assert snapshot.lines[finished.iccid].status is LineStatus.DEPLETED
    assert snapshot.lines[used_up.iccid].status is LineStatus.DEPLETED
    assert snapshot.lines[used_up.iccid].data_remaining_bytes == 0
    assert snapshot.lines[fresh.iccid].status is LineStatus.NOT_ACTIVE
    assert snapshot.lines[fresh.iccid].expires_at is None
    assert snapshot.lines[expired.iccid].status is LineStatus.EXPIRED
    assert snapshot.lines[lapsed.iccid].status is LineStatus.EXPIRED
    assert snapshot.lines[odd.iccid].status is LineStatus.UNKNOWN

    flat = snapshot.lines[unlimited.iccid]
    assert flat.unlimited is True
    assert flat.status is LineStatus.ACTIVE
    assert flat.data_remaining_bytes is None
    assert flat.data_total_bytes is None
    # One token, one balance, one usage read per line.
    assert emulator.token_calls == 1
    assert emulator.calls("balance") == 1
    assert emulator.calls("usage") == len(sims)


async def test_unlimited_variants(emulator: AiraloEmulator, clock: FakeClock) -> None:
    """0/0 without the flag is unlimited; a flagged plan with a fair-use cap keeps its size."""
    emulator.usage_has_unlimited_flag = False
    bare = emulator.add_sim(unlimited=True)
    metered_zero = emulator.add_sim(
        usage_overrides={"total": 0, "remaining": 0, "is_unlimited": False}
    )
    capped = emulator.add_sim(
        usage_overrides={"total": 2048, "remaining": 767, "is_unlimited": True}
    )
    async with client(emulator, clock) as provider:
        snapshot = await provider.async_fetch([bare.iccid, metered_zero.iccid, capped.iccid])
    assert snapshot.lines[bare.iccid].unlimited is True
    assert snapshot.lines[bare.iccid].data_remaining_bytes is None
    zero = snapshot.lines[metered_zero.iccid]
    assert zero.unlimited is False
    assert (zero.data_total_bytes, zero.data_remaining_bytes) == (None, None)
    cap = snapshot.lines[capped.iccid]
    assert cap.unlimited is True
    assert cap.data_total_bytes == 2048 * MB
    assert cap.data_used_bytes == (2048 - 767) * MB
    assert cap.data_remaining_bytes is None


@pytest.mark.parametrize("shape", ["code", "status"])
async def test_recycled_and_unknown_lines_are_missing(
    emulator: AiraloEmulator, clock: FakeClock, shape: str
) -> None:
    """Code 73 (or status RECYCLED) and 404 make a line missing, not an account error."""
    emulator.recycled_usage = "code" if shape == "code" else "status"
    good = emulator.add_sim()
    recycled = emulator.add_sim(recycled=True)
    async with client(emulator, clock) as provider:
        snapshot = await provider.async_fetch([good.iccid, recycled.iccid, "8900000000000000001"])
        assert set(snapshot.lines) == {good.iccid}
        assert snapshot.missing_line_ids == {recycled.iccid, "8900000000000000001"}
        # A recycled eSIM never comes back: it is not asked for again.
        clock.advance(USAGE_READ_INTERVAL)
        again = await provider.async_fetch([good.iccid, recycled.iccid])
        assert again.missing_line_ids == {recycled.iccid}
        assert emulator.usage_calls(recycled.iccid) == 1
        assert emulator.usage_calls(good.iccid) == 2
        with pytest.raises(LineNotFoundError):
            await provider.async_list_packages(recycled.iccid)


async def test_unreadable_usage(emulator: AiraloEmulator, clock: FakeClock) -> None:
    """A usage answer that cannot be read marks the line unreadable; the rest still read."""
    good = emulator.add_sim()
    bad_number = emulator.add_sim(usage_overrides={"total": "lots"})
    no_total = emulator.add_sim(usage_overrides={"total": None})
    garbled = emulator.add_sim()
    odd_time = emulator.add_sim(usage_overrides={"expired_at": "next Tuesday"})
    async with client(emulator, clock) as provider:
        await provider.async_get_account()
        emulator.fail_next["usage"] = "malformed"
        # The fault applies to the first usage request, which is the first line asked.
        snapshot = await provider.async_fetch(
            [garbled.iccid, good.iccid, bad_number.iccid, no_total.iccid, odd_time.iccid]
        )
    assert set(snapshot.lines) == {good.iccid, odd_time.iccid}
    assert snapshot.unreadable_line_ids == {garbled.iccid, bad_number.iccid, no_total.iccid}
    assert snapshot.lines[odd_time.iccid].expires_at is None


# --- the per-ICCID usage limit -------------------------------------------------------------


async def test_usage_is_read_at_most_once_per_15_minutes(
    emulator: AiraloEmulator, clock: FakeClock
) -> None:
    """Two refreshes within 15 min send no second usage call; the cached reading is returned."""
    sims = [emulator.add_sim() for _ in range(3)]
    ids = [sim.iccid for sim in sims]
    async with client(emulator, clock) as provider:
        first = await provider.async_fetch(ids)
        emulator.sims[ids[0]].remaining_mb = Decimal(10)
        clock.advance(UPDATE_INTERVAL)
        second = await provider.async_fetch(ids)
        clock.advance(timedelta(minutes=9, seconds=59))
        third = await provider.async_fetch(ids)
        assert emulator.calls("usage") == 3
        assert first == second == third
        assert emulator.calls("balance") == 3
        # 15 minutes after the first read, the lines are due again (spread: see below).
        clock.advance(timedelta(minutes=15))
        fourth = await provider.async_fetch(ids)
    assert fourth.lines[ids[0]].data_remaining_bytes == 10 * MB
    assert all(emulator.usage_calls(iccid) == 2 for iccid in ids)
    assert emulator.throttled == 0


async def test_usage_reads_spread_over_refreshes(
    emulator: AiraloEmulator, clock: FakeClock
) -> None:
    """After the first read, 6 lines refreshed every 5 min are read 2 at a time, oldest first."""
    ids = [emulator.add_sim().iccid for _ in range(6)]
    per_refresh: list[int] = []
    async with client(emulator, clock) as provider:
        for _ in range(10):
            before = emulator.calls("usage")
            snapshot = await provider.async_fetch(ids)
            assert set(snapshot.lines) == set(ids)
            per_refresh.append(emulator.calls("usage") - before)
            clock.advance(UPDATE_INTERVAL)
    # t=0: all six; t=5, 10: none due; from t=15 on, ceil(6 * 5 / 15) = 2 per refresh.
    assert per_refresh == [6, 0, 0, 2, 2, 2, 2, 2, 2, 2]
    assert emulator.throttled == 0


async def test_usage_rate_limited_by_the_provider(
    emulator: AiraloEmulator, clock: FakeClock
) -> None:
    """A 429 on one ICCID holds that line only: cached if read before, else unreadable."""
    read_before = emulator.add_sim()
    other = emulator.add_sim()
    async with client(emulator, clock) as earlier_run:
        await earlier_run.async_fetch([read_before.iccid])
    clock.advance(timedelta(minutes=1))
    async with client(emulator, clock) as provider:
        # A new process does not know the line was read a minute ago: Airalo says 429.
        # That line has no reading yet (unreadable, not missing); the other is read.
        held = await provider.async_fetch([read_before.iccid, other.iccid])
        assert set(held.lines) == {other.iccid}
        assert held.unreadable_line_ids == {read_before.iccid}
        assert not held.missing_line_ids
        # The held one is not asked again meanwhile.
        again = await provider.async_fetch([read_before.iccid, other.iccid])
        assert again.unreadable_line_ids == {read_before.iccid}
        assert emulator.usage_calls(read_before.iccid) == 2
        assert emulator.usage_calls(other.iccid) == 1
        clock.advance(timedelta(minutes=14))
        snapshot = await provider.async_fetch([read_before.iccid, other.iccid])
        assert set(snapshot.lines) == {read_before.iccid, other.iccid}
        assert emulator.usage_calls(other.iccid) == 1
        # Now a line with a cached reading meets a stricter limit: the reading is kept.
        clock.advance(USAGE_READ_INTERVAL)
        emulator.usage_interval = timedelta(minutes=40)
        cached = await provider.async_fetch([read_before.iccid, other.iccid])
        assert cached.lines == snapshot.lines


async def test_purchase_makes_the_line_read_first(
    emulator: AiraloEmulator, clock: FakeClock
) -> None:
    """After a top-up, the line jumps the queue of due lines."""
    ids = [emulator.add_sim().iccid for _ in range(6)]
    async with client(emulator, clock) as provider:
        await provider.async_fetch(ids)
        package = await _package_for(provider, ids[-1])
        await provider.async_purchase(ids[-1], package, "ps-priority")
        clock.advance(USAGE_READ_INTERVAL)
        before = {iccid: emulator.usage_calls(iccid) for iccid in ids}
        snapshot = await provider.async_fetch(ids)
    read = [iccid for iccid in ids if emulator.usage_calls(iccid) > before[iccid]]
    assert ids[-1] in read
    assert snapshot.lines[ids[-1]].data_total_bytes == (3072 + 1024) * MB


# --- the token -------------------------------------------------------------------------------


async def test_token_is_cached(emulator: AiraloEmulator, clock: FakeClock) -> None:
    """Many requests, concurrent ones included, share one token call."""
    sim = emulator.add_sim()
    async with client(emulator, clock) as provider:
        await asyncio.gather(*(provider.async_get_account() for _ in range(5)))
        await provider.async_fetch([sim.iccid])
        await provider.async_list_packages(sim.iccid)
        await provider.async_list_lines()
    assert emulator.token_calls == 1
    # token + 5 balance, then balance + usage, topups, sims.
    assert len(emulator.request_log) == 10


async def test_token_expired_mid_session(emulator: AiraloEmulator, clock: FakeClock) -> None:
    """A token revoked mid-session is renewed once, even for concurrent callers."""
    async with client(emulator, clock) as provider:
        await provider.async_get_account()
        emulator.expire_tokens()
        accounts = await asyncio.gather(*(provider.async_get_account() for _ in range(4)))
        assert emulator.token_calls == 2
        emulator.fail_next["balance"] = "expired_token"
        await provider.async_get_account()
    assert all(account.wallet == Money(Decimal(100), "USD") for account in accounts)
    assert emulator.token_calls == 3
    assert [r.status for r in emulator.request_log].count(401) == 5


async def test_token_renewed_daily(emulator: AiraloEmulator, clock: FakeClock) -> None:
    """The year-long token is renewed daily, as the docs advise, before any 401."""
    async with client(emulator, clock) as provider:
        await provider.async_get_account()
        clock.advance(timedelta(hours=23))
        await provider.async_get_account()
        assert emulator.token_calls == 1
        clock.advance(timedelta(hours=1))
        await provider.async_get_account()
    assert emulator.token_calls == 2
    assert 401 not in [r.status for r in emulator.request_log]


async def test_short_token_renewed_before_expiry(
    emulator: AiraloEmulator, clock: FakeClock
) -> None:
    """A token with a short expires_in is renewed shortly before it runs out."""
    emulator.token_lifetime = 3600
    async with client(emulator, clock) as provider:
        await provider.async_get_account()
        clock.advance(timedelta(minutes=54))
        await provider.async_get_account()
        assert emulator.token_calls == 1
        clock.advance(timedelta(minutes=2))
        await provider.async_get_account()
    assert emulator.token_calls == 2
    assert 401 not in [r.status for r in emulator.request_log]


async def test_client_keeps_to_five_requests_per_second(
    emulator: AiraloEmulator, clock: FakeClock
) -> None:
    """With its own limiter, a burst of 12 reads never meets the emulator's 5/s limit."""
    async with aiohttp.ClientSession() as session:
        provider = AiraloProvider(
            session,
            DEFAULT_CLIENT_ID,
            DEFAULT_CLIENT_SECRET,
            base_url=emulator.base_url,
            clock=clock.monotonic,
        )
        started = time.monotonic()
        await asyncio.gather(*(provider.async_get_account() for _ in range(11)))
        elapsed = time.monotonic() - started
    assert emulator.throttled == 0
    assert emulator.calls("balance") == 11
    # 11 reads at 5 per 1.1 s start at t = 0, 1.1 and 2.2 s (the token has its own budget).
    assert elapsed >= 2.1


async def test_bad_credentials(emulator: AiraloEmulator, clock: FakeClock) -> None:
    """Refused credentials, a token that never works and an IP block are AuthenticationError."""
    async with client(emulator, clock, credential="wrong") as provider:
        with pytest.raises(AuthenticationError, match="Client authentication failed"):
            await provider.async_get_account()
    emulator.token_lifetime = 0  # every token is dead on arrival
    async with client(emulator, clock) as provider:
        with pytest.raises(AuthenticationError):
            await provider.async_get_account()
    assert emulator.token_calls == 3


async def test_token_endpoint_limits(emulator: AiraloEmulator, clock: FakeClock) -> None:
    """429 and unusable answers of the token endpoint are RateLimited / Unavailable."""
    async with client(emulator, clock) as provider:
        emulator.fail_next[AUTH_ROUTE] = "rate_limit"
        with pytest.raises(RateLimitedError) as err:
            await provider.async_get_account()
        assert err.value.retry_after == 1.0
    async with client(emulator, clock) as provider:
        emulator.fail_next[AUTH_ROUTE] = "malformed"
        with pytest.raises(ProviderUnavailableError):
            await provider.async_get_account()
        emulator.fail_next[AUTH_ROUTE] = "timeout"
        provider.timeout = aiohttp.ClientTimeout(total=0.3)
        with pytest.raises(ProviderUnavailableError):
            await provider.async_get_account()


# --- errors while reading --------------------------------------------------------------------


async def test_rate_limited_and_unusable_reads(emulator: AiraloEmulator, clock: FakeClock) -> None:
    """429 is RateLimitedError with Retry-After; 5xx, bad JSON and timeouts are unavailable."""
    sim = emulator.add_sim()
    async with client(emulator, clock) as provider:
        emulator.fail_next["balance"] = "rate_limit"
        with pytest.raises(RateLimitedError) as err:
            await provider.async_get_account()
        assert err.value.retry_after == 1.0
        for fault in ("http_500", "http_503", "malformed"):
            emulator.fail_next["balance"] = fault
            with pytest.raises(ProviderUnavailableError) as unavailable:
                await provider.async_fetch([sim.iccid])
            assert not isinstance(unavailable.value, RateLimitedError)
        clock.advance(USAGE_READ_INTERVAL)
        emulator.fail_next["usage"] = "http_500"
        with pytest.raises(ProviderUnavailableError):
            await provider.async_fetch([sim.iccid])
        emulator.fail_next["sims"] = "malformed"
        with pytest.raises(ProviderUnavailableError):
            await provider.async_list_lines()
        emulator.fail_next["topups"] = "http_503"
        with pytest.raises(ProviderUnavailableError):
            await provider.async_list_packages(sim.iccid)
        provider.timeout = aiohttp.ClientTimeout(total=0.3)
        emulator.fail_next["balance"] = "timeout"
        with pytest.raises(ProviderUnavailableError):
            await provider.async_get_account()


async def test_account(emulator: AiraloEmulator, clock: FakeClock) -> None:
    """The account id derives from the client id without revealing it."""
    emulator.balance = Decimal("12.34")
    async with client(emulator, clock) as provider:
        account = await provider.async_get_account()
    assert account.account_id.startswith("airalo-")
    assert DEFAULT_CLIENT_ID not in account.account_id
    assert account.name is None  # the API names no account
    assert account.wallet == Money(Decimal("12.34"), "USD")


# --- packages --------------------------------------------------------------------------------


async def test_packages(emulator: AiraloEmulator, clock: FakeClock) -> None:
    """Net prices in Decimal, MB to bytes, days to validity, unlimited as None, cheapest first."""
    sim = emulator.add_sim()
    closed = emulator.add_sim(topup_disabled=True)
    async with client(emulator, clock) as provider:
        packages = await provider.async_list_packages(sim.iccid)
        assert await provider.async_list_packages(closed.iccid) == []
        with pytest.raises(LineNotFoundError):
            await provider.async_list_packages("8900000000000000009")
    assert [p.package_id for p in packages] == [
        "change-7days-1gb-topup",
        "change-30days-3gb-topup",
        "change-30days-10gb-topup",
        "change-7days-unlimited-topup",
    ]
    small = packages[0]
    assert small.price == Money(Decimal("3.6"), "USD")
    assert small.data_bytes == 1024 * MB
    assert small.validity == timedelta(days=7)
    assert small.name == "Change-1 GB - 7 Days"
    assert packages[-1].data_bytes is None


def test_package_parsing_tolerance() -> None:
    """Retail price when there is no net price; odd entries are skipped."""
    retail = parse_topup_package(
        {"id": "p", "price": "5", "amount": 512, "day": 3, "currency": "eur"}
    )
    assert retail is not None
    assert retail.price == Money(Decimal(5), "EUR")
    assert retail.data_bytes == 512 * MB
    assert parse_topup_package({"id": "p", "price": "free"}) is None
    assert parse_topup_package({"price": 5}) is None
    assert parse_topup_package({"id": "p", "price": -1}) is None


# --- buying ----------------------------------------------------------------------------------


async def test_purchase_charges_exactly_once(emulator: AiraloEmulator, clock: FakeClock) -> None:
    """A top-up debits the net price once, carries our reference and extends the eSIM."""
    sim = emulator.add_sim(expires_in=timedelta(days=3))
    async with client(emulator, clock) as provider:
        package = await _package_for(provider, sim.iccid)
        order = await provider.async_purchase(sim.iccid, package, "ps-0001")
    assert order.status is OrderStatus.COMPLETED
    assert order.order_id == "111"
    assert order.reference == "ps-0001"
    assert order.package_id == "change-7days-1gb-topup"
    assert order.price == Money(Decimal("3.6"), "USD")
    assert order.created_at == clock.now
    assert [(c.iccid, c.amount, c.description) for c in emulator.ledger] == [
        (sim.iccid, Decimal("3.6"), "ps-0001")
    ]
    assert emulator.balance == Decimal("96.4")
    assert emulator.calls("order_topup") == 1
    assert sim.expired_at == clock.now + timedelta(days=10)


@pytest.mark.parametrize(
    ("setup", "code", "insufficient"),
    [
        ("poor", "11", True),
        ("recycled", "73", False),
        ("disabled", "23", False),
        ("foreign_package", "http_422", False),
    ],
)
async def test_refusals_charge_nothing(
    emulator: AiraloEmulator, clock: FakeClock, setup: str, code: str, insufficient: bool
) -> None:
    """Insufficient credit, recycled eSIMs, disabled top-ups and bad packages are refusals."""
    sim = emulator.add_sim()
    async with client(emulator, clock) as provider:
        package = await _package_for(provider, sim.iccid)
        if setup == "poor":
            emulator.balance = Decimal(1)
        elif setup == "recycled":
            sim.recycled = True
        elif setup == "disabled":
            sim.topup_disabled = True
        else:
            sim.topups = ["change-30days-3gb-topup"]
        with pytest.raises(OrderRejectedError) as err:
            await provider.async_purchase(sim.iccid, package, "ps-refused")
    assert err.value.code == code
    assert err.value.insufficient_funds is insufficient
    assert emulator.ledger == []


async def test_lost_answer_after_commit_is_found(
    emulator: AiraloEmulator, clock: FakeClock
) -> None:
    """A dropped answer after the charge is 'unknown'; the description lookup then finds it."""
    sim = emulator.add_sim()
    other = emulator.add_sim()
    async with client(emulator, clock) as provider:
        package = await _package_for(provider, sim.iccid)
        # Someone else's order on another eSIM, which must not be mistaken for ours.
        await provider.async_purchase(other.iccid, package, "ps-other")
        sent_at = datetime.now(UTC)
        emulator.fail_next["order_topup"] = "drop_after_commit"
        with pytest.raises(OrderOutcomeUnknownError) as err:
            await provider.async_purchase(sim.iccid, package, "ps-dropped")
        assert err.value.reference == "ps-dropped"
        assert len(emulator.ledger) == 2
        order = await provider.async_find_order(sim.iccid, "ps-dropped", sent_at)
        # The reference belongs to this eSIM only.
        assert await provider.async_find_order(other.iccid, "ps-dropped", sent_at) is None
    assert order is not None
    assert order.order_id == "112"
    assert order.reference == "ps-dropped"
    assert order.package_id == package.package_id
    assert order.status is OrderStatus.COMPLETED
    assert order.price == Money(Decimal("3.6"), "USD")
    assert order.created_at == clock.now
    assert emulator.calls("order_topup") == 2
    assert emulator.calls("orders") == 2
    assert emulator.request_log[-1].query["filter[description]"] == "ps-dropped"


async def test_find_order_when_the_filter_is_ignored(
    emulator: AiraloEmulator, clock: FakeClock
) -> None:
    """If the server ignored filter[description], the client still matches whole references."""
    emulator.honour_description_filter = False
    emulator.balance = Decimal(1000)
    sim = emulator.add_sim()
    async with client(emulator, clock) as provider:
        package = await _package_for(provider, sim.iccid)
        await provider.async_purchase(sim.iccid, package, "ps-1")
        await provider.async_purchase(sim.iccid, package, "ps-10")
        for number in range(60):
            await provider.async_purchase(sim.iccid, package, f"ps-x{number}")
        found = await provider.async_find_order(sim.iccid, "ps-1", datetime.now(UTC))
        missing = await provider.async_find_order(sim.iccid, "ps-nothing", datetime.now(UTC))
    assert found is not None
    assert found.order_id == "111"
    assert missing is None
    assert emulator.calls("orders") == 2 + 2


async def test_timeout_before_commit(emulator: AiraloEmulator, clock: FakeClock) -> None:
    """A timeout is 'unknown'; the lookup finds nothing, and nothing was charged."""
    sim = emulator.add_sim()
    async with client(emulator, clock) as provider:
        package = await _package_for(provider, sim.iccid)
        provider.timeout = aiohttp.ClientTimeout(total=0.3)
        sent_at = datetime.now(UTC)
        emulator.fail_next["order_topup"] = "timeout"
        with pytest.raises(OrderOutcomeUnknownError):
            await provider.async_purchase(sim.iccid, package, "ps-slow")
        provider.timeout = aiohttp.ClientTimeout(total=5)
        assert await provider.async_find_order(sim.iccid, "ps-slow", sent_at) is None
    assert emulator.ledger == []


@pytest.mark.parametrize(
    ("fault", "charged"),
    [
        ("http_500", False),
        ("http_503", False),
        ("malformed", False),
        ("http_500_after_commit", True),
        ("http_503_after_commit", True),
    ],
)
async def test_server_errors_during_purchase(
    emulator: AiraloEmulator, clock: FakeClock, fault: TokenApiFaultMode, charged: bool
) -> None:
    """5xx (before or after commit) and bad JSON are 'unknown'; the lookup tells which."""
    sim = emulator.add_sim()
    async with client(emulator, clock) as provider:
        package = await _package_for(provider, sim.iccid)
        emulator.fail_next["order_topup"] = fault
        with pytest.raises(OrderOutcomeUnknownError):
            await provider.async_purchase(sim.iccid, package, "ps-5xx")
        found = await provider.async_find_order(sim.iccid, "ps-5xx", datetime.now(UTC))
    assert (found is not None) is charged
    assert len(emulator.ledger) == int(charged)


async def test_purchase_with_an_expired_token_and_a_rate_limit(
    emulator: AiraloEmulator, clock: FakeClock
) -> None:
    """A 401 on the order renews the token and sends once more; a 429 charges nothing."""
    sim = emulator.add_sim()
    async with client(emulator, clock) as provider:
        package = await _package_for(provider, sim.iccid)
        emulator.fail_next["order_topup"] = "expired_token"
        order = await provider.async_purchase(sim.iccid, package, "ps-renewed")
        assert order.reference == "ps-renewed"
        assert len(emulator.ledger) == 1
        assert emulator.token_calls == 2
        emulator.fail_next["order_topup"] = "rate_limit"
        with pytest.raises(RateLimitedError):
            await provider.async_purchase(sim.iccid, package, "ps-busy")
        with pytest.raises(OrderRejectedError):
            await provider.async_purchase(sim.iccid, package, "")
    assert len(emulator.ledger) == 1


async def test_connect_failure_is_unavailable(emulator: AiraloEmulator, clock: FakeClock) -> None:
    """Only a failure to connect at all means the order certainly was not sent."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    sim = emulator.add_sim()
    emulator.rate_limit = None
    account = AccountState()
    async with aiohttp.ClientSession() as session:
        provider = AiraloProvider(
            session,
            DEFAULT_CLIENT_ID,
            DEFAULT_CLIENT_SECRET,
            base_url=emulator.base_url,
            clock=clock.monotonic,
            account_state=account,
        )
        package = await _package_for(provider, sim.iccid)
        # The account's token is cached; a client of the same account at a host that is gone.
        nowhere = AiraloProvider(
            session,
            DEFAULT_CLIENT_ID,
            DEFAULT_CLIENT_SECRET,
            base_url=f"http://127.0.0.1:{port}/v2",
            clock=clock.monotonic,
            account_state=account,
        )
        with pytest.raises(ProviderUnavailableError) as err:
            await nowhere.async_purchase(sim.iccid, package, "ps-nowhere")
        assert not isinstance(err.value, OrderOutcomeUnknownError)
        with pytest.raises(ProviderUnavailableError):
            await nowhere.async_fetch([sim.iccid])
    assert emulator.ledger == []


@pytest.mark.parametrize(
    ("status", "body", "expected", "code"),
    [
        (422, {"code": 11, "reason": "Insufficient Airalo Credit"}, OrderRejectedError, "11"),
        (422, {"code": "34", "reason": "Package out of stock"}, OrderRejectedError, "34"),
        (400, {"message": "bad request"}, OrderRejectedError, "http_400"),
        (422, {"code": 53, "reason": "unexpected"}, OrderOutcomeUnknownError, None),
        (403, {"code": 89, "reason": "IP not allowlisted"}, AuthenticationError, None),
        (404, None, OrderOutcomeUnknownError, None),
        (408, {"message": "timeout"}, OrderOutcomeUnknownError, None),
        (502, {"message": "bad gateway"}, OrderOutcomeUnknownError, None),
    ],
)
def test_purchase_error_mapping(
    status: int, body: object, expected: type[Exception], code: str | None
) -> None:
    """Each refusal lands on the right side of the purchase contract."""
    error = purchase_error(Reply(status, {}, body), "ps-map")
    assert type(error) is expected
    if isinstance(error, OrderRejectedError):
        assert error.code == code
        assert error.insufficient_funds is (code == "11")
    if isinstance(error, OrderOutcomeUnknownError):
        assert error.reference == "ps-map"


# --- parsing ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        "2022-01-01 12:00:00",
        "2022-01-01T12:00:00Z",
        "2022-01-01T14:00:00+02:00",
        "01-01-2022 12:00:00",
        "2022/01/01 12:00:00",
        1641038400,
        "1641038400",
        1641038400000,
    ],
)
def test_parse_time_variants(value: object) -> None:
    """Every timestamp shape becomes the same aware UTC instant; zone-less is UTC."""
    assert parse_time(value) == datetime(2022, 1, 1, 12, tzinfo=UTC)


@pytest.mark.parametrize("value", [None, "", "soon", True, [1]])
def test_parse_time_unreadable(value: object) -> None:
    """Absent or unreadable times are None, never an error."""
    assert parse_time(value) is None


def test_reply_shapes() -> None:
    """Order statuses and error texts are read from every documented shape."""
    assert order_status({"status": {"slug": "completed"}}) is OrderStatus.COMPLETED
    assert order_status({"status": "Refunded"}) is OrderStatus.FAILED
    assert order_status({"status": {"name": "Pending"}}) is OrderStatus.PROCESSING
    assert order_status({}) is OrderStatus.COMPLETED
    reply = Reply(422, {}, {"data": {"x": "y"}, "meta": {"message": "the parameter is invalid"}})
    assert reply.message == "the parameter is invalid"
    assert reply.code is None
    assert Reply(401, {}, {"message": "Unauthenticated."}).message == "Unauthenticated."
    assert Reply(500, {}, "oops").message is None
    assert Reply(422, {}, {"code": True}).code is None


TOKEN_ANSWER = (200, {"data": {"access_token": "t", "expires_in": 3600}})


@contextlib.asynccontextmanager
async def canned_client(api: CannedApi, clock: FakeClock) -> AsyncIterator[AiraloProvider]:
    """Open a session and a provider pointed at canned answers."""
    async with api, aiohttp.ClientSession() as session:
        yield AiraloProvider(
            session,
            DEFAULT_CLIENT_ID,
            DEFAULT_CLIENT_SECRET,
            base_url=api.base_url,
            clock=clock.monotonic,
            rate_limiter=RateLimiter(1000),
        )


async def test_balance_shapes(socket_enabled: None, clock: FakeClock) -> None:
    """A list of balances or a bare number is tolerated; garbage is unavailable."""
    api = CannedApi("/v2", always={"/token": TOKEN_ANSWER})
    api.queue(
        "/balance",
        [
            (200, {"data": {"balances": [{"availableBalance": {"amount": "5"}}]}}),
            (200, {"balances": {"availableBalance": 7}}),
            (200, {"data": {"balances": {"availableBalance": "n/a"}}}),
        ],
    )
    async with canned_client(api, clock) as provider:
        assert (await provider.async_get_account()).wallet == Money(Decimal(5), "USD")
        assert (await provider.async_get_account()).wallet == Money(Decimal(7), "USD")
        with pytest.raises(ProviderUnavailableError):
            await provider.async_get_account()


async def test_listing_without_meta_follows_links_or_short_pages(
    socket_enabled: None, clock: FakeClock
) -> None:
    """Paging falls back to links.next, then to a short page; a listing that is no list
    is unavailable."""
    full_page = [{"iccid": str(n)} for n in range(100, 200)]
    api = CannedApi("/v2", always={"/token": TOKEN_ANSWER})
    api.queue(
        "/sims",
        [
            (200, {"data": [{"iccid": "1"}], "links": {"next": "p2"}}),
            (200, {"data": [{"iccid": "2"}], "links": {"next": None}}),
            (200, {"data": full_page}),
            (200, {"data": [{"iccid": "5"}]}),
            (200, {"data": "nope"}),
        ],
    )
    api.queue("/orders", [(200, {"data": 1})])
    api.queue("/sims/1/topups", [(200, {"data": 1})])
    async with canned_client(api, clock) as provider:
        assert len(await provider.async_list_lines()) == 2
        assert len(await provider.async_list_lines()) == 101
        with pytest.raises(ProviderUnavailableError):
            await provider.async_list_lines()
        with pytest.raises(ProviderUnavailableError):
            await provider.async_find_order("1", "ps-x", datetime.now(UTC))
        with pytest.raises(ProviderUnavailableError):
            await provider.async_list_packages("1")


async def test_ip_block_is_an_authentication_error(
    emulator: AiraloEmulator, clock: FakeClock
) -> None:
    """403 (code 89: IP not allowlisted) on a read is AuthenticationError."""
    emulator.ip_blocked = True
    async with client(emulator, clock) as provider:
        with pytest.raises(AuthenticationError, match="allowlisted"):
            await provider.async_get_account()


async def test_other_usage_refusals_are_unreadable(socket_enabled: None, clock: FakeClock) -> None:
    """A 4xx usage answer other than 404 / code 73 marks the line unreadable."""
    api = CannedApi("/v2", always={"/token": TOKEN_ANSWER})
    api.queue("/balance", [(200, {"data": {"balances": {"availableBalance": 1}}})])
    api.queue("/sims/1/usage", [(400, {"message": "bad iccid"})])
    async with canned_client(api, clock) as provider:
        snapshot = await provider.async_fetch(["1"])
    assert snapshot.unreadable_line_ids == {"1"}
    assert not snapshot.lines


def test_payload_shapes() -> None:
    """Answers without a data wrapper are read flat; a data array is not an object."""
    assert reply_data(Reply(200, {}, {"access_token": "t"})) == {"access_token": "t"}
    assert reply_data(Reply(200, {}, {"data": []})) is None
    assert reply_data(Reply(200, {}, [1])) is None


async def test_seeded_emulator_reads_cleanly(emulator: AiraloEmulator, clock: FakeClock) -> None:
    """The standalone seed mixes states; every line reads or is missing (the recycled one)."""
    sims: list[EmulatedSim] = emulator.seed(12)
    async with client(emulator, clock) as provider:
        summaries = await provider.async_list_lines()
        snapshot = await provider.async_fetch([s.line_id for s in summaries] + [sims[-1].iccid])
    assert len(summaries) == 11
    assert snapshot.missing_line_ids == {sims[-1].iccid}
    assert not snapshot.unreadable_line_ids


def test_small_helpers() -> None:
    """Retry-After as seconds or a date; booleans in several spellings; odd numbers."""
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0
    assert parse_retry_after("later") is None
    assert as_bool(1) is True
    assert as_bool("false") is False
    assert as_bool("maybe") is None
    assert safe_decimal("Infinity") is None
    assert safe_decimal(["1"]) is None
    assert pick_refresh_error([ValueError("x")]).args == ("x",)
    assert order_iccids({"iccid": "1", "sims": ["2", {"iccid": "3"}]}) == {"1", "2", "3"}
    assert order_price({"price": "4.5"}) == Money(Decimal("4.5"), "USD")
