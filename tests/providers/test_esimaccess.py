"""Tests of the eSIM Access client against its loopback emulator."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
import contextlib
import dataclasses
from datetime import UTC, datetime, timedelta
from decimal import Decimal
import math
import socket
import time

import aiohttp
from freezegun.api import FrozenDateTimeFactory
import pytest

from custom_components.prepaid_sim.providers.base import (
    AuthenticationError,
    LineNotFoundError,
    LineStatus,
    Money,
    NotProviderApiError,
    OrderOutcomeUnknownError,
    OrderRejectedError,
    OrderStatus,
    Package,
    ProviderUnavailableError,
    RateLimitedError,
)
from custom_components.prepaid_sim.providers.esimaccess import (
    PAGE_SIZE,
    REQUESTS_PER_SECOND,
    EsimAccessProvider,
)
from custom_components.prepaid_sim.providers.esimaccess.parse import (
    parse_envelope,
    parse_time,
    purchase_error,
)
from custom_components.prepaid_sim.providers.ratelimit import RateLimiter
from tests.emulators.esimaccess import (
    API_PREFIX,
    DEFAULT_ACCESS_CODE,
    GIB,
    MIB,
    CannedReply,
    EsimAccessEmulator,
    FaultMode,
    TopupPackage,
)
from tests.providers.http_dates import HttpDateIn

HMAC_KEY = "s3cret-key"
PURCHASE_FAULTS: tuple[FaultMode, ...] = ("http_500", "malformed", "http_500_after_commit")
READ_FAULTS: tuple[FaultMode, ...] = ("malformed", "http_500", "drop_after_commit")

# The emulator's clock: whole seconds, like the API's timestamps, so times compare exactly.
NOW = datetime.now(UTC).replace(microsecond=0)


@pytest.fixture
async def emulator(socket_enabled: None) -> AsyncIterator[EsimAccessEmulator]:
    """Serve an eSIM Access emulator on loopback for one test (sockets allowed)."""
    async with EsimAccessEmulator(clock=lambda: NOW, timeout_delay=2.0) as server:
        yield server


@contextlib.asynccontextmanager
async def client(
    emulator: EsimAccessEmulator,
    access_code: str = DEFAULT_ACCESS_CODE,
    *,
    secret_key: str | None = None,
    base_url: str | None = None,
) -> AsyncIterator[EsimAccessProvider]:
    """Open a session and a provider pointed at the emulator."""
    async with aiohttp.ClientSession() as session:
        yield EsimAccessProvider(
            session,
            access_code,
            secret_key=secret_key,
            base_url=base_url or emulator.base_url,
        )


async def _package(provider: EsimAccessProvider, line_id: str, code: str) -> Package:
    """Return one of the line's top-up packages by code."""
    packages = await provider.async_list_packages(line_id)
    return next(package for package in packages if package.package_id == code)


# --- reading ---------------------------------------------------------------------------


async def test_list_lines_reads_every_page(emulator: EsimAccessEmulator) -> None:
    """1,203 eSIMs come back in full, in ceil(1203 / 500) = 3 requests."""
    for _ in range(1203):
        emulator.add_esim()
    async with client(emulator) as provider:
        lines = await provider.async_list_lines()
    assert len(lines) == 1203
    assert {line.line_id for line in lines} == set(emulator.esims)
    assert emulator.requests_to("esim/query") == math.ceil(1203 / PAGE_SIZE) == 3
    first = next(iter(emulator.esims.values()))
    summary = next(line for line in lines if line.line_id == first.esim_tran_no)
    assert summary.name == f"eSIM {first.iccid[-4:]}"
    assert summary.plan_name == "United States 3GB 30Days"


async def test_fetch_request_count_follows_the_formula(emulator: EsimAccessEmulator) -> None:
    """A refresh costs 1 balance/query + min(M, ceil(E / 500)) esim/query requests."""
    esims = [emulator.add_esim() for _ in range(1001)]
    pages = math.ceil(1001 / PAGE_SIZE)
    tracked = [esims[0].esim_tran_no, esims[-1].esim_tran_no]
    everything_but_one = [esim.esim_tran_no for esim in esims[:-1]]
    async with client(emulator) as provider:
        snapshot = await provider.async_fetch(tracked)
        assert set(snapshot.lines) == set(tracked)
        assert emulator.requests_to("balance/query") == 1
        # The account size is not known yet: page 1 (which holds the first line), then the
        # other line by itself rather than the two remaining pages.
        assert emulator.requests_to("esim/query") == 2
        emulator.request_log.clear()
        snapshot = await provider.async_fetch(tracked)
        assert set(snapshot.lines) == set(tracked)
        # Now known: two lines by themselves beat three pages.
        assert len(emulator.request_log) == 1 + min(len(tracked), pages)
        emulator.request_log.clear()
        snapshot = await provider.async_fetch(everything_but_one)
        assert len(snapshot.lines) == 1000
        # Many lines: paging is cheaper.
        assert len(emulator.request_log) == 1 + pages
        emulator.request_log.clear()
        empty = await provider.async_fetch([])
    assert empty.lines == {}
    assert emulator.request_log == [API_PREFIX + "balance/query"]


async def test_few_tracked_of_a_large_account_are_read_one_by_one(
    emulator: EsimAccessEmulator,
) -> None:
    """3 tracked of 5,000 eSIMs cost 1 + 3 requests (5 the first time), not 1 + 10 pages."""
    esims = [emulator.add_esim() for _ in range(5000)]
    tracked = [esims[index].esim_tran_no for index in (1200, 2600, 4999)]
    gone = "26129999999999"
    async with client(emulator) as provider:
        first = await provider.async_fetch(tracked)
        first_requests = list(emulator.request_log)
        emulator.request_log.clear()
        again = await provider.async_fetch(tracked)
        again_requests = list(emulator.request_log)
        emulator.request_log.clear()
        with_gone = await provider.async_fetch([*tracked, gone])
    assert set(first.lines) == set(again.lines) == set(tracked)
    assert again.lines == first.lines
    # The first refresh learns the account's size from page 1, then asks for each line.
    assert len(first_requests) == 1 + 1 + 3
    assert len(again_requests) == 1 + 3
    assert again_requests.count(API_PREFIX + "esim/query") == 3
    # An eSIM asked for by its esimTranNo and not returned is missing, at no extra cost.
    assert with_gone.missing_line_ids == {gone}
    assert set(with_gone.lines) == set(tracked)
    assert len(emulator.request_log) == 1 + 4


async def test_ignored_esimtranno_filter_falls_back_to_paging(
    emulator: EsimAccessEmulator,
) -> None:
    """An API that ignores the esimTranNo filter [I] is paged: every line is still found."""
    emulator.filter_by_esim_tran_no = False
    esims = [emulator.add_esim() for _ in range(1200)]
    tracked = [esims[index].esim_tran_no for index in (700, 1100)]
    pages = math.ceil(1200 / PAGE_SIZE)
    async with client(emulator) as provider:
        snapshots = [await provider.async_fetch(tracked)]
        # Now the size is known, two lines by themselves look cheaper than three pages;
        # the answers show the filter ignored, so this refresh pages after all.
        snapshots.append(await provider.async_fetch(tracked))
        emulator.request_log.clear()
        snapshots.append(await provider.async_fetch([*tracked, "26129999999999"]))
    for snapshot in snapshots:
        assert set(snapshot.lines) == set(tracked)
    assert snapshots[-1].missing_line_ids == {"26129999999999"}
    # Once seen ignored, the filter is not tried again, not even for a missing line.
    assert len(emulator.request_log) == 1 + pages


async def test_fetch_normalizes_lines(emulator: EsimAccessEmulator) -> None:
    """Bytes, expiry in aware UTC, wallet and status for every kind of line."""
    healthy = emulator.add_esim(
        total_volume=3 * GIB,
        order_usage=1 * GIB,
        expires_in=timedelta(days=10),
        msisdn="+15550001111",
    )
    depleted = emulator.add_esim(order_usage=3 * GIB, esim_status="USED_UP")
    expired = emulator.add_esim(esim_status="USED_EXPIRED", expires_in=timedelta(days=-2))
    lapsed = emulator.add_esim(esim_status="IN_USE", expires_in=timedelta(hours=-1))
    fresh = emulator.add_esim(esim_status="GOT_RESOURCE", smdp_status="RELEASED", expires_in=None)
    daily = emulator.add_esim(data_type=2, total_volume=1 * GIB, order_usage=2 * GIB + 512 * MIB)
    revoked = emulator.add_esim(esim_status="REVOKED")
    odd = emulator.add_esim(esim_status="SOMETHING_NEW")
    ids = [e.esim_tran_no for e in (healthy, depleted, expired, lapsed, fresh, daily, revoked, odd)]
    async with client(emulator) as provider:
        snapshot = await provider.async_fetch(ids)

    assert snapshot.wallet == Money(Decimal(500), "USD")
    assert not snapshot.missing_line_ids
    assert not snapshot.unreadable_line_ids
    line = snapshot.lines[healthy.esim_tran_no]
    assert line.status is LineStatus.ACTIVE
    assert line.data_total_bytes == 3 * GIB
    assert line.data_used_bytes == 1 * GIB
    assert line.data_remaining_bytes == 2 * GIB
    assert line.unlimited is False
    assert line.expires_at == NOW + timedelta(days=10)
    assert line.expires_at is not None
    assert line.expires_at.utcoffset() == timedelta(0)
    assert line.iccid == healthy.iccid
    assert line.phone_number == "+15550001111"
    assert line.package_id == "US_3GB_30D"
    assert line.plan_name == "United States 3GB 30Days"

    assert snapshot.lines[depleted.esim_tran_no].status is LineStatus.DEPLETED
    assert snapshot.lines[depleted.esim_tran_no].data_remaining_bytes == 0
    assert snapshot.lines[expired.esim_tran_no].status is LineStatus.EXPIRED
    assert snapshot.lines[lapsed.esim_tran_no].status is LineStatus.EXPIRED
    assert snapshot.lines[fresh.esim_tran_no].status is LineStatus.NOT_ACTIVE
    assert snapshot.lines[fresh.esim_tran_no].expires_at is None
    assert snapshot.lines[revoked.esim_tran_no].status is LineStatus.SUSPENDED
    assert snapshot.lines[odd.esim_tran_no].status is LineStatus.UNKNOWN

    # dataType 2: 1 GiB a day, no total over the plan (as every provider's daily plan).
    day_plan = snapshot.lines[daily.esim_tran_no]
    assert day_plan.status is LineStatus.ACTIVE
    assert day_plan.unlimited is True
    assert day_plan.daily_data_bytes == 1 * GIB
    assert day_plan.data_total_bytes is None
    assert day_plan.data_used_bytes == 2 * GIB + 512 * MIB
    assert day_plan.data_remaining_bytes is None


async def test_malformed_and_missing_lines(emulator: EsimAccessEmulator) -> None:
    """A bad record is unreadable, a vanished one missing; the others still read."""
    good = emulator.add_esim()
    no_volume = emulator.add_esim(drop_fields={"totalVolume"})
    bad_usage = emulator.add_esim(overrides={"orderUsage": "lots"})
    bad_time = emulator.add_esim(overrides={"expiredTime": "next Tuesday"})
    bad_packages = emulator.add_esim(overrides={"packageList": "none"})
    broken = [no_volume, bad_usage, bad_time, bad_packages]
    async with client(emulator) as provider:
        snapshot = await provider.async_fetch(
            [good.esim_tran_no, *(e.esim_tran_no for e in broken), "25039999999999"]
        )
        queries = emulator.requests_to("esim/query")
        summaries = await provider.async_list_lines()
    assert set(snapshot.lines) == {good.esim_tran_no}
    assert snapshot.lines[good.esim_tran_no].data_total_bytes == 3 * GIB
    assert snapshot.unreadable_line_ids == {e.esim_tran_no for e in broken}
    assert snapshot.missing_line_ids == {"25039999999999"}
    # One page, plus one direct look for the absent line before calling it missing.
    assert queries == 2
    # Listing still offers the odd lines, so they can be picked.
    assert len(summaries) == 5


@pytest.mark.parametrize(
    "value",
    [
        "2023-08-17T17:01:37+0000",
        "2023-08-17T17:01:37Z",
        "2023-08-17 17:01:37",
        "2023-08-18T01:01:37+08:00",
        "2023-08-17T17:01:37.000+00:00",
    ],
)
def test_parse_time_variants(value: str) -> None:
    """Every timestamp shape becomes the same aware UTC instant."""
    parsed = parse_time(value)
    assert parsed == datetime(2023, 8, 17, 17, 1, 37, tzinfo=UTC)
    assert parsed is not None
    assert parsed.tzinfo is UTC


async def test_packages_are_priced_in_decimal(emulator: EsimAccessEmulator) -> None:
    """Prices times 10,000 become Decimal; volume, validity and daily plans normalize."""
    line = emulator.add_esim()
    europe = emulator.add_esim(location_code="EU-42")
    daily = emulator.add_esim(data_type=2, total_volume=1 * GIB)
    async with client(emulator) as provider:
        packages = {p.package_id: p for p in await provider.async_list_packages(line.esim_tran_no)}
        # The ICCID was looked up once (by esimTranNo) and is reused from the cache after.
        assert emulator.requests_to("esim/query") == 1
        eu = await provider.async_list_packages(europe.esim_tran_no)
        day = await provider.async_list_packages(daily.esim_tran_no)
    assert set(packages) == {"TOPUP_US_1GB_7D", "TOPUP_US_5GB_30D", "TOPUP_US_20GB_30D"}
    small = packages["TOPUP_US_1GB_7D"]
    assert small.price == Money(Decimal("4.5"), "USD")
    assert packages["TOPUP_US_20GB_30D"].price.amount == Decimal("39.85")
    assert small.data_bytes == 1 * GIB
    assert small.validity == timedelta(days=7)
    assert [(p.package_id, p.price, p.validity) for p in eu] == [
        ("TOPUP_EU_3GB_1M", Money(Decimal(8), "EUR"), timedelta(days=30))
    ]
    assert [(p.data_bytes, p.daily_bytes) for p in day] == [(None, 1 * GIB)]


async def test_packages_for_unknown_line(emulator: EsimAccessEmulator) -> None:
    """Packages of a line the account does not have raise LineNotFoundError."""
    emulator.add_esim()
    async with client(emulator) as provider:
        with pytest.raises(LineNotFoundError):
            await provider.async_list_packages("25030000000000")


# --- buying ----------------------------------------------------------------------------


async def test_purchase_charges_exactly_once(emulator: EsimAccessEmulator) -> None:
    """A top-up debits once, extends from the old expiry and reports the new state."""
    line = emulator.add_esim(expires_in=timedelta(days=10))
    async with client(emulator) as provider:
        package = await _package(provider, line.esim_tran_no, "TOPUP_US_5GB_30D")
        order = await provider.async_purchase(line.esim_tran_no, package, "ref-0001")
    assert order.status is OrderStatus.COMPLETED
    assert order.reference == order.order_id == "ref-0001"
    assert order.package_id == "TOPUP_US_5GB_30D"
    assert order.price == Money(Decimal("12.5"), "USD")
    assert order.new_expires_at == NOW + timedelta(days=40)
    assert order.new_data_total_bytes == 8 * GIB
    assert [(c.transaction_id, c.esim_tran_no, c.amount) for c in emulator.ledger] == [
        ("ref-0001", line.esim_tran_no, 125_000)
    ]
    assert emulator.balance == 5_000_000 - 125_000
    assert emulator.requests_to("esim/topup") == 1


async def test_insufficient_balance_is_rejected(emulator: EsimAccessEmulator) -> None:
    """200007 is a refusal with insufficient_funds and nothing charged."""
    line = emulator.add_esim()
    emulator.balance = 10_000
    async with client(emulator) as provider:
        package = await _package(provider, line.esim_tran_no, "TOPUP_US_1GB_7D")
        with pytest.raises(OrderRejectedError) as err:
            await provider.async_purchase(line.esim_tran_no, package, "ref-poor")
    assert err.value.insufficient_funds is True
    assert err.value.code == "200007"
    assert emulator.ledger == []
    assert emulator.balance == 10_000


async def test_changed_price_is_rejected(emulator: EsimAccessEmulator) -> None:
    """The amount price check refuses a stale price instead of charging the new one."""
    line = emulator.add_esim()
    async with client(emulator) as provider:
        package = await _package(provider, line.esim_tran_no, "TOPUP_US_1GB_7D")
        emulator.packages["TOPUP_US_1GB_7D"] = emulator.packages["TOPUP_US_1GB_7D"].__class__(
            package_code="TOPUP_US_1GB_7D", name="US 1GB", price=55_000, volume=GIB, duration=7
        )
        with pytest.raises(OrderRejectedError) as err:
            await provider.async_purchase(line.esim_tran_no, package, "ref-stale")
    assert err.value.code == "200005"
    assert err.value.insufficient_funds is False
    assert emulator.ledger == []


async def test_lost_answer_after_commit_is_found(emulator: EsimAccessEmulator) -> None:
    """A dropped connection after the charge is 'unknown'; the lookup then finds it."""
    line = emulator.add_esim(expires_in=timedelta(days=3))
    async with client(emulator) as provider:
        package = await _package(provider, line.esim_tran_no, "TOPUP_US_1GB_7D")
        sent_at = datetime.now(UTC)
        emulator.fail_next["esim/topup"] = "drop_after_commit"
        with pytest.raises(OrderOutcomeUnknownError) as err:
            await provider.async_purchase(line.esim_tran_no, package, "ref-dropped")
        assert err.value.reference == "ref-dropped"
        assert len(emulator.ledger) == 1
        order = await provider.async_find_order(line.esim_tran_no, "ref-dropped", sent_at)
    assert order is not None
    assert order.reference == "ref-dropped"
    assert order.package_id == "TOPUP_US_1GB_7D"
    assert order.status is OrderStatus.COMPLETED
    assert order.new_expires_at == NOW + timedelta(days=10)
    assert order.new_data_total_bytes == 4 * GIB
    # The lookup never re-sent the top-up.
    assert emulator.requests_to("esim/topup") == 1
    assert len(emulator.ledger) == 1


@pytest.mark.parametrize(
    ("show_transaction_id", "show_create_time", "restart", "found"),
    [
        (False, True, True, True),  # createTime after sent_at is enough, even after restart
        (False, False, False, True),  # same process: the line grew since we sent
        (False, False, True, False),  # restarted and no evidence in the API: cannot tell
    ],
)
async def test_find_order_with_less_evidence(
    emulator: EsimAccessEmulator,
    show_transaction_id: bool,
    show_create_time: bool,
    restart: bool,
    found: bool,
) -> None:
    """Reconciliation falls back to createTime, then to the pre-send baseline."""
    emulator.expose_topup_transaction_ids = show_transaction_id
    emulator.expose_package_create_time = show_create_time
    line = emulator.add_esim()
    async with client(emulator) as provider:
        await provider.async_fetch([line.esim_tran_no])  # the baseline a live process has
        package = await _package(provider, line.esim_tran_no, "TOPUP_US_1GB_7D")
        sent_at = datetime.now(UTC)
        emulator.fail_next["esim/topup"] = "drop_after_commit"
        with pytest.raises(OrderOutcomeUnknownError):
            await provider.async_purchase(line.esim_tran_no, package, "ref-quiet")
        if restart:
            # A new process: a client that never saw the line before the top-up.
            async with client(emulator) as looker:
                order = await looker.async_find_order(line.esim_tran_no, "ref-quiet", sent_at)
        else:
            order = await provider.async_find_order(line.esim_tran_no, "ref-quiet", sent_at)
    assert (order is not None) is found
    assert len(emulator.ledger) == 1


async def test_timeout_before_commit(emulator: EsimAccessEmulator) -> None:
    """A timeout is 'unknown'; the lookup finds nothing, and nothing was charged."""
    line = emulator.add_esim()
    async with client(emulator) as provider:
        package = await _package(provider, line.esim_tran_no, "TOPUP_US_1GB_7D")
        provider.timeout = aiohttp.ClientTimeout(total=0.3)
        sent_at = datetime.now(UTC)
        emulator.fail_next["esim/topup"] = "timeout"
        with pytest.raises(OrderOutcomeUnknownError):
            await provider.async_purchase(line.esim_tran_no, package, "ref-slow")
        assert await provider.async_find_order(line.esim_tran_no, "ref-slow", sent_at) is None
    assert emulator.ledger == []


async def test_server_errors_during_purchase(emulator: EsimAccessEmulator) -> None:
    """HTTP 500 (before or after commit) and bad JSON are 'unknown', never a refusal."""
    line = emulator.add_esim()
    async with client(emulator) as provider:
        package = await _package(provider, line.esim_tran_no, "TOPUP_US_1GB_7D")
        for number, fault in enumerate(PURCHASE_FAULTS):
            emulator.fail_next["esim/topup"] = fault
            with pytest.raises(OrderOutcomeUnknownError):
                await provider.async_purchase(line.esim_tran_no, package, f"ref-5xx-{number}")
        sent_at = datetime.now(UTC) - timedelta(seconds=5)
        assert await provider.async_find_order(line.esim_tran_no, "ref-5xx-0", sent_at) is None
        found = await provider.async_find_order(line.esim_tran_no, "ref-5xx-2", sent_at)
    assert found is not None
    assert found.reference == "ref-5xx-2"
    assert [charge.transaction_id for charge in emulator.ledger] == ["ref-5xx-2"]


async def test_connect_failure_is_unavailable(emulator: EsimAccessEmulator) -> None:
    """Only a failure to connect at all means the order certainly was not sent."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    line = emulator.add_esim()
    package = Package(
        package_id="TOPUP_US_1GB_7D",
        name="US 1GB",
        price=Money(Decimal("4.5"), "USD"),
        data_bytes=GIB,
        validity=timedelta(days=7),
    )
    async with client(emulator, base_url=f"http://127.0.0.1:{port}") as provider:
        with pytest.raises(ProviderUnavailableError) as err:
            await provider.async_purchase(line.esim_tran_no, package, "ref-nowhere")
        assert not isinstance(err.value, OrderOutcomeUnknownError)
        with pytest.raises(ProviderUnavailableError):
            await provider.async_fetch([line.esim_tran_no])


@pytest.mark.parametrize(
    ("body", "expected", "insufficient"),
    [
        (b'{"success":false,"errorCode":"200007","errorMsg":"low"}', OrderRejectedError, True),
        (b'{"success":false,"errorCode":"310241","errorMessage":"no"}', OrderRejectedError, False),
        (
            b'{"success":false,"errorCode":"000106","errorMessage":"pager"}',
            OrderRejectedError,
            False,
        ),
        (b'{"success":false,"errorCode":"101003","errorMessage":"sig"}', AuthenticationError, None),
        (
            b'{"success":false,"errorCode":"000102","errorMessage":"RT-AccessCode is invalid"}',
            AuthenticationError,
            None,
        ),
        (
            b'{"success":false,"errorCode":1,"errorMessage":"server error"}',
            OrderOutcomeUnknownError,
            None,
        ),
        (
            b'{"success":false,"errorCode":"900001","errorMessage":"busy"}',
            OrderOutcomeUnknownError,
            None,
        ),
    ],
)
def test_purchase_error_codes(
    body: bytes, expected: type[Exception], insufficient: bool | None
) -> None:
    """Each documented top-up error code lands on the right side of the contract."""
    envelope = parse_envelope(body)
    assert envelope is not None
    assert not envelope.success
    error = purchase_error(envelope, "ref-codes")
    assert type(error) is expected
    if isinstance(error, OrderRejectedError):
        assert error.insufficient_funds is insufficient
        assert error.message in {"low", "no", "pager"}  # errorMsg and errorMessage both read
    if isinstance(error, OrderOutcomeUnknownError):
        assert error.reference == "ref-codes"


# --- errors while reading ----------------------------------------------------------------


async def test_rate_limited_answer(emulator: EsimAccessEmulator) -> None:
    """429 is RateLimitedError with Retry-After, and the limiter then holds requests."""
    line = emulator.add_esim()
    async with client(emulator) as provider:
        emulator.fail_next["balance/query"] = "rate_limit"
        with pytest.raises(RateLimitedError) as err:
            await provider.async_get_account()
        assert err.value.retry_after == 1.0
        started = time.monotonic()
        await provider.async_get_account()
        assert time.monotonic() - started >= 0.9
        package = await _package(provider, line.esim_tran_no, "TOPUP_US_1GB_7D")
        emulator.fail_next["esim/topup"] = "rate_limit"
        with pytest.raises(RateLimitedError):
            await provider.async_purchase(line.esim_tran_no, package, "ref-busy")
    assert emulator.ledger == []
    assert emulator.requests_to("esim/topup") == 1  # a purchase is never retried


async def test_unusable_answers_are_unavailable(emulator: EsimAccessEmulator) -> None:
    """Malformed JSON, HTTP 500, a server error envelope and a drop are ProviderUnavailable."""
    line = emulator.add_esim()
    async with client(emulator) as provider:
        for fault in READ_FAULTS:
            emulator.fail_next["esim/query"] = fault
            with pytest.raises(ProviderUnavailableError) as err:
                await provider.async_fetch([line.esim_tran_no])
            assert not isinstance(err.value, RateLimitedError)
        emulator.fail_next["balance/query"] = "timeout"
        provider.timeout = aiohttp.ClientTimeout(total=0.2)
        with pytest.raises(ProviderUnavailableError):
            await provider.async_get_account()


async def test_bad_access_code(emulator: EsimAccessEmulator) -> None:
    """A refused or expired access code is AuthenticationError, also on purchase."""
    line = emulator.add_esim()
    async with client(emulator, "not-my-code") as provider:
        with pytest.raises(AuthenticationError):
            await provider.async_get_account()
    async with client(emulator) as provider:
        package = await _package(provider, line.esim_tran_no, "TOPUP_US_1GB_7D")
        emulator.fail_next["esim/query"] = "expired_key"
        with pytest.raises(AuthenticationError):
            await provider.async_fetch([line.esim_tran_no])
        emulator.fail_next["esim/topup"] = "expired_key"
        with pytest.raises(AuthenticationError):
            await provider.async_purchase(line.esim_tran_no, package, "ref-auth")
    assert emulator.ledger == []


async def test_account_id_is_stable_and_opaque(emulator: EsimAccessEmulator) -> None:
    """The account id derives from the access code without revealing it."""
    emulator.valid_access_codes.add("other-code")
    async with client(emulator) as provider:
        account = await provider.async_get_account()
        again = await provider.async_get_account()
    async with client(emulator, "other-code") as provider:
        other = await provider.async_get_account()
    assert account.account_id == again.account_id
    assert account.account_id.startswith("esimaccess-")
    assert DEFAULT_ACCESS_CODE not in account.account_id
    assert other.account_id != account.account_id
    assert account.name is None  # the API names no account
    assert account.wallet == Money(Decimal(500), "USD")


async def test_hmac_signing(socket_enabled: None) -> None:
    """With a secret the emulator demands signatures; only the right secret passes."""
    async with EsimAccessEmulator(secret_key=HMAC_KEY) as emulator:
        line = emulator.add_esim()
        async with client(emulator, secret_key=HMAC_KEY) as provider:
            snapshot = await provider.async_fetch([line.esim_tran_no])
            assert set(snapshot.lines) == {line.esim_tran_no}
        async with client(emulator, secret_key=HMAC_KEY + "-wrong") as provider:
            with pytest.raises(AuthenticationError, match="101003"):
                await provider.async_get_account()
        async with client(emulator) as provider:
            with pytest.raises(AuthenticationError):
                await provider.async_get_account()


async def test_rate_limiter_keeps_under_eight_per_second(
    emulator: EsimAccessEmulator,
) -> None:
    """A burst of 30 calls is spread out so the emulator never has to answer 429."""
    async with aiohttp.ClientSession() as session:
        # Control: without the limiter the same emulator does throttle a burst.
        url = emulator.base_url + API_PREFIX + "balance/query"
        headers = {"RT-AccessCode": DEFAULT_ACCESS_CODE}
        statuses = await asyncio.gather(
            *(session.post(url, json={}, headers=headers) for _ in range(12))
        )
        assert 429 in {response.status for response in statuses}
        for response in statuses:
            response.release()
    await asyncio.sleep(1.0)  # let the emulator's window empty
    emulator.throttled = 0
    emulator.request_log.clear()
    async with client(emulator) as provider:
        started = time.monotonic()
        accounts = await asyncio.gather(*(provider.async_get_account() for _ in range(30)))
        elapsed = time.monotonic() - started
    assert len(accounts) == 30
    assert emulator.throttled == 0
    assert len(emulator.request_log) == 30
    # 30 requests at 8/s start at t = 0, 1, 2 and 3 s.
    assert elapsed >= 2.9


# --- tolerant reading of undocumented shapes [I] ---------------------------------------------


class RecordingLimiter(RateLimiter):
    """A rate limiter that records the holds asked of it instead of sleeping through them."""

    def __init__(self) -> None:
        super().__init__(REQUESTS_PER_SECOND)
        self.holds: list[float] = []

    def block_for(self, seconds: float) -> None:
        self.holds.append(seconds)


def _envelope_body(obj: object) -> dict[str, object]:
    """A successful answer envelope around ``obj``."""
    return {"success": True, "errorCode": "0", "errorMessage": None, "obj": obj}


async def test_undocumented_field_shapes_still_read(emulator: EsimAccessEmulator) -> None:
    """Float or digit-string volumes, epoch expiries, numeric MSISDNs and a null packageList
    read with the right values; a fully used IN_USE line is already depleted."""
    ends = NOW + timedelta(days=3)
    loose = emulator.add_esim(overrides={"totalVolume": float(3 * GIB), "orderUsage": str(GIB)})
    epoch = emulator.add_esim(overrides={"expiredTime": int(ends.timestamp())})
    epoch_ms = emulator.add_esim(overrides={"expiredTime": int(ends.timestamp()) * 1000})
    numeric = emulator.add_esim(overrides={"msisdn": 15550001111})
    bare = emulator.add_esim(drop_fields={"iccid"}, overrides={"packageList": None})
    used_up = emulator.add_esim(total_volume=2 * GIB, order_usage=2 * GIB)
    ids = [e.esim_tran_no for e in (loose, epoch, epoch_ms, numeric, bare, used_up)]
    async with client(emulator) as provider:
        snapshot = await provider.async_fetch(ids)
    assert not snapshot.unreadable_line_ids
    assert set(snapshot.lines) == set(ids)
    lines = snapshot.lines
    assert (
        lines[loose.esim_tran_no].data_total_bytes,
        lines[loose.esim_tran_no].data_used_bytes,
        lines[loose.esim_tran_no].data_remaining_bytes,
    ) == (3 * GIB, GIB, 2 * GIB)
    assert lines[epoch.esim_tran_no].expires_at == ends
    assert lines[epoch_ms.esim_tran_no].expires_at == ends
    assert lines[epoch.esim_tran_no].status is LineStatus.ACTIVE
    assert lines[numeric.esim_tran_no].phone_number == "15550001111"
    no_plan = lines[bare.esim_tran_no]
    assert no_plan.name == f"eSIM {bare.esim_tran_no}"
    assert (no_plan.iccid, no_plan.plan_name, no_plan.package_id) == (None, None, None)
    assert lines[used_up.esim_tran_no].status is LineStatus.DEPLETED
    assert lines[used_up.esim_tran_no].data_remaining_bytes == 0


async def test_unreadable_field_values_isolate_the_line(emulator: EsimAccessEmulator) -> None:
    """Each wrong-typed or out-of-range value makes only its own line unreadable."""
    good = emulator.add_esim()
    odd_values: list[dict[str, object]] = [
        {"totalVolume": True},
        {"totalVolume": -1},
        {"orderUsage": 1.5},
        {"iccid": {"number": 1}},
        {"expiredTime": True},
        {"expiredTime": [2025, 1, 1]},
        # Out of the calendar: these used to escape as OSError / OverflowError.
        {"expiredTime": 1e20},
        {"expiredTime": "9999-12-31T23:59:59-01:00"},
        {"packageList": ["the plan"]},
        # Impossible values of the right type (see plausible.py).
        {"esimStatus": 1},
        {"totalVolume": 10**15 + 1},
        {"orderUsage": 2 * 10**15},
        {"expiredTime": "1999-12-31T23:59:59+0000"},
        {"expiredTime": "2101-01-01T00:00:00+0000"},
        {"expiredTime": 0},
    ]
    broken = [emulator.add_esim(overrides=values) for values in odd_values]
    async with client(emulator) as provider:
        snapshot = await provider.async_fetch(
            [good.esim_tran_no, *(e.esim_tran_no for e in broken)]
        )
    assert set(snapshot.lines) == {good.esim_tran_no}
    assert snapshot.unreadable_line_ids == {e.esim_tran_no for e in broken}
    assert not snapshot.missing_line_ids


async def test_records_without_esimtranno_are_not_offered(emulator: EsimAccessEmulator) -> None:
    """A record that cannot be tied to a line is neither listed nor mistaken for one."""
    good = emulator.add_esim()
    emulator.add_esim(drop_fields={"esimTranNo"})
    async with client(emulator) as provider:
        summaries = await provider.async_list_lines()
        snapshot = await provider.async_fetch([good.esim_tran_no])
    assert [summary.line_id for summary in summaries] == [good.esim_tran_no]
    assert set(snapshot.lines) == {good.esim_tran_no}


async def test_paging_without_a_pager_stops_at_a_short_page(
    emulator: EsimAccessEmulator,
) -> None:
    """Without pager.total, pages are read until one comes back short (here: empty)."""
    emulator.send_pager = False
    esims = [emulator.add_esim() for _ in range(2 * PAGE_SIZE)]
    async with client(emulator) as provider:
        lines = await provider.async_list_lines()
    assert {line.line_id for line in lines} == {e.esim_tran_no for e in esims}
    assert emulator.requests_to("esim/query") == 3


async def test_record_slipping_between_pages_is_looked_up(emulator: EsimAccessEmulator) -> None:
    """An eSIM removed while paging shifts the next page; the record that slipped between
    the pages is asked for directly and still read, not reported missing."""
    esims = [emulator.add_esim() for _ in range(2 * PAGE_SIZE)]
    first, slipped = esims[0], esims[PAGE_SIZE]

    def remove_first_after_page_one(endpoint: str, body: dict[str, object]) -> None:
        pager = body.get("pager")
        if (
            endpoint == "esim/query"
            and not body.get("esimTranNo")
            and isinstance(pager, dict)
            and pager.get("pageNum") == 1
        ):
            emulator.esims.pop(first.esim_tran_no, None)

    emulator.on_answer = remove_first_after_page_one
    async with client(emulator) as provider:
        snapshot = await provider.async_fetch([first.esim_tran_no, slipped.esim_tran_no])
    # The removed eSIM was still on page 1 when it was read.
    assert set(snapshot.lines) == {first.esim_tran_no, slipped.esim_tran_no}
    assert not snapshot.missing_line_ids
    assert snapshot.lines[slipped.esim_tran_no].iccid == slipped.iccid
    # Two pages, then one direct look for the line absent from both.
    assert emulator.requests_to("esim/query") == 3


async def test_line_lookup_falls_back_when_the_filter_is_ignored(
    emulator: EsimAccessEmulator,
) -> None:
    """If esim/query ignores the esimTranNo filter, the line is found in the full list."""
    emulator.filter_by_esim_tran_no = False
    esims = [emulator.add_esim() for _ in range(PAGE_SIZE + 1)]
    last = esims[-1]
    async with client(emulator) as provider:
        packages = await provider.async_list_packages(last.esim_tran_no)
    assert {p.package_id for p in packages} == {
        "TOPUP_US_1GB_7D",
        "TOPUP_US_5GB_30D",
        "TOPUP_US_20GB_30D",
    }
    # The (ignored) direct look, then both pages of the full list.
    assert emulator.requests_to("esim/query") == 3


async def test_packages_tolerate_odd_catalogue_entries(emulator: EsimAccessEmulator) -> None:
    """Odd but usable entries normalize; entries that cannot be priced, timed or named are
    skipped without hiding the others."""
    line = emulator.add_esim()

    def topup(code: str, **changes: object) -> TopupPackage:
        return dataclasses.replace(
            TopupPackage(package_code=code, name=code, price=45_000, volume=GIB, duration=7),
            **changes,
        )

    emulator.packages = {
        package.package_code: package
        for package in (
            topup("TEXT_PRICE", overrides={"price": " 45000 ", "currencyCode": "eur"}),
            topup("WEEKS", duration=2, overrides={"durationUnit": "weeks"}),
            topup("NO_UNIT", duration=5, drop_fields=frozenset({"durationUnit"})),
            topup("NO_NAME", drop_fields=frozenset({"name"})),
            topup("WORDY_PRICE", overrides={"price": "ask us"}),
            topup("NEGATIVE_PRICE", overrides={"price": -10_000}),
            topup("ENDLESS_PRICE", overrides={"price": "Infinity"}),
            topup("NO_PRICE", overrides={"price": None}),
            topup("ODD_UNIT", overrides={"durationUnit": "FORTNIGHT"}),
            topup("ENDLESS", overrides={"duration": 10**12}),
            topup("NO_CODE", drop_fields=frozenset({"packageCode"})),
        )
    }
    async with client(emulator) as provider:
        packages = {p.package_id: p for p in await provider.async_list_packages(line.esim_tran_no)}
    assert set(packages) == {"TEXT_PRICE", "WEEKS", "NO_UNIT", "NO_NAME"}
    assert packages["TEXT_PRICE"].price == Money(Decimal("4.5"), "EUR")
    assert packages["WEEKS"].validity == timedelta(weeks=2)
    assert packages["NO_UNIT"].validity == timedelta(days=5)
    assert packages["NO_NAME"].name == "NO_NAME"


@pytest.mark.parametrize("obj", [{"packageList": "none today"}, "TOPUP_US_1GB_7D"])
async def test_unusable_package_list_is_unavailable(
    emulator: EsimAccessEmulator, obj: object
) -> None:
    """An answer without a readable packageList is an error, not an empty catalogue."""
    line = emulator.add_esim()
    emulator.reply_next["package/list"] = CannedReply(body=_envelope_body(obj))
    async with client(emulator) as provider:
        with pytest.raises(ProviderUnavailableError, match="package/list"):
            await provider.async_list_packages(line.esim_tran_no)


async def test_packages_need_the_line_iccid(emulator: EsimAccessEmulator) -> None:
    """Without an ICCID no catalogue can be asked for; a numeric ICCID is used as text."""
    nameless = emulator.add_esim(drop_fields={"iccid"})
    garbled = emulator.add_esim(overrides={"iccid": {"value": "8985"}})
    numeric = emulator.add_esim()
    numeric.overrides["iccid"] = int(numeric.iccid)
    async with client(emulator) as provider:
        for line in (nameless, garbled):
            with pytest.raises(ProviderUnavailableError, match="no ICCID"):
                await provider.async_list_packages(line.esim_tran_no)
        assert emulator.requests_to("package/list") == 0
        packages = await provider.async_list_packages(numeric.esim_tran_no)
    assert "TOPUP_US_1GB_7D" in {p.package_id for p in packages}


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        # ``success`` omitted: an errorCode of "0", or none at all, means success [I].
        (200, {"errorCode": "0", "obj": {"balance": 20_000}}, Money(Decimal(2), "USD")),
        (200, {"obj": {"balance": 20_000, "currencyCode": "eur"}}, Money(Decimal(2), "EUR")),
        (200, {"errorCode": "000001", "errorMsg": "system busy"}, ProviderUnavailableError),
        # Header/parameter codes: only a message about the credentials is an auth failure.
        (
            200,
            {"success": False, "errorCode": "000106", "errorMessage": "pager is invalid"},
            ProviderUnavailableError,
        ),
        (
            200,
            {"success": False, "errorCode": "000101", "errorMessage": "RT-Timestamp missing"},
            AuthenticationError,
        ),
        (200, [{"success": True, "obj": {"balance": 1}}], ProviderUnavailableError),
        (200, {"result": "ok"}, ProviderUnavailableError),
        (200, _envelope_body({"balance": None}), ProviderUnavailableError),
        (200, _envelope_body("5000000"), ProviderUnavailableError),
        (401, "Unauthorized", AuthenticationError),
        (403, {"message": "IP not whitelisted"}, AuthenticationError),
        # Every endpoint exists: a 404 means the base URL is not the API.
        (404, "Not Found", NotProviderApiError),
    ],
)
async def test_answer_shapes_on_read(
    emulator: EsimAccessEmulator, status: int, body: object, expected: Money | type[Exception]
) -> None:
    """Envelope variants and HTTP statuses map to a wallet or to the right error."""
    emulator.reply_next["balance/query"] = CannedReply(status=status, body=body)
    async with client(emulator) as provider:
        if isinstance(expected, Money):
            assert (await provider.async_get_account()).wallet == expected
            return
        with pytest.raises(expected) as err:
            await provider.async_get_account()
    assert type(err.value) is expected


@pytest.mark.parametrize(
    "obj",
    [
        {"esimList": "none", "pager": {"pageNum": 1, "total": 0}},
        {"esimList": [], "pager": "page 1 of 1"},
        {"esimList": [], "pager": {"total": -1}},
        ["not", "an", "object"],
    ],
)
async def test_unusable_esim_query_is_unavailable(
    emulator: EsimAccessEmulator, obj: object
) -> None:
    """A listing whose list or pager cannot be read fails, rather than listing no lines."""
    emulator.add_esim()
    emulator.reply_next["esim/query"] = CannedReply(body=_envelope_body(obj))
    async with client(emulator) as provider:
        with pytest.raises(ProviderUnavailableError, match="esim/query"):
            await provider.async_list_lines()


@pytest.mark.parametrize(
    ("header", "low", "high"),
    [
        (None, None, None),
        ("3", 3.0, 3.0),
        (HttpDateIn(minutes=10), 500.0, 600.0),
        (HttpDateIn(minutes=10, zone=False), 500.0, 600.0),
        (HttpDateIn(minutes=-10), 0.0, 0.0),
        ("soon", None, None),
        ("inf", None, None),
        ("nan", None, None),
    ],
    ids=[
        "absent",
        "seconds",
        "http-date-gmt",
        "http-date-no-zone",
        "http-date-past",
        "word",
        "inf",
        "nan",
    ],
)
async def test_retry_after_forms(
    emulator: EsimAccessEmulator,
    header: str | HttpDateIn | None,
    low: float | None,
    high: float | None,
) -> None:
    """Retry-After in seconds or as an HTTP date is honoured; absent or unusable values
    (never infinite ones) hold requests for the default second."""
    if isinstance(header, HttpDateIn):
        header = header.render()
    headers = {} if header is None else {"Retry-After": header}
    emulator.reply_next["balance/query"] = CannedReply(
        status=429, body={"errorMessage": "Too Many Requests"}, headers=headers
    )
    async with client(emulator) as provider:
        limiter = provider.rate_limiter = RecordingLimiter()
        with pytest.raises(RateLimitedError) as err:
            await provider.async_get_account()
    if low is None or high is None:
        assert err.value.retry_after is None
        assert limiter.holds == [1.0]
    else:
        assert err.value.retry_after is not None
        assert low <= err.value.retry_after <= high
        assert limiter.holds == [err.value.retry_after]


# --- purchase edge cases -------------------------------------------------------------------


def _us_1gb() -> Package:
    """The emulator's TOPUP_US_1GB_7D as the client lists it."""
    return Package(
        package_id="TOPUP_US_1GB_7D",
        name="United States 1GB 7Days",
        price=Money(Decimal("4.5"), "USD"),
        data_bytes=GIB,
        validity=timedelta(days=7),
    )


@pytest.mark.parametrize("reference", ["", "r" * 51])
async def test_bad_reference_is_refused_unsent(
    emulator: EsimAccessEmulator, reference: str
) -> None:
    """A transactionId the API cannot take is refused before anything is sent."""
    line = emulator.add_esim()
    async with client(emulator) as provider:
        with pytest.raises(OrderRejectedError) as err:
            await provider.async_purchase(line.esim_tran_no, _us_1gb(), reference)
    assert err.value.code == "reference"
    assert emulator.requests_to("esim/topup") == 0
    assert emulator.ledger == []


async def test_longest_reference_is_accepted(emulator: EsimAccessEmulator) -> None:
    """50 characters is the documented maximum, and still a purchase."""
    line = emulator.add_esim()
    async with client(emulator) as provider:
        order = await provider.async_purchase(line.esim_tran_no, _us_1gb(), "r" * 50)
    assert order.reference == "r" * 50
    assert [charge.transaction_id for charge in emulator.ledger] == ["r" * 50]


@pytest.mark.parametrize(
    "overrides",
    [
        {"expiredTime": "soon", "totalVolume": "lots", "orderNo": "B2503000000099"},
        # Out of the calendar: this used to escape as OSError after the charge.
        {"expiredTime": 1e20, "totalVolume": -5, "orderNo": "B2503000000099"},
    ],
)
async def test_charged_topup_with_odd_answer_is_completed(
    emulator: EsimAccessEmulator, overrides: dict[str, object]
) -> None:
    """Unreadable new expiry/volume in the answer leave them unknown; the order stands."""
    line = emulator.add_esim()
    emulator.topup_answer_overrides = overrides
    async with client(emulator) as provider:
        order = await provider.async_purchase(line.esim_tran_no, _us_1gb(), "ref-odd-answer")
    assert order.status is OrderStatus.COMPLETED
    assert order.order_id == "B2503000000099"
    assert order.reference == "ref-odd-answer"
    assert order.new_expires_at is None
    assert order.new_data_total_bytes is None
    assert len(emulator.ledger) == 1


@pytest.mark.parametrize("status", [401, 403])
async def test_purchase_refused_at_the_door(emulator: EsimAccessEmulator, status: int) -> None:
    """HTTP 401/403 on a top-up is an authentication failure and nothing is charged."""
    line = emulator.add_esim()
    emulator.reply_next["esim/topup"] = CannedReply(status=status, body="Forbidden")
    async with client(emulator) as provider:
        with pytest.raises(AuthenticationError):
            await provider.async_purchase(line.esim_tran_no, _us_1gb(), "ref-door")
    assert emulator.ledger == []


async def test_purchase_on_line_with_unreadable_cached_record(
    emulator: EsimAccessEmulator,
) -> None:
    """An unreadable last read only loses the baseline; the top-up still goes out once."""
    line = emulator.add_esim(overrides={"totalVolume": "plenty"})
    async with client(emulator) as provider:
        snapshot = await provider.async_fetch([line.esim_tran_no])
        assert snapshot.unreadable_line_ids == {line.esim_tran_no}
        order = await provider.async_purchase(line.esim_tran_no, _us_1gb(), "ref-cached")
    assert order.status is OrderStatus.COMPLETED
    assert [charge.transaction_id for charge in emulator.ledger] == ["ref-cached"]


async def test_find_order_for_vanished_line(emulator: EsimAccessEmulator) -> None:
    """A line the account no longer has holds no order; nothing is re-sent."""
    emulator.add_esim()
    async with client(emulator) as provider:
        found = await provider.async_find_order("25039999999999", "ref-gone", NOW)
    assert found is None
    assert emulator.requests_to("esim/topup") == 0


async def test_find_order_on_unreadable_line_is_unavailable(
    emulator: EsimAccessEmulator,
) -> None:
    """'Cannot read the line' is never 'not placed'; once it reads, the order is found."""
    line = emulator.add_esim()
    async with client(emulator) as provider:
        sent_at = datetime.now(UTC)
        emulator.fail_next["esim/topup"] = "drop_after_commit"
        with pytest.raises(OrderOutcomeUnknownError):
            await provider.async_purchase(line.esim_tran_no, _us_1gb(), "ref-blurred")
        line.overrides["expiredTime"] = "next Tuesday"
        with pytest.raises(ProviderUnavailableError, match="cannot be read"):
            await provider.async_find_order(line.esim_tran_no, "ref-blurred", sent_at)
        line.overrides.clear()
        order = await provider.async_find_order(line.esim_tran_no, "ref-blurred", sent_at)
    assert order is not None
    assert order.reference == "ref-blurred"
    assert len(emulator.ledger) == 1


async def test_baseline_of_another_line_is_not_evidence(emulator: EsimAccessEmulator) -> None:
    """The pre-send state of the line actually topped up is never compared with another
    line (whose later expiry would otherwise look like our top-up)."""
    emulator.expose_topup_transaction_ids = False
    emulator.expose_package_create_time = False
    topped = emulator.add_esim(expires_in=timedelta(days=10))
    other = emulator.add_esim(expires_in=timedelta(days=60))
    async with client(emulator) as provider:
        await provider.async_fetch([topped.esim_tran_no, other.esim_tran_no])
        sent_at = datetime.now(UTC)
        emulator.fail_next["esim/topup"] = "drop_after_commit"
        with pytest.raises(OrderOutcomeUnknownError):
            await provider.async_purchase(topped.esim_tran_no, _us_1gb(), "ref-mine")
        elsewhere = await provider.async_find_order(other.esim_tran_no, "ref-mine", sent_at)
        mine = await provider.async_find_order(topped.esim_tran_no, "ref-mine", sent_at)
    assert elsewhere is None
    assert mine is not None
    assert mine.line_id == topped.esim_tran_no
    assert mine.package_id == "TOPUP_US_1GB_7D"


async def test_unreadable_create_time_is_ignored(emulator: EsimAccessEmulator) -> None:
    """A bad createTime neither hides an order proven by its transactionId nor counts as
    evidence on its own."""
    line = emulator.add_esim()
    async with client(emulator) as provider:
        sent_at = datetime.now(UTC)
        emulator.fail_next["esim/topup"] = "drop_after_commit"
        with pytest.raises(OrderOutcomeUnknownError):
            await provider.async_purchase(line.esim_tran_no, _us_1gb(), "ref-undated")
        line.package_list[-1]["createTime"] = "just now"
        proven = await provider.async_find_order(line.esim_tran_no, "ref-undated", sent_at)
    assert proven is not None
    assert proven.reference == "ref-undated"
    assert proven.created_at is None
    emulator.expose_topup_transaction_ids = False
    async with client(emulator) as restarted:
        assert await restarted.async_find_order(line.esim_tran_no, "ref-undated", sent_at) is None
    assert len(emulator.ledger) == 1


async def test_unchanged_records_reuse_their_lines_until_expiry(
    emulator: EsimAccessEmulator, freezer: FrozenDateTimeFactory
) -> None:
    """An unchanged record is not parsed again, but a passed expiry still shows as expired."""
    steady = emulator.add_esim(expires_in=timedelta(days=10))
    ending = emulator.add_esim(expires_in=timedelta(hours=1))
    ids = [steady.esim_tran_no, ending.esim_tran_no]
    async with client(emulator) as provider:
        first = await provider.async_fetch(ids)
        assert first.lines[ending.esim_tran_no].status is LineStatus.ACTIVE
        # Two hours on, the provider still sends the very same records.
        freezer.tick(timedelta(hours=2))
        second = await provider.async_fetch(ids)
        freezer.tick(timedelta(minutes=30))
        third = await provider.async_fetch(ids)
    assert second.lines[steady.esim_tran_no] is first.lines[steady.esim_tran_no]
    assert second.lines[ending.esim_tran_no].status is LineStatus.EXPIRED
    # Read after its expiry, the expired line stays as read: past is past.
    assert third.lines[ending.esim_tran_no] is second.lines[ending.esim_tran_no]


async def test_usage_only_changes_read_as_a_full_parse_would(
    emulator: EsimAccessEmulator, freezer: FrozenDateTimeFactory
) -> None:
    """A record whose usage alone moved gives the line a fresh client would read."""
    flowing = emulator.add_esim(total_volume=3 * GIB, order_usage=GIB)
    filling = emulator.add_esim(total_volume=GIB, order_usage=GIB - 1024)
    daily = emulator.add_esim(data_type=2, total_volume=GIB, order_usage=0)
    ending = emulator.add_esim(expires_in=timedelta(minutes=30), order_usage=0)
    esims = (flowing, filling, daily, ending)
    ids = [esim.esim_tran_no for esim in esims]
    async with client(emulator) as provider:
        first = await provider.async_fetch(ids)
        for esim in esims:
            esim.order_usage += 2048
        freezer.tick(timedelta(hours=1))
        second = await provider.async_fetch(ids)
    async with client(emulator) as fresh:
        expected = await fresh.async_fetch(ids)
    assert second.lines == expected.lines
    for esim in esims:
        assert second.lines[esim.esim_tran_no] != first.lines[esim.esim_tran_no]
    # The allowance ran out and the expiry passed: both show in the status.
    assert second.lines[filling.esim_tran_no].status is LineStatus.DEPLETED
    assert second.lines[ending.esim_tran_no].status is LineStatus.EXPIRED
