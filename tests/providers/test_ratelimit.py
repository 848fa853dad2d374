"""The shared rate limiter: fair spacing, and no long sleep where a person waits."""

from __future__ import annotations

import asyncio
import contextlib
import time

import pytest

from custom_components.prepaid_sim.providers.base import MAX_RETRY_AFTER, RateLimitedError
from custom_components.prepaid_sim.providers.ratelimit import RateLimiter, fail_fast


async def test_block_is_refused_at_once_inside_fail_fast() -> None:
    """A 429's Retry-After longer than the person may wait is not slept out."""
    limiter = RateLimiter(10)
    limiter.block_for(600)
    started = time.monotonic()
    with fail_fast(), pytest.raises(RateLimitedError) as caught:
        await limiter.acquire()
    assert time.monotonic() - started < 0.5
    assert caught.value.retry_after == pytest.approx(600, abs=5)


async def test_short_block_is_waited_inside_fail_fast() -> None:
    """A wait within ``max_wait`` is simply waited."""
    limiter = RateLimiter(10)
    limiter.block_for(0.2)
    started = time.monotonic()
    with fail_fast(max_wait=2.0):
        await limiter.acquire()
    assert 0.15 < time.monotonic() - started < 1.5


async def test_block_is_capped() -> None:
    """No provider holds a limiter longer than MAX_RETRY_AFTER."""
    limiter = RateLimiter(10)
    limiter.block_for(10**9)
    with fail_fast(), pytest.raises(RateLimitedError) as caught:
        await limiter.acquire()
    assert caught.value.retry_after is not None
    assert MAX_RETRY_AFTER - 5 < caught.value.retry_after <= MAX_RETRY_AFTER


async def test_full_window_is_refused_inside_fail_fast() -> None:
    """A window that frees up only after ``max_wait`` (Airalo's token: 3 a minute) raises."""
    limiter = RateLimiter(1, period=60.0)
    await limiter.acquire()
    started = time.monotonic()
    with fail_fast(max_wait=1.0), pytest.raises(RateLimitedError) as caught:
        await limiter.acquire()
    assert time.monotonic() - started < 0.5
    assert caught.value.retry_after == pytest.approx(60, abs=2)


async def test_waiting_behind_a_long_sleeper_is_bounded() -> None:
    """A background request sleeping on the limiter does not hold a person's request."""
    limiter = RateLimiter(1, period=30.0)
    await limiter.acquire()
    # Outside fail_fast: sleeps ~30 s holding the limiter's queue.
    background = asyncio.create_task(limiter.acquire())
    await asyncio.sleep(0.05)
    started = time.monotonic()
    with fail_fast(max_wait=0.3), pytest.raises(RateLimitedError) as caught:
        await limiter.acquire()
    elapsed = time.monotonic() - started
    background.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await background
    assert 0.25 < elapsed < 1.5
    assert caught.value.retry_after is not None
    assert caught.value.retry_after > 0.3


def test_rate_limited_error_caps_retry_after() -> None:
    """Whatever a client passes on, the error never asks for more than an hour."""
    assert RateLimitedError(retry_after=10**6).retry_after == MAX_RETRY_AFTER
    assert RateLimitedError(retry_after=12.5).retry_after == 12.5
    assert RateLimitedError().retry_after is None
