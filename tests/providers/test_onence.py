"""Tests of the 1NCE client against its loopback emulator."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
import contextlib
from datetime import UTC, datetime, timedelta
from decimal import Decimal
import time

import aiohttp
import pytest

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
from custom_components.prepaid_sim.providers.onence import (
    DEFAULT_BASE_URL,
    MB,
    TOPUP_PACKAGE_ID,
    OnenceProvider,
    parse_time,
)
from custom_components.prepaid_sim.providers.onence.parse import (
    Reply,
    header_int,
    order_number_from,
    order_status,
    purchase_error,
)
from custom_components.prepaid_sim.providers.onence.reconcile import same_iccid
from custom_components.prepaid_sim.providers.ratelimit import RateLimiter
from tests.emulators.onence import (
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    EXPIRED_MESSAGE,
    OnenceEmulator,
)
from tests.emulators.server import TokenApiFaultMode

from .canned import CannedApi
from .conftest import FakeClock
from .fixture_files import fixture_json

# The emulator's route name of POST /oauth/token.
AUTH_ROUTE = "token"
TOKEN_ANSWER = (200, {"access_token": "t", "token_type": "bearer", "expires_in": 3600})


@pytest.fixture
async def emulator(socket_enabled: None, clock: FakeClock) -> AsyncIterator[OnenceEmulator]:
    """Serve a 1NCE emulator on loopback for one test (sockets allowed)."""
    async with OnenceEmulator(clock=clock, timeout_delay=2.0) as server:
        yield server


@contextlib.asynccontextmanager
async def client(
    emulator: OnenceEmulator,
    clock: FakeClock,
    *,
    credential: str = DEFAULT_CLIENT_SECRET,
    rate_limiter: RateLimiter | None = None,
    **options: object,
) -> AsyncIterator[OnenceProvider]:
    """Open a session and a provider pointed at the emulator.

    Tests not about pacing use a generous limiter (and the emulator's /sims limit off).
    """
    if rate_limiter is None:
        emulator.sims_rate_limit = None
        rate_limiter = RateLimiter(1000)
    async with aiohttp.ClientSession() as session:
        yield OnenceProvider(
            session,
            DEFAULT_CLIENT_ID,
            credential,
            base_url=emulator.base_url,
            request_timeout=5.0,
            clock=clock.monotonic,
            rate_limiter=rate_limiter,
            **options,  # type: ignore[arg-type]
        )


@contextlib.asynccontextmanager
async def canned_client(api: CannedApi, clock: FakeClock) -> AsyncIterator[OnenceProvider]:
    """Open a session and a provider pointed at canned answers."""
    async with api, aiohttp.ClientSession() as session:
        yield OnenceProvider(
            session,
            DEFAULT_CLIENT_ID,
            DEFAULT_CLIENT_SECRET,
            base_url=api.base_url,
            clock=clock.monotonic,
            rate_limiter=RateLimiter(1000),
        )


async def _topup(provider: OnenceProvider, iccid: str) -> Package:
    """Return the line's one package."""
    (package,) = await provider.async_list_packages(iccid)
    return package


# --- reading ---------------------------------------------------------------------------


def test_default_host() -> None:
    """The production host is the default."""
    assert DEFAULT_BASE_URL == "https://api.1nce.com/management-api"
    assert MB == 1024 * 1024


@pytest.mark.parametrize("headers", [True, False])
async def test_list_lines_reads_every_page(
    emulator: OnenceEmulator, clock: FakeClock, headers: bool
) -> None:
    """250 SIMs come back in full from 3 pages, with or without X-Total-Pages."""
    emulator.paging_headers = headers
    sims = [emulator.add_sim(label="pump" if n == 0 else None) for n in range(250)]
    async with client(emulator, clock) as provider:
        lines = await provider.async_list_lines()
    assert len(lines) == 250
    assert {line.line_id for line in lines} == {sim.iccid for sim in sims}
    assert emulator.calls("sims") == 3
    assert all(r.query["pageSize"] == "100" for r in emulator.request_log if r.route == "sims")
    assert lines[0].name == "pump"
    assert lines[1].name == f"SIM {sims[1].iccid[-4:]}"


async def test_exact_multiple_without_headers(emulator: OnenceEmulator, clock: FakeClock) -> None:
    """Without paging headers, a full last page needs one more (empty) page to be sure."""
    emulator.paging_headers = False
    for _ in range(200):
        emulator.add_sim()
    async with client(emulator, clock) as provider:
        assert len(await provider.async_list_lines()) == 200
    assert emulator.calls("sims") == 3


async def test_fetch_normalizes_lines(emulator: OnenceEmulator, clock: FakeClock) -> None:
    """MB (1024 KB) become bytes; negative volume clamps to 0; statuses map."""
    healthy = emulator.add_sim(label="gate", volume_mb="350.5", expires_in=timedelta(days=100))
    overdrawn = emulator.add_sim(volume_mb="-1.25")
    disabled = emulator.add_sim(status="Disabled")
    expired = emulator.add_sim(expires_in=timedelta(days=-1))
    refused = emulator.add_sim()
    refused.quota_error = (422, EXPIRED_MESSAGE)
    odd = emulator.add_sim(status="Unheard")
    v2 = emulator.add_sim(quota_overrides={"status": {"id": 1, "description": "EXHAUSTED"}})
    sims = [healthy, overdrawn, disabled, expired, refused, odd, v2]
    async with client(emulator, clock) as provider:
        snapshot = await provider.async_fetch([sim.iccid for sim in sims])

    assert snapshot.wallet is None
    assert not snapshot.missing_line_ids
    assert not snapshot.unreadable_line_ids
    line = snapshot.lines[healthy.iccid]
    assert line.status is LineStatus.ACTIVE
    assert line.name == "gate"
    assert line.data_remaining_bytes == int(Decimal("350.5") * MB)
    assert line.data_total_bytes == 500 * MB
    assert line.data_used_bytes == 500 * MB - int(Decimal("350.5") * MB)
    assert line.expires_at == clock.now + timedelta(days=100)
    assert line.expires_at is not None
    assert line.expires_at.utcoffset() == timedelta(0)
    assert line.phone_number == healthy.msisdn
    assert line.package_id == TOPUP_PACKAGE_ID

    low = snapshot.lines[overdrawn.iccid]
    assert low.data_remaining_bytes == 0
    assert low.data_used_bytes == 500 * MB
    assert low.status is LineStatus.DEPLETED
    assert snapshot.lines[disabled.iccid].status is LineStatus.SUSPENDED
    assert snapshot.lines[expired.iccid].status is LineStatus.EXPIRED
    assert snapshot.lines[refused.iccid].status is LineStatus.EXPIRED
    assert snapshot.lines[refused.iccid].data_remaining_bytes is None
    assert snapshot.lines[odd.iccid].status is LineStatus.UNKNOWN
    assert snapshot.lines[v2.iccid].status is LineStatus.DEPLETED
    # One token, one listing page, one quota per line.
    assert emulator.token_calls == 1
    assert emulator.calls("sims") == 1
    assert emulator.calls("quota") == len(sims)


async def test_disabled_sims_say_why(emulator: OnenceEmulator, clock: FakeClock) -> None:
    """A Disabled SIM is expired, out of data, never activated or suspended: told apart."""
    switched_off = emulator.add_sim(status="Disabled")
    never_activated = emulator.add_sim(status="Disabled", activated=False)
    lifetime_over = emulator.add_sim(status="Disabled", expires_in=timedelta(days=-3))
    quota_over = emulator.add_sim(
        status="Disabled", quota_overrides={"status": {"id": 3, "description": "EXPIRED"}}
    )
    out_of_data = emulator.add_sim(status="Disabled", volume_mb=0)
    sims = [switched_off, never_activated, lifetime_over, quota_over, out_of_data]
    async with client(emulator, clock) as provider:
        snapshot = await provider.async_fetch([sim.iccid for sim in sims])
    statuses = {sim.iccid: snapshot.lines[sim.iccid].status for sim in sims}
    assert statuses == {
        switched_off.iccid: LineStatus.SUSPENDED,
        never_activated.iccid: LineStatus.NOT_ACTIVE,
        lifetime_over.iccid: LineStatus.EXPIRED,
        quota_over.iccid: LineStatus.EXPIRED,
        # Out of data, not expired: a top-up brings it back (1NCE refuses expired SIMs).
        out_of_data.iccid: LineStatus.DEPLETED,
    }


async def test_few_tracked_of_a_large_account_are_read_one_by_one(
    emulator: OnenceEmulator, clock: FakeClock
) -> None:
    """3 tracked of 1,000 SIMs: 3 SIM reads + 3 quotas, not 10 listing pages + 3 quotas."""
    sims = [emulator.add_sim() for _ in range(1000)]
    tracked = [sims[index].iccid for index in (150, 620, 999)]
    async with client(emulator, clock) as provider:
        first = await provider.async_fetch(tracked)
        first_calls = {route: emulator.calls(route) for route in ("sims", "sim", "quota")}
        emulator.request_log.clear()
        again = await provider.async_fetch(tracked)
        again_routes = [record.route for record in emulator.request_log]
        emulator.request_log.clear()
        many = await provider.async_fetch([sim.iccid for sim in sims[::50]])
    assert set(first.lines) == set(again.lines) == set(tracked)
    assert again.lines == first.lines
    # The first refresh learns the account's size from page 1, then reads each SIM.
    assert first_calls == {"sims": 1, "sim": 3, "quota": 3}
    assert sorted(again_routes) == ["quota"] * 3 + ["sim"] * 3
    # 20 tracked SIMs over every page: the 10 listing pages are cheaper than 20 SIM reads.
    assert len(many.lines) == 20
    assert emulator.calls("sims") == 10
    assert emulator.calls("sim") == 0


async def test_without_paging_headers_the_listing_is_paged(
    emulator: OnenceEmulator, clock: FakeClock
) -> None:
    """With no X-Total-Count/X-Total-Pages the account's size is unknown: page it all."""
    emulator.paging_headers = False
    sims = [emulator.add_sim() for _ in range(250)]
    tracked = [sims[120].iccid, sims[240].iccid]
    async with client(emulator, clock) as provider:
        for _ in range(2):
            snapshot = await provider.async_fetch(tracked)
            assert set(snapshot.lines) == set(tracked)
    assert emulator.calls("sims") == 2 * 3
    assert emulator.calls("sim") == 0


async def test_fetch_of_nothing_costs_nothing(emulator: OnenceEmulator, clock: FakeClock) -> None:
    """No tracked line: no request, not even a token."""
    async with client(emulator, clock) as provider:
        snapshot = await provider.async_fetch([])
    assert snapshot.lines == {}
    assert emulator.request_log == []


@pytest.mark.parametrize("status", [403, 404])
async def test_missing_and_unreadable_lines(
    emulator: OnenceEmulator, clock: FakeClock, status: int
) -> None:
    """A SIM not on the account is missing after one direct check; bad quotas are unreadable."""
    emulator.foreign_sim_status = status
    good = emulator.add_sim()
    no_volume = emulator.add_sim(quota_overrides={"volume": None})
    garbled = emulator.add_sim(quota_overrides={"volume": "lots"})
    odd_time = emulator.add_sim(quota_overrides={"expiry_date": "someday"})
    broken = emulator.add_sim()
    broken.quota_error = (400, "Bad Request")
    gone = emulator.add_sim()
    ids = [good.iccid, no_volume.iccid, garbled.iccid, odd_time.iccid, broken.iccid, gone.iccid]
    async with client(emulator, clock) as provider:
        await provider.async_list_lines()
        # The SIM left the account between the listing and its quota read.
        emulator.fail_next["sims"] = "http_500"
        with pytest.raises(ProviderUnavailableError):
            await provider.async_fetch(ids)
        del emulator.sims[gone.iccid]
        snapshot = await provider.async_fetch([*ids, "8988228066999999999"])
    assert set(snapshot.lines) == {good.iccid, odd_time.iccid}
    assert snapshot.lines[odd_time.iccid].expires_at is None
    assert snapshot.unreadable_line_ids == {no_volume.iccid, garbled.iccid, broken.iccid}
    assert snapshot.missing_line_ids == {gone.iccid, "8988228066999999999"}
    assert emulator.calls("sim") == 2


async def test_sim_slipping_between_pages_is_found(socket_enabled: None, clock: FakeClock) -> None:
    """A tracked SIM absent from the listing but present on its own is read, not missing."""
    record = fixture_json("onence", "sims.json")[0]
    iccid = record["iccid"]
    api = CannedApi("/management-api", always={"/oauth/token": TOKEN_ANSWER})
    # The listing (one short page, no paging headers) lacks the SIM: it moved between pages.
    api.queue("/v1/sims", [(200, [])])
    api.queue(f"/v1/sims/{iccid}", [(200, record)])
    api.queue(f"/v1/sims/{iccid}/quota/data", [(200, fixture_json("onence", "quota_data.json"))])
    async with canned_client(api, clock) as provider:
        snapshot = await provider.async_fetch([iccid])
    assert set(snapshot.lines) == {iccid}
    assert [path for path, _ in api.requests].count(f"/v1/sims/{iccid}") == 1


# --- the token -------------------------------------------------------------------------------


async def test_token_is_cached(emulator: OnenceEmulator, clock: FakeClock) -> None:
    """Many requests, concurrent ones included, share one token call (Basic auth)."""
    sim = emulator.add_sim()
    async with client(emulator, clock) as provider:
        await asyncio.gather(*(provider.async_get_account() for _ in range(5)))
        await provider.async_fetch([sim.iccid])
        await provider.async_list_packages(sim.iccid)
        await provider.async_list_lines()
    assert emulator.token_calls == 1
    # token + 5 one-row listings + listing and quota + SIM + listing.
    assert len(emulator.request_log) == 10


async def test_token_expired_mid_session(emulator: OnenceEmulator, clock: FakeClock) -> None:
    """A revoked token is renewed once, even for concurrent callers, and the calls succeed."""
    sims = [emulator.add_sim() for _ in range(4)]
    async with client(emulator, clock) as provider:
        await provider.async_get_account()
        emulator.expire_tokens()
        snapshot = await provider.async_fetch([sim.iccid for sim in sims])
        assert set(snapshot.lines) == {sim.iccid for sim in sims}
        assert emulator.token_calls == 2
        emulator.fail_next["quota"] = "expired_token"
        await provider.async_fetch([sims[0].iccid])
    assert emulator.token_calls == 3


async def test_token_renewed_before_expiry(emulator: OnenceEmulator, clock: FakeClock) -> None:
    """The 3600 s token is renewed shortly before it runs out, never after a 401."""
    async with client(emulator, clock) as provider:
        await provider.async_get_account()
        clock.advance(timedelta(minutes=54))
        await provider.async_get_account()
        assert emulator.token_calls == 1
        clock.advance(timedelta(minutes=2))
        await provider.async_get_account()
    assert emulator.token_calls == 2
    assert 401 not in [r.status for r in emulator.request_log]


async def test_bad_credentials_and_dead_tokens(emulator: OnenceEmulator, clock: FakeClock) -> None:
    """Refused credentials (400 BadCredentials) and tokens that never work are auth errors."""
    async with client(emulator, clock, credential="wrong") as provider:
        with pytest.raises(AuthenticationError, match="Bad credentials"):
            await provider.async_get_account()
    emulator.token_lifetime = 0
    async with client(emulator, clock) as provider:
        with pytest.raises(AuthenticationError):
            await provider.async_get_account()
    assert emulator.token_calls == 3


async def test_token_endpoint_failures(emulator: OnenceEmulator, clock: FakeClock) -> None:
    """429, garbage, a timeout and a request-format 400 at the token endpoint are not auth errors."""
    async with client(emulator, clock) as provider:
        emulator.fail_next[AUTH_ROUTE] = "rate_limit"
        with pytest.raises(RateLimitedError) as err:
            await provider.async_get_account()
        assert err.value.retry_after == 1.0
        emulator.fail_next[AUTH_ROUTE] = "malformed"
        with pytest.raises(ProviderUnavailableError):
            await provider.async_get_account()
        provider.timeout = aiohttp.ClientTimeout(total=0.3)
        emulator.fail_next[AUTH_ROUTE] = "timeout"
        with pytest.raises(ProviderUnavailableError):
            await provider.async_get_account()


async def test_token_request_format_refusal_is_no_auth_error(
    socket_enabled: None, clock: FakeClock
) -> None:
    """A 400 about the request's format (BodyValidationError) is not a refused credential."""
    api = CannedApi("/management-api")
    refusal = {"statusCode": 400, "errorCode": "BodyValidationError", "message": "x"}
    api.queue("/oauth/token", [(400, refusal)])
    async with canned_client(api, clock) as provider:
        with pytest.raises(ProviderUnavailableError) as unavailable:
            await provider.async_get_account()
        assert not isinstance(unavailable.value, AuthenticationError)


# --- limits and errors while reading ---------------------------------------------------------


async def test_rate_limited_and_unusable_reads(emulator: OnenceEmulator, clock: FakeClock) -> None:
    """429 is RateLimitedError with Retry-After; 5xx, bad JSON and timeouts are unavailable."""
    sim = emulator.add_sim()
    async with client(emulator, clock) as provider:
        emulator.fail_next["sims"] = "rate_limit"
        with pytest.raises(RateLimitedError) as err:
            await provider.async_fetch([sim.iccid])
        assert err.value.retry_after == 1.0
        emulator.fail_next["quota"] = "rate_limit"
        with pytest.raises(RateLimitedError):
            await provider.async_fetch([sim.iccid])
        for fault in ("http_500", "http_503", "malformed"):
            emulator.fail_next["sims"] = fault
            with pytest.raises(ProviderUnavailableError) as unavailable:
                await provider.async_list_lines()
            assert not isinstance(unavailable.value, RateLimitedError)
        emulator.fail_next["quota"] = "http_503"
        with pytest.raises(ProviderUnavailableError):
            await provider.async_fetch([sim.iccid])
        provider.timeout = aiohttp.ClientTimeout(total=0.3)
        emulator.fail_next["sims"] = "timeout"
        with pytest.raises(ProviderUnavailableError):
            await provider.async_get_account()


async def test_forbidden_reads_are_auth_errors(emulator: OnenceEmulator, clock: FakeClock) -> None:
    """A 403 that is not about the SIM (a bare one) is AuthenticationError."""
    sim = emulator.add_sim()
    sim.quota_error = (403, "Forbidden")
    async with client(emulator, clock) as provider:
        with pytest.raises(AuthenticationError):
            await provider.async_fetch([sim.iccid])


async def test_bare_forbidden_listing_and_sim_reads(socket_enabled: None, clock: FakeClock) -> None:
    """A bare 403 on the SIM listing or on one SIM is AuthenticationError."""
    api = CannedApi("/management-api", always={"/oauth/token": TOKEN_ANSWER})
    api.queue("/v1/sims", [(403, None)])
    api.queue("/v1/sims/8988228066000000001", [(403, None)])
    async with canned_client(api, clock) as provider:
        with pytest.raises(AuthenticationError):
            await provider.async_get_account()
        with pytest.raises(AuthenticationError):
            await provider.async_list_packages("8988228066000000001")


async def test_client_keeps_to_ten_per_second(emulator: OnenceEmulator, clock: FakeClock) -> None:
    """With the default limiter, 21 /sims calls never meet the emulator's 10/s limit."""
    sims = [emulator.add_sim() for _ in range(20)]
    async with aiohttp.ClientSession() as session:
        provider = OnenceProvider(
            session,
            DEFAULT_CLIENT_ID,
            DEFAULT_CLIENT_SECRET,
            base_url=emulator.base_url,
            clock=clock.monotonic,
        )
        started = time.monotonic()
        snapshot = await provider.async_fetch([sim.iccid for sim in sims])
        elapsed = time.monotonic() - started
    assert len(snapshot.lines) == 20
    assert emulator.throttled == 0
    # 21 requests at 10 per 1.1 s start at t = 0, 1.1 and 2.2 s.
    assert elapsed >= 2.1


# --- packages --------------------------------------------------------------------------------


async def test_packages(emulator: OnenceEmulator, clock: FakeClock) -> None:
    """One package: the product's top-up, as configured (defaults are documented [I])."""
    sim = emulator.add_sim()
    async with client(emulator, clock) as provider:
        package = await _topup(provider, sim.iccid)
        with pytest.raises(LineNotFoundError):
            await provider.async_list_packages("8988228066999999999")
    assert package.package_id == TOPUP_PACKAGE_ID
    assert package.price == Money(Decimal("10.00"), "EUR")
    assert package.data_bytes == 500 * MB
    assert package.validity == timedelta(0)
    async with client(
        emulator, clock, topup_volume_mb=1024, topup_price=Decimal(15), currency="usd"
    ) as provider:
        custom = await _topup(provider, sim.iccid)
    assert custom.price == Money(Decimal(15), "USD")
    assert custom.data_bytes == 1024 * MB
    assert custom.name == "1NCE top-up 1024 MB"


# --- buying ----------------------------------------------------------------------------------


async def test_purchase_charges_exactly_once(emulator: OnenceEmulator, clock: FakeClock) -> None:
    """201 + Location: one invoice, the order followed, the quota grown by 500 MB."""
    sim = emulator.add_sim(volume_mb=20)
    async with client(emulator, clock, payment_method="creditcard") as provider:
        package = await _topup(provider, sim.iccid)
        order = await provider.async_purchase(sim.iccid, package, "ps-0001")
        snapshot = await provider.async_fetch([sim.iccid])
    assert order.order_id == "1001"
    assert order.status is OrderStatus.COMPLETED
    assert order.reference == "ps-0001"
    assert order.package_id == TOPUP_PACKAGE_ID
    assert order.price == Money(Decimal("10.00"), "EUR")
    assert order.created_at == clock.now
    assert [(c.iccid, c.amount, c.payment_method) for c in emulator.ledger] == [
        (sim.iccid, Decimal("10.00"), "creditcard")
    ]
    assert emulator.calls("topup") == 1
    assert emulator.calls("order") == 1
    topup = next(r for r in emulator.request_log if r.route == "topup")
    assert topup.query == {"payment_method": "creditcard"}
    assert snapshot.lines[sim.iccid].data_remaining_bytes == 520 * MB


async def test_order_not_readable_after_the_topup(
    emulator: OnenceEmulator, clock: FakeClock
) -> None:
    """A top-up that got its 201 is a purchase even if its order cannot be read yet."""
    sim = emulator.add_sim()
    async with client(emulator, clock) as provider:
        package = await _topup(provider, sim.iccid)
        emulator.fail_next["order"] = "http_503"
        order = await provider.async_purchase(sim.iccid, package, "ps-quiet")
    assert order.order_id == "1001"
    assert order.status is OrderStatus.PROCESSING
    assert order.price == package.price
    assert order.created_at is not None
    assert len(emulator.ledger) == 1


@pytest.mark.parametrize(
    ("setup", "code"),
    [
        ("expired", "sim_expired"),
        ("payment", "payment_method_invalid"),
        ("foreign", "sim_not_found"),
        ("package", "unknown_package"),
    ],
)
async def test_refusals_charge_nothing(
    emulator: OnenceEmulator, clock: FakeClock, setup: str, code: str
) -> None:
    """422 expired, 400 payment method, a foreign SIM and an unknown package are refusals."""
    sim = emulator.add_sim()
    async with client(emulator, clock) as provider:
        package = await _topup(provider, sim.iccid)
        target = sim.iccid
        if setup == "expired":
            sim.expiry_date = clock.now - timedelta(days=1)
        elif setup == "payment":
            emulator.accepted_payment_methods = {"creditcard"}
        elif setup == "foreign":
            target = "8988228066999999999"
        else:
            package = Package(
                package_id="other",
                name="other",
                price=package.price,
                data_bytes=1,
                validity=timedelta(0),
            )
        with pytest.raises(OrderRejectedError) as err:
            await provider.async_purchase(target, package, "ps-refused")
    assert err.value.code == code
    assert err.value.insufficient_funds is False
    assert emulator.ledger == []


async def test_lost_answer_after_commit_is_found(
    emulator: OnenceEmulator, clock: FakeClock
) -> None:
    """A dropped 201 is 'unknown'; the order list then finds it, and claims it only once."""
    sim = emulator.add_sim()
    other = emulator.add_sim()
    emulator.add_order(iccids=[sim.iccid], age=timedelta(hours=2))  # an old top-up
    emulator.add_order(iccids=[other.iccid])  # someone else's SIM
    emulator.add_order(iccids=[sim.iccid], order_type="TARIFF_CHANGE")
    async with client(emulator, clock) as provider:
        package = await _topup(provider, sim.iccid)
        sent_at = clock.now
        emulator.fail_next["topup"] = "drop_after_commit"
        with pytest.raises(OrderOutcomeUnknownError) as err:
            await provider.async_purchase(sim.iccid, package, "ps-dropped")
        assert err.value.reference == "ps-dropped"
        assert len(emulator.ledger) == 1
        order = await provider.async_find_order(sim.iccid, "ps-dropped", sent_at)
        again = await provider.async_find_order(sim.iccid, "ps-dropped", sent_at)
        # Another lost purchase must not claim the same order.
        assert await provider.async_find_order(sim.iccid, "ps-other", sent_at) is None
    assert order is not None
    assert order == again
    assert order.order_id == str(emulator.ledger[0].order_number)
    assert order.reference == "ps-dropped"
    assert order.status is OrderStatus.COMPLETED
    assert order.price == Money(Decimal("10.00"), "EUR")
    assert order.created_at == clock.now
    assert emulator.calls("topup") == 1
    assert all(
        r.query["sort"] == "-order_date" for r in emulator.request_log if r.route == "orders"
    )


async def test_timeout_before_commit(emulator: OnenceEmulator, clock: FakeClock) -> None:
    """A timeout is 'unknown'; the lookup finds nothing, and nothing was charged."""
    sim = emulator.add_sim()
    async with client(emulator, clock) as provider:
        package = await _topup(provider, sim.iccid)
        provider.timeout = aiohttp.ClientTimeout(total=0.3)
        emulator.fail_next["topup"] = "timeout"
        with pytest.raises(OrderOutcomeUnknownError):
            await provider.async_purchase(sim.iccid, package, "ps-slow")
        provider.timeout = aiohttp.ClientTimeout(total=5)
        assert await provider.async_find_order(sim.iccid, "ps-slow", clock.now) is None
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
    emulator: OnenceEmulator, clock: FakeClock, fault: TokenApiFaultMode, charged: bool
) -> None:
    """5xx (before or after commit) and an undocumented 200 are 'unknown'; the lookup tells."""
    sim = emulator.add_sim()
    async with client(emulator, clock) as provider:
        package = await _topup(provider, sim.iccid)
        emulator.fail_next["topup"] = fault
        with pytest.raises(OrderOutcomeUnknownError):
            await provider.async_purchase(sim.iccid, package, "ps-5xx")
        found = await provider.async_find_order(sim.iccid, "ps-5xx", clock.now)
    assert (found is not None) is charged
    assert len(emulator.ledger) == int(charged)


async def test_purchase_without_location(emulator: OnenceEmulator, clock: FakeClock) -> None:
    """[I] A 201 without Location is resolved through the order list."""
    emulator.location_header = False
    sim = emulator.add_sim()
    async with client(emulator, clock) as provider:
        package = await _topup(provider, sim.iccid)
        order = await provider.async_purchase(sim.iccid, package, "ps-no-location")
    assert order.order_id == "1001"
    assert order.status is OrderStatus.COMPLETED
    assert len(emulator.ledger) == 1


async def test_purchase_with_expired_token_and_rate_limit(
    emulator: OnenceEmulator, clock: FakeClock
) -> None:
    """A 401 on the top-up renews the token and sends once more; a 429 charges nothing."""
    sim = emulator.add_sim()
    async with client(emulator, clock) as provider:
        package = await _topup(provider, sim.iccid)
        emulator.fail_next["topup"] = "expired_token"
        order = await provider.async_purchase(sim.iccid, package, "ps-renewed")
        assert order.order_id == "1001"
        assert emulator.token_calls == 2
        emulator.fail_next["topup"] = "rate_limit"
        with pytest.raises(RateLimitedError):
            await provider.async_purchase(sim.iccid, package, "ps-busy")
    assert len(emulator.ledger) == 1


async def test_connect_failure_is_unavailable(emulator: OnenceEmulator, clock: FakeClock) -> None:
    """Only a failure to connect at all means the top-up certainly was not sent."""
    sim = emulator.add_sim()
    emulator.sims_rate_limit = None
    # A fresh connection per request, so a request after the host is gone must connect anew.
    connector = aiohttp.TCPConnector(force_close=True)
    async with aiohttp.ClientSession(connector=connector) as session:
        provider = OnenceProvider(
            session,
            DEFAULT_CLIENT_ID,
            DEFAULT_CLIENT_SECRET,
            base_url=emulator.base_url,
            clock=clock.monotonic,
            rate_limiter=RateLimiter(1000),
        )
        package = await _topup(provider, sim.iccid)
        # The token is cached; now the host goes away.
        await emulator.close()
        with pytest.raises(ProviderUnavailableError) as err:
            await provider.async_purchase(sim.iccid, package, "ps-nowhere")
        assert not isinstance(err.value, OrderOutcomeUnknownError)
        with pytest.raises(ProviderUnavailableError):
            await provider.async_fetch([sim.iccid])
    assert emulator.ledger == []


@pytest.mark.parametrize(
    ("status", "body", "expected", "code"),
    [
        (
            400,
            {"message": "Payment method used is not valid."},
            OrderRejectedError,
            "payment_method_invalid",
        ),
        (400, None, OrderRejectedError, "bad_request"),
        (404, None, OrderRejectedError, "sim_not_found"),
        (403, {"message": "SIM does not belong to user"}, OrderRejectedError, "sim_not_found"),
        (403, None, AuthenticationError, None),
        (422, None, OrderRejectedError, "sim_expired"),
        (
            409,
            {"error_code": 1000, "error_token": "Conflict", "message": "busy"},
            OrderRejectedError,
            "http_409",
        ),
        (409, None, OrderOutcomeUnknownError, None),
        (408, {"message": "timeout"}, OrderOutcomeUnknownError, None),
        (302, None, OrderOutcomeUnknownError, None),
        (500, {"message": "oops"}, OrderOutcomeUnknownError, None),
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
    if isinstance(error, OrderOutcomeUnknownError):
        assert error.reference == "ps-map"


# --- reconciliation --------------------------------------------------------------------------


async def test_find_order_with_refused_sort(emulator: OnenceEmulator, clock: FakeClock) -> None:
    """[I] If "-order_date" is refused, orders are read unsorted, from the last page back."""
    emulator.sort_prefix_supported = False
    emulator.orders_rate_limit = None
    sim = emulator.add_sim()
    for _ in range(25):
        emulator.add_order(iccids=[sim.iccid], age=timedelta(days=3))
    async with client(emulator, clock) as provider:
        package = await _topup(provider, sim.iccid)
        sent_at = clock.now
        emulator.fail_next["topup"] = "drop_after_commit"
        with pytest.raises(OrderOutcomeUnknownError):
            await provider.async_purchase(sim.iccid, package, "ps-unsorted")
        order = await provider.async_find_order(sim.iccid, "ps-unsorted", sent_at)
    assert order is not None
    assert order.order_id == str(emulator.ledger[0].order_number)
    sorts = [r.query.get("sort") for r in emulator.request_log if r.route == "orders"]
    pages = [r.query["page"] for r in emulator.request_log if r.route == "orders"]
    assert sorts == ["-order_date", None, None]
    assert pages == ["1", "1", "3"]


async def test_find_order_stops_at_the_send_time(
    emulator: OnenceEmulator, clock: FakeClock
) -> None:
    """Newest first: paging stops as soon as a page reaches orders older than the send."""
    sim = emulator.add_sim()
    for _ in range(40):
        emulator.add_order(iccids=[sim.iccid], age=timedelta(days=2))
    async with client(emulator, clock) as provider:
        assert await provider.async_find_order(sim.iccid, "ps-none", clock.now) is None
    assert emulator.calls("orders") == 1


async def test_find_order_reads_later_pages(emulator: OnenceEmulator, clock: FakeClock) -> None:
    """Newest first with recent orders of other SIMs: later pages are read up to the cap."""
    sim = emulator.add_sim()
    sent_at = clock.now
    emulator.add_order(iccids=[sim.iccid + "7"])  # the same SIM, with its Luhn digit
    for _ in range(60):
        emulator.add_order(iccids=["8988228066000000000"])
    async with client(emulator, clock) as provider:
        order = await provider.async_find_order(sim.iccid, "ps-luhn", sent_at)
        assert order is None  # beyond MAX_ORDER_PAGES pages of 10
        emulator.orders = emulator.orders[:1] + emulator.orders[-20:]
        found = await provider.async_find_order(sim.iccid, "ps-luhn", sent_at)
    assert found is not None
    assert found.order_id == "1001"
    assert emulator.calls("orders") == 5 + 3


# --- parsing ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        "2029-01-01T00:00:00.000Z",
        "2029-01-01T00:00:00.000+0000",
        "2029-01-01T01:00:00+01:00",
        "2029-01-01 00:00:00",
    ],
)
def test_parse_time_variants(value: str) -> None:
    """Every documented shape becomes the same aware UTC instant."""
    assert parse_time(value) == datetime(2029, 1, 1, tzinfo=UTC)


def test_small_parsers() -> None:
    """Order numbers, ICCIDs with a Luhn digit, order states and odd values."""
    assert order_number_from("https://api.1nce.com/management-api/v1/orders/1234") == "1234"
    assert order_number_from("/v1/orders/77/") == "77"
    assert order_number_from(None) is None
    assert same_iccid("8988228066000000001", "89882280660000000017")
    assert not same_iccid("8988228066000000001", "8988228066000000002")
    assert order_status("COMPLETED") is OrderStatus.COMPLETED
    assert order_status("cancelled") is OrderStatus.FAILED
    assert order_status("IN_PROGRESS") is OrderStatus.PROCESSING
    assert parse_time(None) is None
    assert parse_time(12) is None
    assert Reply(400, {}, {"error_token": "BadRequest"}).message == "BadRequest"
    assert Reply(400, {}, [1]).message is None


async def test_seeded_emulator_reads_cleanly(emulator: OnenceEmulator, clock: FakeClock) -> None:
    """The standalone seed mixes states; every line reads."""
    emulator.seed(30)
    async with client(emulator, clock) as provider:
        summaries = await provider.async_list_lines()
        snapshot = await provider.async_fetch([s.line_id for s in summaries])
    assert len(snapshot.lines) == 30
    statuses = {line.status for line in snapshot.lines.values()}
    assert {LineStatus.ACTIVE, LineStatus.DEPLETED, LineStatus.SUSPENDED} <= statuses


async def test_concurrent_callers_share_one_renewal(
    emulator: OnenceEmulator, clock: FakeClock
) -> None:
    """Callers refused the same token wait for one renewal instead of each asking."""
    async with client(emulator, clock) as provider:
        await provider.async_get_account()
        emulator.expire_tokens()
        await asyncio.gather(*(provider.async_get_account() for _ in range(4)))
    assert emulator.token_calls == 2


async def test_quota_of_a_sim_that_left(emulator: OnenceEmulator, clock: FakeClock) -> None:
    """A SIM still listed whose quota says "does not belong to user" is missing."""
    sim = emulator.add_sim()
    sim.quota_error = (403, "SIM does not belong to user")
    async with client(emulator, clock) as provider:
        snapshot = await provider.async_fetch([sim.iccid])
    assert snapshot.missing_line_ids == {sim.iccid}


async def test_no_location_and_no_order_list_is_unknown(
    emulator: OnenceEmulator, clock: FakeClock
) -> None:
    """A 201 without Location whose order cannot be found yet stays 'unknown'."""
    emulator.location_header = False
    sim = emulator.add_sim()
    async with client(emulator, clock) as provider:
        package = await _topup(provider, sim.iccid)
        emulator.fail_next["orders"] = "http_500"
        with pytest.raises(OrderOutcomeUnknownError):
            await provider.async_purchase(sim.iccid, package, "ps-lost")
        found = await provider.async_find_order(sim.iccid, "ps-lost", clock.now)
    assert found is not None
    assert len(emulator.ledger) == 1


async def test_odd_answers_on_single_reads(socket_enabled: None, clock: FakeClock) -> None:
    """Odd statuses on a SIM read and on the order list map to unavailable / auth errors."""
    api = CannedApi("/management-api", always={"/oauth/token": TOKEN_ANSWER})
    api.queue("/v1/sims/1", [(400, {"message": "bad"})])
    api.queue(
        "/v1/orders",
        [(403, None), (200, {"data": [{"order_number": 1, "order_type": "TOPUP"}]})],
    )
    async with canned_client(api, clock) as provider:
        with pytest.raises(ProviderUnavailableError):
            await provider.async_list_packages("1")
        with pytest.raises(AuthenticationError):
            await provider.async_find_order("1", "ps-x", clock.now)
        # A wrapped listing without paging headers and without dates: one short page.
        assert await provider.async_find_order("1", "ps-x", clock.now) is None


def test_header_and_number_parsers() -> None:
    """Retry-After as seconds or a date; odd headers and numbers are ignored or refused."""
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0
    assert parse_retry_after("later") is None
    assert parse_retry_after(None) is None
    assert header_int({"x-total-pages": "x"}, "x-total-pages") is None
    assert safe_decimal("NaN") is None
    assert safe_decimal(True) is None
    assert safe_decimal(["1"]) is None
    assert pick_refresh_error([ValueError("x")]).args == ("x",)
