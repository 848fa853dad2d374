"""What every HTTP provider client guarantees, checked against each emulator.

Redirects are never followed, so credentials never reach another server; a purchase
whose answer cannot be used is "outcome unknown", never "not charged".
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
import logging
import time

import pytest

from custom_components.prepaid_sim.providers.base import (
    MAX_RETRY_AFTER,
    NotProviderApiError,
    OrderOutcomeUnknownError,
    ProviderError,
    RateLimitedError,
    RedirectedError,
    ResponseTooLargeError,
)
from custom_components.prepaid_sim.providers.ratelimit import fail_fast
from tests.emulators.server import TrapServer

from .conftest import FakeClock
from .harness import PROVIDER_KEYS, TOKEN_PROVIDER_KEYS, Harness, open_harness


@pytest.fixture
async def trap(socket_enabled: None) -> AsyncIterator[TrapServer]:
    """Serve a server that records whatever reaches it (where redirects point)."""
    async with TrapServer() as server:
        yield server


@pytest.fixture(params=PROVIDER_KEYS)
async def harness(
    request: pytest.FixtureRequest, socket_enabled: None, clock: FakeClock, trap: TrapServer
) -> AsyncIterator[Harness]:
    """Serve one provider's emulator, its redirects pointed at the trap."""
    async with open_harness(request.param, clock) as opened:
        opened.emulator.redirect_target = trap.base_url
        yield opened


@pytest.fixture(params=TOKEN_PROVIDER_KEYS)
async def token_harness(
    request: pytest.FixtureRequest, socket_enabled: None, clock: FakeClock, trap: TrapServer
) -> AsyncIterator[Harness]:
    """Serve an OAuth provider's emulator, its redirects pointed at the trap."""
    async with open_harness(request.param, clock) as opened:
        opened.emulator.redirect_target = trap.base_url
        yield opened


# --- redirects -------------------------------------------------------------------------


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
async def test_read_redirect_is_not_followed(
    harness: Harness, trap: TrapServer, status: int
) -> None:
    """A redirected read is a typed error, and nothing reaches where it points."""
    harness.emulator.redirect_status = status
    harness.fail_account_read("redirect")
    with pytest.raises(RedirectedError) as caught:
        await harness.provider.async_get_account()
    assert caught.value.status == status
    assert caught.value.location is not None
    assert caught.value.location.startswith(trap.base_url)
    assert trap.received == []
    # The next read goes to the provider again, as usual.
    account = await harness.provider.async_get_account()
    assert account.account_id
    assert trap.received == []


async def test_purchase_redirect_is_outcome_unknown(harness: Harness, trap: TrapServer) -> None:
    """A redirected purchase may have been acted on: unknown, to be looked up."""
    package = await harness.package()
    harness.fail_purchase("redirect")
    with pytest.raises(OrderOutcomeUnknownError) as caught:
        await harness.provider.async_purchase(harness.line_id, package, "ref-redirect-1")
    assert isinstance(caught.value.__cause__, RedirectedError)
    assert caught.value.reference == "ref-redirect-1"
    assert trap.received == []
    assert trap.leaked(harness.secrets) == []
    assert harness.charges() == 0


async def test_token_redirect_is_not_followed(token_harness: Harness, trap: TrapServer) -> None:
    """The client secret, sent only to the token endpoint, never follows a redirect."""
    assert token_harness.fail_token is not None
    token_harness.fail_token("redirect")
    with pytest.raises(RedirectedError):
        await token_harness.provider.async_get_account()
    assert trap.received == []


# --- the base URL as users copy it -------------------------------------------------------


@pytest.mark.parametrize("path", ["/wrong", "/api", "/v9"])
async def test_wrong_path_is_not_the_provider_api(harness: Harness, path: str) -> None:
    """A server that answers 404 at the wrong path is named for what it is."""
    provider = harness.make_client(harness.bare_host() + path)
    with pytest.raises(NotProviderApiError) as caught:
        await provider.async_get_account()
    assert str(caught.value).startswith("this address is not the provider's API")
    with pytest.raises(NotProviderApiError):
        await provider.async_list_lines()


@pytest.mark.parametrize("form", ["bare", "with_path", "with_path_and_slash"])
async def test_base_url_with_or_without_the_documented_path(harness: Harness, form: str) -> None:
    """The bare host and the host with the docs' API path both reach the API."""
    url = {
        "bare": harness.bare_host(),
        "with_path": harness.bare_host() + harness.api_path,
        "with_path_and_slash": harness.bare_host() + harness.api_path + "/",
    }[form]
    provider = harness.make_client(url)
    account = await provider.async_get_account()
    assert account.account_id
    assert harness.line_id in {line.line_id for line in await provider.async_list_lines()}


# --- answer size ----------------------------------------------------------------------


async def test_oversized_read_is_refused(harness: Harness) -> None:
    """A body past the cap is not read to its end; the next read works as usual."""
    harness.fail_account_read("oversize")
    with pytest.raises(ResponseTooLargeError):
        await harness.provider.async_get_account()
    assert (await harness.provider.async_get_account()).account_id


async def test_oversized_purchase_answer_is_outcome_unknown(harness: Harness) -> None:
    """An order answered with something unreadable may have been placed: unknown."""
    package = await harness.package()
    harness.fail_purchase("oversize")
    with pytest.raises(OrderOutcomeUnknownError) as caught:
        await harness.provider.async_purchase(harness.line_id, package, "ref-oversize-1")
    assert isinstance(caught.value.__cause__, ResponseTooLargeError)


# --- Retry-After ---------------------------------------------------------------------------


async def test_long_retry_after_inside_fail_fast_raises_promptly(harness: Harness) -> None:
    """A person waiting is told when to come back (10 min), not kept waiting for it."""
    harness.set_retry_after(600)
    harness.fail_account_read("rate_limit")
    started = time.monotonic()
    with fail_fast(), pytest.raises(RateLimitedError) as caught:
        await harness.provider.async_get_account()
    assert caught.value.retry_after == pytest.approx(600, abs=5)
    # The next request the person makes is refused by the client itself, at once.
    with fail_fast(), pytest.raises(RateLimitedError) as again:
        await harness.provider.async_get_account()
    assert again.value.retry_after == pytest.approx(600, abs=5)
    assert time.monotonic() - started < 2.0


async def test_retry_after_is_capped_at_an_hour(harness: Harness) -> None:
    """Outside fail_fast, a huge Retry-After still holds the client for an hour at most."""
    harness.set_retry_after(10**6)
    harness.fail_account_read("rate_limit")
    with pytest.raises(RateLimitedError) as caught:
        await harness.provider.async_get_account()
    assert caught.value.retry_after == MAX_RETRY_AFTER
    with fail_fast(), pytest.raises(RateLimitedError) as again:
        await harness.provider.async_get_account()
    assert again.value.retry_after is not None
    assert MAX_RETRY_AFTER - 5 < again.value.retry_after <= MAX_RETRY_AFTER


# --- privacy --------------------------------------------------------------------------

# An ICCID the account does not have.
UNKNOWN_ICCID = "8988303000001234567"


def _error_texts(error: BaseException) -> list[str]:
    """Return the message of an error and of every error it was raised from."""
    texts: list[str] = []
    current: BaseException | None = error
    while current is not None:
        texts.append(str(current))
        current = current.__cause__
    return texts


async def test_identifiers_stay_out_of_errors_and_logs(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    """Failures about a line keyed by ICCID never show the ICCID, at any log level."""
    caplog.set_level(logging.DEBUG)
    package = await harness.package()
    provider = harness.provider
    attempts: list[Callable[[], Awaitable[object]]] = [
        lambda: provider.async_fetch([harness.line_id]),
        lambda: provider.async_list_packages(UNKNOWN_ICCID),
        lambda: provider.async_purchase(UNKNOWN_ICCID, package, "ref-privacy-1"),
        lambda: provider.async_purchase(harness.line_id, package, "ref-privacy-2"),
        lambda: provider.async_find_order(UNKNOWN_ICCID, "ref-privacy-3", datetime.now(UTC)),
    ]
    errors: list[ProviderError] = []
    for number, attempt in enumerate(attempts):
        # An unreadable line, and a purchase that goes wrong after it was sent.
        if number == 0:
            harness.fail_line_read("malformed")
        if number == 3:
            harness.fail_purchase("http_500")
        try:
            await attempt()
        except ProviderError as err:
            errors.append(err)
    assert errors
    for error in errors:
        for text in _error_texts(error):
            assert harness.iccid not in text
            assert UNKNOWN_ICCID not in text
    assert harness.iccid not in caplog.text
    assert UNKNOWN_ICCID not in caplog.text
