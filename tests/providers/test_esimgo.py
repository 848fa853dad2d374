"""Tests of the eSIM Go client against the loopback emulator."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from decimal import Decimal
import time

import aiohttp
import pytest

from custom_components.prepaid_sim.providers.base import (
    AuthenticationError,
    LineStatus,
    OrderOutcomeUnknownError,
    OrderRejectedError,
    OrderStatus,
    Package,
    ProviderUnavailableError,
    RateLimitedError,
)
from custom_components.prepaid_sim.providers.esimgo import EsimGoProvider
from tests.emulators.esimgo import (
    DEFAULT_BUNDLE,
    DEFAULT_UNLIMITED_BUNDLE,
    CatalogueBundle,
    EsimGoEmulator,
)

KEY = "test-key"
GB = 1_000_000_000


@pytest.fixture
async def emulator(socket_enabled: None) -> AsyncIterator[EsimGoEmulator]:
    """Serve a fresh eSIM Go organisation on 127.0.0.1."""
    async with EsimGoEmulator(api_key=KEY, timeout_seconds=1.0) as emu:
        yield emu


@asynccontextmanager
async def client(
    emulator: EsimGoEmulator, *, key: str = KEY, request_timeout: float = 5.0
) -> AsyncIterator[EsimGoProvider]:
    """Open a session and a client of the emulator."""
    async with aiohttp.ClientSession() as session:
        yield EsimGoProvider(
            session, key, base_url=emulator.base_url, request_timeout=request_timeout
        )


async def _package_for(provider: EsimGoProvider, iccid: str, name: str = DEFAULT_BUNDLE) -> Package:
    """Return the listed package ``name`` for a line."""
    packages = {p.package_id: p for p in await provider.async_list_packages(iccid)}
    return packages[name]


# --- reads -------------------------------------------------------------------------------


async def test_account_wallet_and_shapes(emulator: EsimGoEmulator) -> None:
    """The organisation is read from the wrapped and the flat shape, with a hashed fallback id."""
    async with client(emulator) as provider:
        account = await provider.async_get_account()
        assert account.account_id == "org-5f2c"
        assert account.name == "Emulated Org"
        assert account.wallet is not None
        assert account.wallet.amount == Decimal("100.0")
        assert account.wallet.currency == "USD"

        emulator.organisation_shape = "flat"
        emulator.organisation_id = emulator.organisation_name = None
        emulator.balance = Decimal("12.34")
        flat = await provider.async_get_account()
        assert flat.account_id.startswith("esimgo-")
        assert len(flat.account_id) == len("esimgo-") + 16
        assert KEY not in flat.account_id
        assert flat.wallet is not None
        assert flat.wallet.amount == Decimal("12.34")


async def test_list_lines_reads_every_page(emulator: EsimGoEmulator) -> None:
    """250 eSIMs across three pages of 100 all come back, named by customerRef or ICCID."""
    iccids = [emulator.add_esim(customer_ref="Car" if i == 0 else None) for i in range(250)]
    async with client(emulator) as provider:
        lines = await provider.async_list_lines()
    assert [line.line_id for line in lines] == iccids
    assert lines[0].name == "Car"
    assert lines[1].name == f"eSIM …{iccids[1][-4:]}"
    pages = emulator.requests_to("/esims")
    assert [r.query["page"] for r in pages] == ["1", "2", "3"]
    assert all(r.query["perPage"] == "100" for r in pages)


async def test_fetch_normalizes_every_state(emulator: EsimGoEmulator) -> None:
    """Bytes, expiry and status come out normalized; the request count is 1 + N."""
    end = datetime(2031, 5, 1, 12, 0, tzinfo=UTC)
    active = emulator.add_esim(
        "active", initial_bytes=GB, remaining_bytes=600_000_000, end_time=end
    )
    depleted = emulator.add_esim("depleted")
    expired = emulator.add_esim("expired")
    queued = emulator.add_esim("queued")
    unlimited = emulator.add_esim("unlimited")
    revoked = emulator.add_esim("revoked")
    # An old used-up bundle plus a newer active one: the active one is current.
    renewed = emulator.add_esim("expired")
    emulator.add_assignment(renewed, "active", bundle="esim_3GB_30D_US_V2")
    ids = [active, depleted, expired, queued, unlimited, revoked, renewed]

    async with client(emulator) as provider:
        await provider.async_list_lines()
        before = len(emulator.request_log)
        snapshot = await provider.async_fetch(ids)
    assert len(emulator.request_log) - before == 1 + len(ids)
    assert len(emulator.requests_to("/organisation")) == 1
    assert snapshot.wallet is not None
    assert snapshot.wallet.amount == Decimal("100.0")
    assert not snapshot.missing_line_ids
    assert not snapshot.unreadable_line_ids

    line = snapshot.lines[active]
    assert line.status is LineStatus.ACTIVE
    assert (line.data_total_bytes, line.data_remaining_bytes, line.data_used_bytes) == (
        GB,
        600_000_000,
        400_000_000,
    )
    assert line.expires_at == end
    assert line.package_id == DEFAULT_BUNDLE
    assert line.plan_name == "eSIM, 1GB, 7 Days, United States, V2"
    assert line.iccid == active
    assert line.name == f"eSIM …{active[-4:]}"

    assert snapshot.lines[depleted].status is LineStatus.DEPLETED
    assert snapshot.lines[depleted].data_remaining_bytes == 0
    assert snapshot.lines[depleted].data_used_bytes == GB
    assert snapshot.lines[expired].status is LineStatus.EXPIRED
    expires = snapshot.lines[expired].expires_at
    assert expires is not None
    assert expires < datetime.now(UTC)
    assert snapshot.lines[queued].status is LineStatus.NOT_ACTIVE
    # A queued bundle has not started: no endTime, so no expiry.
    assert snapshot.lines[queued].expires_at is None
    assert snapshot.lines[queued].data_remaining_bytes == GB
    assert snapshot.lines[unlimited].unlimited
    assert snapshot.lines[unlimited].status is LineStatus.ACTIVE
    assert snapshot.lines[unlimited].data_total_bytes is None
    assert snapshot.lines[unlimited].package_id == DEFAULT_UNLIMITED_BUNDLE
    assert snapshot.lines[revoked].status is LineStatus.SUSPENDED
    assert snapshot.lines[renewed].status is LineStatus.ACTIVE
    assert snapshot.lines[renewed].package_id == "esim_3GB_30D_US_V2"
    assert snapshot.lines[renewed].data_total_bytes == 3 * GB


async def test_fetch_isolates_unreadable_and_missing_lines(emulator: EsimGoEmulator) -> None:
    """A garbled line is unreadable, unknown and foreign ICCIDs are missing, others are fine."""
    good = emulator.add_esim("active")
    broken = emulator.add_esim("malformed")
    foreign = "8944000099999999999"
    emulator.foreign_iccids.add(foreign)
    async with client(emulator) as provider:
        snapshot = await provider.async_fetch([good, broken, "8944000000000000000", foreign])
    assert set(snapshot.lines) == {good}
    assert snapshot.unreadable_line_ids == {broken}
    assert snapshot.missing_line_ids == {"8944000000000000000", foreign}


async def test_catalogue_packages(emulator: EsimGoEmulator) -> None:
    """Packages follow the line's countries across pages; MB become bytes, prices Decimal."""
    for index in range(150):
        emulator.add_bundle(
            CatalogueBundle(
                name=f"esim_filler_{index:03d}_US",
                description=f"Filler {index}",
                countries=("US",),
                data_mb=500,
                days=1,
                price=Decimal("0.99"),
            )
        )
    iccid = emulator.add_esim("active")
    async with client(emulator) as provider:
        packages = {p.package_id: p for p in await provider.async_list_packages(iccid)}
    catalogue_pages = emulator.requests_to("/catalogue")
    assert [r.query.get("page") for r in catalogue_pages] == [None, "1", "2"]
    assert len(packages) == 150 + 5
    assert "esim_5GB_30D_EU_V2" not in packages
    assert "esim_1GB_7D_GB_V2" not in packages
    assert "esim_5GB_30D_GLOBAL_V2" in packages
    one_gb = packages[DEFAULT_BUNDLE]
    assert one_gb.data_bytes == 1_000_000_000
    assert one_gb.price.amount == Decimal("4.55")
    assert isinstance(one_gb.price.amount, Decimal)
    assert one_gb.price.currency == "USD"
    assert one_gb.validity == timedelta(days=7)
    assert packages["esim_10GB_30D_US_V2"].data_bytes == 10 * GB
    assert packages[DEFAULT_UNLIMITED_BUNDLE].data_bytes is None


# --- validate and purchase ---------------------------------------------------------------


async def test_validate_is_a_free_dry_run(emulator: EsimGoEmulator) -> None:
    """A validate order charges nothing; a bad one is rejected with the reason."""
    iccid = emulator.add_esim("active")
    async with client(emulator) as provider:
        assert provider.validates_with_provider
        package = await _package_for(provider, iccid)
        await provider.async_validate_purchase(iccid, package)
        assert emulator.ledger == []
        assert emulator.balance == Decimal("100.00")
        body = emulator.last_order_bodies[-1]
        assert isinstance(body, dict)
        assert body["type"] == "validate"

        emulator.balance = Decimal("1.00")
        with pytest.raises(OrderRejectedError) as err:
            await provider.async_validate_purchase(iccid, package)
        assert err.value.insufficient_funds
    assert emulator.ledger == []
    assert emulator.orders == []


async def test_purchase_charges_once_and_never_reassigns(emulator: EsimGoEmulator) -> None:
    """One purchase is one charge, sent with allowReassign false, queued behind the bundle."""
    iccid = emulator.add_esim("active")
    async with client(emulator) as provider:
        package = await _package_for(provider, iccid)
        order = await provider.async_purchase(iccid, package, "ref-1")
    assert len(emulator.ledger) == 1
    charge = emulator.ledger[0]
    assert (charge.iccid, charge.bundle, charge.amount) == (iccid, DEFAULT_BUNDLE, Decimal("4.55"))
    assert emulator.balance == Decimal("95.45")
    assert order.order_id == charge.order_reference
    assert order.status is OrderStatus.COMPLETED
    assert order.reference == "ref-1"
    assert order.price is not None
    assert order.price.amount == Decimal("4.55")
    body = emulator.last_order_bodies[-1]
    assert body == {
        "type": "transaction",
        "assign": True,
        "order": [
            {
                "type": "bundle",
                "item": DEFAULT_BUNDLE,
                "quantity": 1,
                "iccids": [iccid],
                "allowReassign": False,
            }
        ],
    }
    states = [a.state for a in emulator.esims[iccid].assignments]
    assert states == ["active", "queued"]
    # Nothing landed on a new eSIM.
    assert list(emulator.esims) == [iccid]


async def test_incompatible_bundle_is_rejected_before_ordering(emulator: EsimGoEmulator) -> None:
    """An incompatible bundle is refused after the check; no order is even sent."""
    iccid = emulator.add_esim("active", incompatible=[DEFAULT_BUNDLE])
    async with client(emulator) as provider:
        package = await _package_for(provider, iccid)
        with pytest.raises(OrderRejectedError) as err:
            await provider.async_purchase(iccid, package, "ref-x")
    assert err.value.code == "incompatible"
    assert emulator.requests_to("/orders", "POST") == []
    assert emulator.ledger == []
    assert emulator.balance == Decimal("100.00")


async def test_insufficient_balance(emulator: EsimGoEmulator) -> None:
    """A refused order for lack of funds says so and charges nothing."""
    iccid = emulator.add_esim("active")
    emulator.balance = Decimal("2.00")
    async with client(emulator) as provider:
        package = await _package_for(provider, iccid)
        with pytest.raises(OrderRejectedError) as err:
            await provider.async_purchase(iccid, package, "ref-poor")
    assert err.value.insufficient_funds
    assert "Insufficient balance" in err.value.message
    assert emulator.ledger == []
    assert emulator.balance == Decimal("2.00")


@pytest.mark.parametrize("mode", ["drop_after_commit", "http_503_after_commit", "malformed"])
async def test_lost_answer_after_commit_is_found(emulator: EsimGoEmulator, mode: str) -> None:
    """A committed order whose answer is lost is unknown, charged once, and found again."""
    iccid = emulator.add_esim("active")
    other = emulator.add_esim("active")
    async with client(emulator) as provider:
        package = await _package_for(provider, iccid)
        sent_at = datetime.now(UTC)
        emulator.fail_next("/orders", mode, method="POST")
        with pytest.raises(OrderOutcomeUnknownError) as err:
            await provider.async_purchase(iccid, package, "ref-lost")
        assert err.value.reference == "ref-lost"
        assert len(emulator.ledger) == 1
        lost = emulator.ledger[0].order_reference
        # Another line buys the same bundle afterwards; it must not be mistaken for ours.
        await provider.async_purchase(other, package, "ref-other")
        found = await provider.async_find_order(iccid, "ref-lost", sent_at)
        assert found is not None
        assert found.order_id == lost
        assert found.line_id == iccid
        assert found.package_id == DEFAULT_BUNDLE
        assert found.reference == "ref-lost"
    # After a restart the client has no memory of the send; the history still tells.
    async with client(emulator) as restarted:
        again = await restarted.async_find_order(iccid, "ref-lost", sent_at)
    assert again is not None
    assert again.order_id == lost
    assert len(emulator.ledger) == 2


async def test_lost_answer_found_from_assignment_when_history_is_vague(
    emulator: EsimGoEmulator,
) -> None:
    """Without ICCIDs in the order history, the eSIM's new assignment settles it."""
    emulator.orders_include_iccids = False
    iccid = emulator.add_esim("active")
    async with client(emulator) as provider:
        package = await _package_for(provider, iccid)
        sent_at = datetime.now(UTC)
        emulator.fail_next("/orders", "drop_after_commit", method="POST")
        with pytest.raises(OrderOutcomeUnknownError):
            await provider.async_purchase(iccid, package, "ref-vague")
    async with client(emulator) as restarted:
        found = await restarted.async_find_order(iccid, "ref-vague", sent_at)
        stale = await restarted.async_find_order(
            iccid, "ref-later", datetime.now(UTC) + timedelta(minutes=5)
        )
    assert found is not None
    assert found.status is OrderStatus.COMPLETED
    assert found.order_id.startswith(emulator.ledger[0].order_reference)
    # An order from before the send time is not ours.
    assert stale is None


@pytest.mark.parametrize("mode", ["timeout", "http_500"])
async def test_failure_before_commit_is_unknown_and_not_found(
    emulator: EsimGoEmulator, mode: str
) -> None:
    """A timeout or a 500 is still "unknown"; the look-up then finds nothing to claim."""
    iccid = emulator.add_esim("active")
    async with client(emulator, request_timeout=0.3) as provider:
        package = await _package_for(provider, iccid)
        sent_at = datetime.now(UTC)
        emulator.fail_next("/orders", mode, method="POST", delay=1.0)
        with pytest.raises(OrderOutcomeUnknownError):
            await provider.async_purchase(iccid, package, "ref-t")
        assert await provider.async_find_order(iccid, "ref-t", sent_at) is None
    assert emulator.ledger == []
    assert emulator.balance == Decimal("100.00")


async def test_unreachable_provider_is_unavailable_not_unknown(
    emulator: EsimGoEmulator,
) -> None:
    """Nothing listening: a purchase fails as unavailable (certainly not sent)."""
    iccid = emulator.add_esim("active")
    async with client(emulator) as provider:
        package = await _package_for(provider, iccid)
        await emulator.close()
        with pytest.raises(ProviderUnavailableError) as err:
            await provider.async_purchase(iccid, package, "ref-dead")
    assert not isinstance(err.value, RateLimitedError)
    assert emulator.ledger == []


# --- errors and rate limits --------------------------------------------------------------


async def test_rate_limited(emulator: EsimGoEmulator) -> None:
    """A long Retry-After surfaces as RateLimitedError; a short one is waited out once."""
    async with client(emulator) as provider:
        emulator.fail_next("/organisation", "rate_limit", retry_after=30)
        with pytest.raises(RateLimitedError) as err:
            await provider.async_get_account()
        assert err.value.retry_after == 30

    async with client(emulator) as provider:
        emulator.fail_next("/organisation", "rate_limit", retry_after=1)
        started = time.monotonic()
        account = await provider.async_get_account()
        assert time.monotonic() - started >= 0.9
    assert account.account_id == "org-5f2c"
    assert [r.status for r in emulator.requests_to("/organisation")] == [429, 429, 200]


async def test_purchase_rate_limited_is_not_retried(emulator: EsimGoEmulator) -> None:
    """A 429 on the order is reported, never retried behind the caller's back."""
    iccid = emulator.add_esim("active")
    async with client(emulator) as provider:
        package = await _package_for(provider, iccid)
        emulator.fail_next("/orders", "rate_limit", method="POST", retry_after=1)
        with pytest.raises(RateLimitedError):
            await provider.async_purchase(iccid, package, "ref-429")
    assert len(emulator.requests_to("/orders", "POST")) == 1
    assert emulator.ledger == []


async def test_malformed_and_server_errors_are_unavailable(emulator: EsimGoEmulator) -> None:
    """Garbage or a 5xx on a read is ProviderUnavailableError."""
    iccid = emulator.add_esim("active")
    async with client(emulator) as provider:
        emulator.fail_next("/organisation", "malformed")
        with pytest.raises(ProviderUnavailableError):
            await provider.async_get_account()
        emulator.fail_next("/organisation", "malformed")
        with pytest.raises(ProviderUnavailableError):
            await provider.async_fetch([iccid])
        emulator.fail_next("/esims", "http_500")
        with pytest.raises(ProviderUnavailableError):
            await provider.async_list_lines()
        emulator.fail_next(f"/esims/{iccid}/bundles", "http_500")
        with pytest.raises(ProviderUnavailableError):
            await provider.async_fetch([iccid])
        # And it recovers on the next refresh.
        assert (await provider.async_fetch([iccid])).lines[iccid].status is LineStatus.ACTIVE


async def test_bad_key_is_authentication_error(emulator: EsimGoEmulator) -> None:
    """A refused key fails every read with AuthenticationError."""
    iccid = emulator.add_esim("active")
    async with client(emulator, key="wrong") as provider:
        with pytest.raises(AuthenticationError):
            await provider.async_get_account()
        with pytest.raises(AuthenticationError):
            await provider.async_fetch([iccid])
        with pytest.raises(AuthenticationError):
            await provider.async_list_lines()
    async with client(emulator) as provider:
        emulator.fail_next("/organisation", "expired_key")
        with pytest.raises(AuthenticationError):
            await provider.async_get_account()


async def test_burst_of_reads_stays_under_the_limit(emulator: EsimGoEmulator) -> None:
    """25 requests in one refresh are spaced to at most 10 per second: the server never 429s."""
    iccids = [emulator.add_esim("active") for _ in range(24)]
    async with client(emulator) as provider:
        started = time.monotonic()
        snapshot = await provider.async_fetch(iccids)
        elapsed = time.monotonic() - started
    assert len(snapshot.lines) == 24
    assert emulator.rate_limited_count == 0
    assert emulator.max_requests_per_window <= 10
    # 25 requests at 10 per second cannot finish in under two windows.
    assert elapsed >= 2.0
