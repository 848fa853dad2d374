"""A small async rate limiter shared by the HTTP providers."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
import time

from .base import MAX_RETRY_AFTER, RateLimitedError
from .shared import shared_object

# Inside ``fail_fast``: the longest a request may wait for the limiter, in seconds.
_max_wait: ContextVar[float | None] = ContextVar("prepaid_sim_max_wait", default=None)


@contextmanager
def fail_fast(max_wait: float = 5.0) -> Iterator[None]:
    """Make requests in this context refuse a long wait instead of sleeping it out.

    For calls a person waits on (a renewal, a package list, the config flow): any wait on
    a limiter (a provider's Retry-After, a full window, another request holding the
    limiter) longer than ``max_wait`` raises ``RateLimitedError`` with the time left.
    """
    token = _max_wait.set(max_wait)
    try:
        yield
    finally:
        _max_wait.reset(token)


class RateLimiter:
    """Space requests so that at most ``rate`` start in any one-second window.

    A sliding window of start times: cheap, fair in arrival order, and it never bursts
    past the provider's documented limit.
    """

    def __init__(self, rate: float, *, period: float = 1.0) -> None:
        """Allow ``rate`` requests per ``period`` seconds."""
        self._capacity = max(int(rate), 1)
        self._period = period
        self._starts: list[float] = []
        self._lock = asyncio.Lock()
        self._blocked_until = 0.0

    def block_for(self, seconds: float) -> None:
        """Hold every request for ``seconds`` (after a 429), at most ``MAX_RETRY_AFTER``."""
        seconds = min(max(seconds, 0.0), MAX_RETRY_AFTER)
        self._blocked_until = max(self._blocked_until, time.monotonic() + seconds)

    def _wait(self, now: float) -> float:
        """Return how long until one more request may start (0: now)."""
        if now < self._blocked_until:
            return self._blocked_until - now
        self._starts = [t for t in self._starts if now - t < self._period]
        if len(self._starts) < self._capacity:
            return 0.0
        return self._period - (now - self._starts[0])

    async def acquire(self) -> None:
        """Wait until one more request may start (see ``fail_fast`` for a bounded wait)."""
        max_wait = _max_wait.get()
        if max_wait is None:
            async with self._lock:
                await self._wait_turn(None)
            return
        deadline = time.monotonic() + max_wait
        # Refuse at once what is already known to be too long, without queueing.
        if (wait := self._blocked_until - time.monotonic()) > max_wait:
            raise RateLimitedError("rate limited", retry_after=wait)
        try:
            async with asyncio.timeout(max_wait):
                await self._lock.acquire()
        except TimeoutError:
            # Someone ahead of us holds the limiter for longer than we may wait.
            wait = self._wait(time.monotonic())
            raise RateLimitedError("rate limited", retry_after=wait or max_wait) from None
        try:
            await self._wait_turn(deadline)
        finally:
            self._lock.release()

    async def _wait_turn(self, deadline: float | None) -> None:
        """Sleep until a request may start and record it (call with the lock held)."""
        while True:
            now = time.monotonic()
            if (wait := self._wait(now)) <= 0:
                self._starts.append(now)
                return
            if deadline is not None and now + wait > deadline:
                raise RateLimitedError("rate limited", retry_after=wait)
            await asyncio.sleep(wait)


def shared_rate_limiter(key: str, rate: float, *, period: float = 1.0) -> RateLimiter:
    """Return the one limiter for ``key`` (an account or a host) in this event loop.

    A provider's limit applies to the account or the IP, not to one client object: the
    config flow's client, a reloaded entry's client and the running one must share it.
    """
    return shared_object(f"limiter {key}", lambda: RateLimiter(rate, period=period))
