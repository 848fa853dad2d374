"""The bearer token cache Airalo and 1NCE share: one fetch for many callers."""

from __future__ import annotations

import asyncio

from custom_components.prepaid_sim.providers.oauth import BearerToken

from .conftest import FakeClock


class _Endpoint:
    """A token endpoint that counts its calls."""

    def __init__(self, expires_in: float | None) -> None:
        self.calls = 0
        self.expires_in = expires_in

    async def fetch(self) -> tuple[str, float | None]:
        self.calls += 1
        await asyncio.sleep(0)
        return f"token-{self.calls}", self.expires_in


async def test_one_fetch_for_concurrent_callers(clock: FakeClock) -> None:
    """Ten callers at once share one token request."""
    cache = BearerToken(default_lifetime=3600, refresh_margin=300)
    endpoint = _Endpoint(3600)
    tokens = await asyncio.gather(*(cache.get(endpoint.fetch, clock.monotonic) for _ in range(10)))
    assert set(tokens) == {"token-1"}
    assert endpoint.calls == 1


async def test_renewed_early_and_capped(clock: FakeClock) -> None:
    """A year-long token is still renewed within its cap, a margin early."""
    cache = BearerToken(default_lifetime=86400, max_lifetime=86400, refresh_margin=300)
    endpoint = _Endpoint(31_622_400)
    assert await cache.get(endpoint.fetch, clock.monotonic) == "token-1"
    clock.mono += 86400 - 301
    assert await cache.get(endpoint.fetch, clock.monotonic) == "token-1"
    clock.mono += 2
    assert await cache.get(endpoint.fetch, clock.monotonic) == "token-2"


async def test_refused_token_is_replaced_once(clock: FakeClock) -> None:
    """Callers refused the same token share one renewal; a newer token is kept."""
    cache = BearerToken(default_lifetime=3600, refresh_margin=300)
    endpoint = _Endpoint(None)
    first = await cache.get(endpoint.fetch, clock.monotonic)
    renewed = await asyncio.gather(
        *(cache.replace(first, endpoint.fetch, clock.monotonic) for _ in range(5))
    )
    assert set(renewed) == {"token-2"}
    assert endpoint.calls == 2
