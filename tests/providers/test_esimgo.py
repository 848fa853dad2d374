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
    pick_group_error,
)
from custom_components.prepaid_sim.providers.esimgo import RATE_LIMIT_PER_SECOND, EsimGoProvider
from custom_components.prepaid_sim.providers.ratelimit import RateLimiter
from tests.emulators.esimgo import (
    DEFAULT_BUNDLE,
    DEFAULT_UNLIMITED_BUNDLE,
    CatalogueBundle,
    EmulatedOrder,
    EsimGoEmulator,
)
from tests.providers.http_dates import HttpDateIn, http_date

KEY = "test-key"
GB = 1_000_000_000


@pytest.fixture
async def emulator(socket_enabled: None) -> AsyncIterator[EsimGoEmulator]:
    """Serve a fresh eSIM Go organisation on 127.0.0.1."""
    async with EsimGoEmulator(api_key=KEY, timeout_seconds=1.0) as emu:
        yield emu


@asynccontextmanager
async def client(
    emulator: EsimGoEmulator,
    *,
    key: str = KEY,
    request_timeout: float = 5.0,
    rate_limiter: RateLimiter | None = None,
) -> AsyncIterator[EsimGoProvider]:
    """Open a session and a client of the emulator."""
    async with aiohttp.ClientSession() as session:
        yield EsimGoProvider(
            session,
            key,
            base_url=emulator.base_url,
            request_timeout=request_timeout,
            rate_limiter=rate_limiter,
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


# --- tolerant reading of undocumented shapes [I] -----------------------------------------


class RecordingLimiter(RateLimiter):
    """A rate limiter that records the holds asked of it instead of sleeping through them."""

    def __init__(self) -> None:
        super().__init__(RATE_LIMIT_PER_SECOND)
        self.holds: list[float] = []

    def block_for(self, seconds: float) -> None:
        self.holds.append(seconds)


def _one_gb() -> Package:
    """The emulator's default bundle as the client lists it."""
    return Package(
        package_id=DEFAULT_BUNDLE,
        name="eSIM, 1GB, 7 Days, United States, V2",
        price=Money(Decimal("4.55"), "USD"),
        data_bytes=GB,
        validity=timedelta(days=7),
    )


def _history_order(
    reference: str,
    created: datetime,
    items: list[object],
    **overrides: object,
) -> EmulatedOrder:
    """An order made elsewhere (another app, the portal), for the order history."""
    return EmulatedOrder(
        reference=reference,
        created=created,
        items=items,  # type: ignore[arg-type]
        total=Decimal("4.55"),
        currency="USD",
        status="Completed",
        status_message="Order completed",
        overrides=overrides,
    )


def _bundle_item(iccid: str, bundle: str = DEFAULT_BUNDLE) -> dict[str, object]:
    """One order line of the history, for one eSIM."""
    return {"type": "bundle", "item": bundle, "quantity": 1, "iccids": [iccid]}


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            {"organisation": {"id": "org-9", "name": "Nested", "balance": {"amount": "7.50"}}},
            ("org-9", "Nested", Money(Decimal("7.50"), "USD")),
        ),
        (
            {"organisations": [{"id": 42, "balance": {"balance": 3, "currency": "gbp"}}]},
            ("42", None, Money(Decimal(3), "GBP")),
        ),
        # No id: the name is the id; a wordy balance or odd currency is no wallet / USD.
        (
            {"organisations": [{"name": "Shop", "balance": "n/a", "currency": "EUR"}]},
            ("Shop", "Shop", None),
        ),
        (
            {"organisations": [{"name": "Shop", "balance": True}]},
            ("Shop", "Shop", None),
        ),
        (
            {"organisations": [{"name": "Shop", "balance": 5, "currency": "dollars"}]},
            ("Shop", "Shop", Money(Decimal(5), "USD")),
        ),
        ({"organisations": []}, ProviderUnavailableError),
        ({"organisations": ["Shop"]}, ProviderUnavailableError),
        (["Shop"], ProviderUnavailableError),
    ],
)
async def test_organisation_answer_shapes(
    emulator: EsimGoEmulator,
    body: object,
    expected: tuple[str, str | None, Money | None] | type[Exception],
) -> None:
    """Every tolerated organisation shape yields the account; the others are unavailable."""
    emulator.reply_next("/organisation", body)
    async with client(emulator) as provider:
        if isinstance(expected, tuple):
            account = await provider.async_get_account()
            assert (account.account_id, account.name, account.wallet) == expected
            return
        with pytest.raises(expected):
            await provider.async_get_account()


async def test_refresh_survives_an_unreadable_organisation(emulator: EsimGoEmulator) -> None:
    """An odd organisation answer costs the wallet, not the refresh of the lines."""
    iccid = emulator.add_esim("active")
    emulator.reply_next("/organisation", {"organisations": []})
    async with client(emulator) as provider:
        snapshot = await provider.async_fetch([iccid])
    assert snapshot.wallet is None
    assert snapshot.lines[iccid].status is LineStatus.ACTIVE


@pytest.mark.parametrize(
    ("status", "body", "expected", "match"),
    [
        (401, {"message": "Unauthorized"}, AuthenticationError, "Unauthorized"),
        (403, {"message": "   "}, AuthenticationError, "API key refused"),
        # No account-wide endpoint answers 404: the base URL is not the API.
        (404, {}, NotProviderApiError, "not the provider's API"),
        (400, "<html>Bad Request</html>", ProviderUnavailableError, "400: no message"),
        (200, ["not", "an", "object"], ProviderUnavailableError, "unreadable"),
    ],
)
async def test_account_read_errors_by_status(
    emulator: EsimGoEmulator,
    status: int,
    body: object,
    expected: type[Exception],
    match: str,
) -> None:
    """401 and 403 on an account read are the key; 404 a wrong address; others unavailable."""
    emulator.reply_next("/organisation", body, status=status)
    async with client(emulator) as provider:
        with pytest.raises(expected, match=match) as err:
            await provider.async_get_account()
    assert type(err.value) is expected


_ORG = {"organisations": [{"id": "org-5f2c", "name": "Emulated Org", "balance": 1}]}


@pytest.mark.parametrize(
    ("headers", "hold"),
    [
        # Remaining 0: hold until the reset, given as a delay, an epoch or ISO-8601 ...
        ({"X-Ratelimit-Remaining": "0", "X-Ratelimit-Reset": "2"}, (2.0, 2.0)),
        ({"X-Ratelimit-Remaining": "0", "X-Ratelimit-Reset": "EPOCH+3"}, (2.5, 3.0)),
        ({"X-Ratelimit-Remaining": "0", "X-Ratelimit-Reset": "ISO+3"}, (1.5, 3.0)),
        # ... never longer than 5 s, whatever the header says (clock skew).
        ({"X-Ratelimit-Remaining": "0", "X-Ratelimit-Reset": "3600"}, (5.0, 5.0)),
        # Nothing to wait for: a reset passed, unreadable or absent, or requests left.
        ({"X-Ratelimit-Remaining": "0", "X-Ratelimit-Reset": "ISO-3"}, None),
        ({"X-Ratelimit-Remaining": "0", "X-Ratelimit-Reset": "whenever"}, None),
        ({"X-Ratelimit-Remaining": "0"}, None),
        ({"X-Ratelimit-Remaining": "lots", "X-Ratelimit-Reset": "2"}, None),
        ({"X-Ratelimit-Remaining": "4", "X-Ratelimit-Reset": "2"}, None),
        ({}, None),
    ],
)
async def test_rate_limit_headers_pause_requests(
    emulator: EsimGoEmulator, headers: dict[str, str], hold: tuple[float, float] | None
) -> None:
    """An exhausted window pauses our requests until its reset, in every reset format."""
    reset = headers.get("X-Ratelimit-Reset", "")
    if reset.startswith("EPOCH"):
        headers = {**headers, "X-Ratelimit-Reset": str(time.time() + float(reset[5:]))}
    elif reset.startswith("ISO"):
        when = datetime.now(UTC) + timedelta(seconds=float(reset[3:]))
        headers = {**headers, "X-Ratelimit-Reset": when.isoformat()}
    emulator.reply_next("/organisation", _ORG, headers=headers)
    limiter = RecordingLimiter()
    async with client(emulator, rate_limiter=limiter) as provider:
        account = await provider.async_get_account()
    assert account.account_id == "org-5f2c"
    if hold is None:
        assert limiter.holds == []
    else:
        assert len(limiter.holds) == 1
        assert hold[0] <= limiter.holds[0] <= hold[1]


async def test_exhausted_window_delays_the_next_request(emulator: EsimGoEmulator) -> None:
    """The pause is real: the next request starts only after the reset."""
    headers = {"X-Ratelimit-Remaining": "0", "X-Ratelimit-Reset": "0.6"}
    emulator.reply_next("/organisation", _ORG, headers=headers)
    async with client(emulator) as provider:
        await provider.async_get_account()
        await provider.async_get_account()
    first, second = emulator.requests_to("/organisation")
    assert second.at - first.at >= 0.5


@pytest.mark.parametrize(
    ("retry_after", "low", "high"),
    [
        (None, None, None),
        (HttpDateIn(minutes=10), 500.0, 600.0),
        (HttpDateIn(minutes=10, zone=False), 500.0, 600.0),
        ("soon", None, None),
        ("inf", None, None),
        ("nan", None, None),
    ],
    ids=["absent", "http-date-gmt", "http-date-no-zone", "word", "inf", "nan"],
)
async def test_retry_after_forms(
    emulator: EsimGoEmulator,
    retry_after: str | HttpDateIn | None,
    low: float | None,
    high: float | None,
) -> None:
    """Retry-After as an HTTP date is honoured; absent or unusable values (never infinite
    ones) hold requests for the default second. A long or unknown wait is not retried."""
    if isinstance(retry_after, HttpDateIn):
        retry_after = retry_after.render()
    headers = {} if retry_after is None else {"Retry-After": retry_after}
    emulator.reply_next("/organisation", {"message": "Rate limit"}, status=429, headers=headers)
    limiter = RecordingLimiter()
    async with client(emulator, rate_limiter=limiter) as provider:
        with pytest.raises(RateLimitedError) as err:
            await provider.async_get_account()
    assert len(emulator.requests_to("/organisation")) == 1
    if low is None or high is None:
        assert err.value.retry_after is None
        assert limiter.holds == [1.0]
    else:
        assert err.value.retry_after is not None
        assert low <= err.value.retry_after <= high
        assert limiter.holds == [err.value.retry_after]


async def test_retry_after_date_in_the_past_is_retried_at_once(
    emulator: EsimGoEmulator,
) -> None:
    """A Retry-After already passed means no wait: the read is repeated once and succeeds."""
    past = http_date(datetime.now(UTC) - timedelta(minutes=1))
    emulator.reply_next("/organisation", {}, status=429, headers={"Retry-After": past})
    limiter = RecordingLimiter()
    async with client(emulator, rate_limiter=limiter) as provider:
        account = await provider.async_get_account()
    assert account.account_id == "org-5f2c"
    assert limiter.holds == [0.0]
    assert [r.status for r in emulator.requests_to("/organisation")] == [429, 200]


@pytest.mark.parametrize("page_count", ["missing", "text"])
async def test_listing_without_a_page_count(emulator: EsimGoEmulator, page_count: str) -> None:
    """Without a readable pageCount, pages are read until a short one."""
    emulator.listing_page_count = page_count
    iccids = [emulator.add_esim("active") for _ in range(250)]
    async with client(emulator) as provider:
        lines = await provider.async_list_lines()
    assert [line.line_id for line in lines] == iccids
    assert [r.query["page"] for r in emulator.requests_to("/esims")] == ["1", "2", "3"]


async def test_listing_rows_without_iccid_are_skipped(emulator: EsimGoEmulator) -> None:
    """Rows that are not objects or carry no ICCID are left out; numeric ICCIDs are text."""
    rows: list[object] = [
        {"iccid": "8944000000000000101", "customerRef": "Van"},
        {"customerRef": "no ICCID"},
        "8944000000000000102",
        {"iccid": 8944000000000000103, "customerRef": ""},
    ]
    emulator.reply_next("/esims", {"esims": rows, "pageCount": 1})
    async with client(emulator) as provider:
        lines = await provider.async_list_lines()
    assert [(line.line_id, line.name) for line in lines] == [
        ("8944000000000000101", "Van"),
        ("8944000000000000103", "eSIM …0103"),
    ]


async def test_listing_without_its_list_is_unavailable(emulator: EsimGoEmulator) -> None:
    """A listing that lacks its list fails rather than listing nothing."""
    emulator.reply_next("/esims", {"items": [], "pageCount": 1})
    async with client(emulator) as provider:
        with pytest.raises(ProviderUnavailableError, match="'esims'"):
            await provider.async_list_lines()


async def test_tolerated_assignment_shapes(emulator: EsimGoEmulator) -> None:
    """Float and string quantities, string booleans, bundle-level unlimited flags, naive
    or out-of-calendar times read, with the right values."""
    quantities = emulator.add_esim("active")
    emulator.esims[quantities].assignments[0].overrides.update(
        {"initialQuantity": 1e9, "remainingQuantity": "250000000"}
    )
    unlimited = emulator.add_esim("active")
    emulator.esims[unlimited].assignments[0].overrides.update(
        {"unlimited": "true", "initialQuantity": None, "remainingQuantity": None}
    )
    beyond = emulator.add_esim("active")
    emulator.esims[beyond].assignments[0].overrides["endTime"] = "0001-01-01T00:00:00+01:00"
    bundle_level = emulator.add_esim("active")
    naive_end = "2031-05-01T12:00:00"
    emulator.reply_next(
        f"/esims/{bundle_level}/bundles",
        {
            "bundles": [
                {
                    "name": "esim_UL_1D_US_V2",
                    "unlimited": True,
                    "assignments": [
                        {
                            "bundleState": "Active",
                            "unlimited": "?",
                            "assignmentDateTime": "yesterday",
                            "endTime": naive_end,
                        }
                    ],
                }
            ]
        },
    )
    paused = emulator.add_esim("active")
    emulator.esims[paused].assignments[0].overrides["bundleState"] = "paused"
    bare = emulator.add_esim("none")
    ids = [quantities, unlimited, beyond, bundle_level, paused, bare]
    async with client(emulator) as provider:
        snapshot = await provider.async_fetch(ids)
    assert not snapshot.unreadable_line_ids
    lines = snapshot.lines
    assert (
        lines[quantities].data_total_bytes,
        lines[quantities].data_remaining_bytes,
        lines[quantities].data_used_bytes,
    ) == (GB, 250_000_000, 750_000_000)
    assert lines[unlimited].unlimited
    assert lines[unlimited].data_total_bytes is None
    # Before, a time that overflows in the shift to UTC failed the whole refresh.
    assert lines[beyond].expires_at is None
    assert lines[beyond].status is LineStatus.ACTIVE
    whole_day = lines[bundle_level]
    assert whole_day.unlimited
    assert whole_day.status is LineStatus.ACTIVE
    assert whole_day.plan_name == whole_day.package_id == "esim_UL_1D_US_V2"
    assert whole_day.expires_at == datetime(2031, 5, 1, 12, 0, tzinfo=UTC)
    assert lines[paused].status is LineStatus.UNKNOWN
    assert lines[bare].status is LineStatus.NOT_ACTIVE
    assert (lines[bare].package_id, lines[bare].data_total_bytes) == (None, None)


async def test_unreadable_assignment_shapes(emulator: EsimGoEmulator) -> None:
    """Each broken listing or quantity makes only its own line unreadable."""
    good = emulator.add_esim("active")
    broken: list[str] = []
    for overrides in (
        {"remainingQuantity": None},
        {"initialQuantity": True},
        {"initialQuantity": [1]},
        # Before, "Infinity" escaped as OverflowError and failed the whole refresh.
        {"remainingQuantity": "Infinity"},
    ):
        iccid = emulator.add_esim("active")
        emulator.esims[iccid].assignments[0].overrides.update(overrides)
        broken.append(iccid)
    for body in (
        {"bundles": "none"},
        {"bundles": [{"assignments": []}]},
        {"bundles": [{"name": "esim_1GB", "assignments": [{"initialQuantity": 1}]}]},
        {"bundles": [{"name": "esim_1GB", "assignments": [{"bundleState": True}]}]},
    ):
        iccid = emulator.add_esim("active")
        emulator.reply_next(f"/esims/{iccid}/bundles", body)
        broken.append(iccid)
    async with client(emulator) as provider:
        snapshot = await provider.async_fetch([good, *broken])
    assert set(snapshot.lines) == {good}
    assert snapshot.unreadable_line_ids == set(broken)
    assert not snapshot.missing_line_ids


async def test_key_refused_on_a_line_fails_the_refresh(emulator: EsimGoEmulator) -> None:
    """A 403 about the key on one line's bundles is an authentication failure, not a
    missing line (which a 403 about the ICCID would be)."""
    good, refused = emulator.add_esim("active"), emulator.add_esim("active")
    emulator.fail_next(f"/esims/{refused}/bundles", "expired_key")
    async with client(emulator) as provider:
        with pytest.raises(AuthenticationError, match="Invalid API Key"):
            await provider.async_fetch([good, refused])


async def test_odd_status_on_a_line_fails_the_refresh(emulator: EsimGoEmulator) -> None:
    """A line answered with an unexpected 4xx is unavailable, not missing."""
    iccid = emulator.add_esim("active")
    emulator.reply_next(f"/esims/{iccid}/bundles", {"message": "limit too high"}, status=400)
    async with client(emulator) as provider:
        with pytest.raises(ProviderUnavailableError, match="limit too high"):
            await provider.async_fetch([iccid])


def test_pick_error_prefers_the_key_and_never_disguises_a_bug() -> None:
    """A refused key beats a rate limit, which beats other provider errors; an error that
    is no provider error is passed on as it is."""
    auth, limited, down = (
        AuthenticationError("key"),
        RateLimitedError("slow"),
        ProviderUnavailableError("down"),
    )
    assert (
        pick_group_error(ExceptionGroup("x", [down, ExceptionGroup("y", [limited, auth])])) is auth
    )
    assert pick_group_error(ExceptionGroup("x", [down, limited])) is limited
    assert pick_group_error(ExceptionGroup("x", [ValueError("bug"), down])) is down
    bug = ExceptionGroup("x", [ValueError("bug")])
    assert pick_group_error(bug) is bug


# --- packages ------------------------------------------------------------------------------


async def test_odd_catalogue_entries(emulator: EsimGoEmulator) -> None:
    """Usable odd bundles normalize; those without a name, price or usable duration are
    skipped without hiding the others."""
    iccid = emulator.add_esim("active")
    emulator.catalogue = {}

    def add(bundle: str, **overrides: object) -> None:
        emulator.add_bundle(
            CatalogueBundle(
                name=bundle,
                description=f"{bundle} bundle",
                countries=("US",),
                data_mb=2000,
                days=7,
                price=Decimal("3.00"),
                overrides=overrides,
            )
        )

    add(DEFAULT_BUNDLE)
    add("esim_eur", currency="eur", price="2.5")
    add("esim_ul_words", unlimited="true", dataAmount=2000)
    add("esim_no_amount", dataAmount=None, description=None)
    add("esim_no_price", price=None)
    add("esim_word_price", price="n/a")
    add("esim_word_days", duration="a week")
    add("esim_endless", duration=10**10)
    add("esim_nameless", name=None)
    async with client(emulator) as provider:
        packages = {p.package_id: p for p in await provider.async_list_packages(iccid)}
    assert set(packages) == {DEFAULT_BUNDLE, "esim_eur", "esim_ul_words", "esim_no_amount"}
    assert packages["esim_eur"].price == Money(Decimal("2.5"), "EUR")
    assert packages["esim_ul_words"].data_bytes is None
    assert packages["esim_no_amount"].data_bytes is None
    assert packages["esim_no_amount"].name == "esim_no_amount"
    assert packages[DEFAULT_BUNDLE].data_bytes == 2 * GB


async def test_packages_must_cover_every_country_of_the_line(emulator: EsimGoEmulator) -> None:
    """A bundle the server returns for one country but missing others is left out."""
    emulator.add_bundle(
        CatalogueBundle(
            name="esim_1GB_7D_ATDE_V2",
            description="Austria and Germany",
            countries=("AT", "DE"),
            data_mb=1000,
            days=7,
            price=Decimal("2.00"),
        )
    )
    iccid = emulator.add_esim("active", bundle="esim_5GB_30D_EU_V2")
    async with client(emulator) as provider:
        packages = {p.package_id for p in await provider.async_list_packages(iccid)}
    assert packages == {"esim_5GB_30D_EU_V2", "esim_5GB_30D_GLOBAL_V2"}
    assert emulator.requests_to("/catalogue")[-1].query["countries"] == "AT"


async def test_packages_of_unreadable_or_unknown_line(emulator: EsimGoEmulator) -> None:
    """An unreadable line is offered the whole catalogue; an unknown one raises."""
    broken = emulator.add_esim("malformed")
    async with client(emulator) as provider:
        packages = {p.package_id for p in await provider.async_list_packages(broken)}
        with pytest.raises(LineNotFoundError):
            await provider.async_list_packages("8944000000000009999")
    assert packages == set(emulator.catalogue)
    assert "countries" not in emulator.requests_to("/catalogue")[-1].query


# --- purchase edge cases -------------------------------------------------------------------


async def _check_rejected_unsent(
    emulator: EsimGoEmulator, provider: EsimGoProvider, iccid: str, package: Package
) -> pytest.ExceptionInfo[Exception]:
    """Purchase, expect an error, and check no order was sent or charged."""
    with pytest.raises(Exception) as err:  # the caller checks the type
        await provider.async_purchase(iccid, package, "ref-check")
    assert emulator.requests_to("/orders", "POST") == []
    assert emulator.ledger == []
    return err


@pytest.mark.parametrize(
    ("setup", "expected", "code"),
    [
        ("expired_key", AuthenticationError, None),
        ("foreign", OrderRejectedError, "not_found"),
        ("unknown_bundle", OrderRejectedError, "not_found"),
        ("bad_request", OrderRejectedError, "invalid"),
        ("maybe", ProviderUnavailableError, None),
        ("html", ProviderUnavailableError, None),
    ],
)
async def test_compatibility_check_outcomes(
    emulator: EsimGoEmulator, setup: str, expected: type[Exception], code: str | None
) -> None:
    """Every failed or unreadable compatibility check stops the purchase before ordering."""
    iccid = emulator.add_esim("active")
    package = _one_gb()
    compatible = f"/esims/{iccid}/compatible"
    if setup == "expired_key":
        emulator.fail_next(compatible, "expired_key")
    elif setup == "foreign":
        emulator.foreign_iccids.add(iccid)
    elif setup == "unknown_bundle":
        package = Package(
            package_id="esim_gone",
            name="gone",
            price=package.price,
            data_bytes=GB,
            validity=timedelta(days=7),
        )
    elif setup == "bad_request":
        emulator.reply_next(compatible, {"message": "bad bundle name"}, status=400)
    elif setup == "maybe":
        emulator.reply_next(compatible, {"compatible": "maybe"})
    else:
        emulator.reply_next(compatible, "<html>hiccup</html>")
    async with client(emulator) as provider:
        err = await _check_rejected_unsent(emulator, provider, iccid, package)
    assert type(err.value) is expected
    if code is not None:
        assert isinstance(err.value, OrderRejectedError)
        assert err.value.code == code


@pytest.mark.parametrize(
    ("status", "body", "expected", "insufficient"),
    [
        (200, ["not", "an", "object"], ProviderUnavailableError, None),
        (200, {"valid": False, "statusMessage": "Bundle not sold here"}, OrderRejectedError, False),
        (200, {"valid": "false", "message": "Insufficient funds"}, OrderRejectedError, True),
        (422, "", ProviderUnavailableError, None),
    ],
)
async def test_validate_answers(
    emulator: EsimGoEmulator,
    status: int,
    body: object,
    expected: type[Exception],
    insufficient: bool | None,
) -> None:
    """A dry run that says 'not valid' is a refusal (funds or not); an unreadable one is
    merely unavailable. Nothing is charged either way."""
    iccid = emulator.add_esim("active")
    emulator.reply_next("/orders", body, status=status, method="POST")
    async with client(emulator) as provider:
        with pytest.raises(expected) as err:
            await provider.async_validate_purchase(iccid, _one_gb())
    assert type(err.value) is expected
    if isinstance(err.value, OrderRejectedError):
        assert err.value.code == "invalid"
        assert err.value.insufficient_funds is insufficient
    assert emulator.ledger == []


async def test_outage_between_check_and_order_is_unavailable(emulator: EsimGoEmulator) -> None:
    """If the provider goes down after the check, the order never connects: unavailable
    (certainly not sent), not 'unknown'."""
    iccid = emulator.add_esim("active")
    emulator.fail_next(f"/esims/{iccid}/compatible", "outage_after")
    async with client(emulator) as provider:
        with pytest.raises(ProviderUnavailableError) as err:
            await provider.async_purchase(iccid, _one_gb(), "ref-outage")
    assert not isinstance(err.value, OrderOutcomeUnknownError)
    assert [r.path for r in emulator.request_log] == [f"/esims/{iccid}/compatible/{DEFAULT_BUNDLE}"]
    assert emulator.ledger == []


@pytest.mark.parametrize(
    ("status", "body", "expected", "code"),
    [
        (401, {"message": "Unauthorized"}, AuthenticationError, None),
        (409, {"message": "Bundle already queued"}, OrderRejectedError, "http_409"),
        # A timeout, a bare 4xx (maybe a proxy) and an answer without a reference are
        # unknown: the order may have been placed.
        (408, {"message": "Request Timeout"}, OrderOutcomeUnknownError, None),
        (400, "", OrderOutcomeUnknownError, None),
        (200, {"status": "Completed"}, OrderOutcomeUnknownError, None),
    ],
)
async def test_order_answer_mapping(
    emulator: EsimGoEmulator,
    status: int,
    body: object,
    expected: type[Exception],
    code: str | None,
) -> None:
    """Each answer to the order lands on the right side of the purchase contract."""
    iccid = emulator.add_esim("active")
    emulator.reply_next("/orders", body, status=status, method="POST")
    async with client(emulator) as provider:
        with pytest.raises(expected) as err:
            await provider.async_purchase(iccid, _one_gb(), "ref-answer")
    assert type(err.value) is expected
    if isinstance(err.value, OrderRejectedError):
        assert err.value.code == code
        assert not err.value.insufficient_funds
    if isinstance(err.value, OrderOutcomeUnknownError):
        assert err.value.reference == "ref-answer"
    assert len(emulator.requests_to("/orders", "POST")) == 1


# --- finding a lost order ------------------------------------------------------------------


async def test_vague_history_and_new_assignment_find_the_order(emulator: EsimGoEmulator) -> None:
    """History without ICCIDs: our bundle's order is claimed (not another bundle's bought
    in the same window, though older), with what the eSIM's new assignment says."""
    emulator.orders_include_iccids = False
    iccid = emulator.add_esim("active")
    async with client(emulator) as provider:
        sent_at = datetime.now(UTC)
        # Bought in the portal just before ours, inside the clock-skew window.
        emulator.orders.append(
            _history_order(
                "portal-3gb",
                sent_at - timedelta(seconds=20),
                [_bundle_item(iccid, "esim_3GB_30D_US_V2")],
            )
        )
        emulator.fail_next("/orders", "drop_after_commit", method="POST")
        with pytest.raises(OrderOutcomeUnknownError):
            await provider.async_purchase(iccid, _one_gb(), "ref-vague")
        found = await provider.async_find_order(iccid, "ref-vague", sent_at)
    assert found is not None
    assert found.order_id == emulator.ledger[0].order_reference
    assert found.package_id == DEFAULT_BUNDLE
    assert found.status is OrderStatus.COMPLETED
    assert found.price == Money(Decimal("4.55"), "USD")
    assert found.new_data_total_bytes == GB
    # Queued behind the running bundle: it has not started, so no new expiry yet.
    assert found.new_expires_at is None


async def test_vague_history_alone_is_claimed_only_with_the_bundle(
    emulator: EsimGoEmulator,
) -> None:
    """With the eSIM unreadable, an order of our bundle in a vague history is claimed (no
    second payment); after a restart the bundle is unknown and nothing is claimed."""
    emulator.orders_include_iccids = False
    iccid = emulator.add_esim("active")
    async with client(emulator) as provider:
        sent_at = datetime.now(UTC)
        emulator.fail_next("/orders", "drop_after_commit", method="POST")
        with pytest.raises(OrderOutcomeUnknownError):
            await provider.async_purchase(iccid, _one_gb(), "ref-blind")
        emulator.esims[iccid].malformed = True
        found = await provider.async_find_order(iccid, "ref-blind", sent_at)
    assert found is not None
    assert found.order_id == emulator.ledger[0].order_reference
    assert found.package_id == DEFAULT_BUNDLE
    async with client(emulator) as restarted:
        assert await restarted.async_find_order(iccid, "ref-blind", sent_at) is None


async def test_history_is_paged_back_to_the_send_time(emulator: EsimGoEmulator) -> None:
    """Newer orders fill the first page: the second page is read and holds ours."""
    iccid, other = emulator.add_esim("active"), emulator.add_esim("active")
    async with client(emulator) as provider:
        sent_at = datetime.now(UTC)
        emulator.fail_next("/orders", "drop_after_commit", method="POST")
        with pytest.raises(OrderOutcomeUnknownError):
            await provider.async_purchase(iccid, _one_gb(), "ref-deep")
        later = datetime.now(UTC) + timedelta(seconds=1)
        emulator.orders.extend(
            _history_order(f"later-{n}", later + timedelta(seconds=n), [_bundle_item(other)])
            for n in range(60)
        )
        found = await provider.async_find_order(iccid, "ref-deep", sent_at)
    assert found is not None
    assert found.order_id == emulator.ledger[0].order_reference
    assert [r.query["page"] for r in emulator.requests_to("/orders", "GET")] == ["1", "2"]


async def test_history_paging_stops_at_older_orders(emulator: EsimGoEmulator) -> None:
    """A newest-first page that reaches orders older than the send time ends the search."""
    iccid = emulator.add_esim("active")
    old = datetime.now(UTC) - timedelta(hours=1)
    emulator.orders.extend(
        _history_order(f"old-{n}", old + timedelta(seconds=n), [_bundle_item(iccid)])
        for n in range(60)
    )
    async with client(emulator) as provider:
        found = await provider.async_find_order(iccid, "ref-never-sent", datetime.now(UTC))
    assert found is None
    assert [r.query["page"] for r in emulator.requests_to("/orders", "GET")] == ["1"]


async def test_unsorted_history_is_read_on(emulator: EsimGoEmulator) -> None:
    """A page that is not newest first proves nothing about older pages: reading goes on,
    and our order is found in the history itself."""
    iccid, other = emulator.add_esim("active"), emulator.add_esim("active")
    async with client(emulator) as provider:
        sent_at = datetime.now(UTC)
        emulator.fail_next("/orders", "drop_after_commit", method="POST")
        with pytest.raises(OrderOutcomeUnknownError):
            await provider.async_purchase(iccid, _one_gb(), "ref-unsorted")
        now, old = datetime.now(UTC), datetime.now(UTC) - timedelta(hours=1)
        emulator.orders.extend(
            _history_order(f"mixed-{n}", now if n % 2 else old, [_bundle_item(other)])
            for n in range(60)
        )
        found = await provider.async_find_order(iccid, "ref-unsorted", sent_at)
    assert found is not None
    assert found.order_id == emulator.ledger[0].order_reference
    assert [r.query["page"] for r in emulator.requests_to("/orders", "GET")] == ["1", "2"]


async def test_history_entries_that_are_not_our_top_up(emulator: EsimGoEmulator) -> None:
    """Undated entries and non-bundle items naming our eSIM are not taken as our order."""
    iccid = emulator.add_esim("active")
    now = datetime.now(UTC)
    emulator.orders.extend(
        [
            _history_order("undated", now, [_bundle_item(iccid)], createdDate=None),
            _history_order("esim-item", now, [{**_bundle_item(iccid), "type": "esim"}]),
            _history_order("text-item", now, [DEFAULT_BUNDLE]),
        ]
    )
    async with client(emulator) as provider:
        found = await provider.async_find_order(iccid, "ref-none", now - timedelta(seconds=30))
    assert found is None


async def test_proven_order_without_bundle_name(emulator: EsimGoEmulator) -> None:
    """After a restart, an order proven to be for our eSIM is claimed even when its item
    does not name the bundle."""
    iccid = emulator.add_esim("active")
    now = datetime.now(UTC)
    item = {"type": "bundle", "quantity": 1, "iccids": [iccid]}
    emulator.orders.append(_history_order("no-name", now, [item]))
    async with client(emulator) as provider:
        found = await provider.async_find_order(iccid, "ref-unnamed", now - timedelta(seconds=30))
    assert found is not None
    assert found.order_id == "no-name"
    assert found.package_id == "unknown"
    assert found.price == Money(Decimal("4.55"), "USD")
