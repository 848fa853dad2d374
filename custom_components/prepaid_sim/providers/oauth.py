"""OAuth client-credentials tokens, as Airalo and 1NCE hand them out.

A token is fetched once for everyone who needs it, reused until shortly before it ages
out, and replaced once when the API refuses it: token endpoints allow only a few calls a
minute, so a token per request (or per refused request) would soon be refused itself.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

# Fetches a new token: returns it and its ``expires_in`` in seconds (None when not given).
type TokenFetcher = Callable[[], Awaitable[tuple[str, float | None]]]
# Monotonic seconds.
type Clock = Callable[[], float]


class BearerToken:
    """The cached bearer token of one account; clients of the account may share it."""

    def __init__(
        self, *, default_lifetime: float, refresh_margin: float, max_lifetime: float | None = None
    ) -> None:
        """Set how long a token is trusted and how early it is renewed.

        A token lives its ``expires_in`` (else ``default_lifetime``), at most
        ``max_lifetime``, and is renewed ``refresh_margin`` seconds before that.
        """
        self._default_lifetime = default_lifetime
        self._max_lifetime = max_lifetime
        self._refresh_margin = refresh_margin
        self._token: str | None = None
        self._renew_at = 0.0
        self._lock = asyncio.Lock()

    def _fresh(self, clock: Clock) -> str | None:
        """Return the cached token while it may still be used."""
        return self._token if self._token is not None and clock() < self._renew_at else None

    async def get(self, fetch: TokenFetcher, clock: Clock) -> str:
        """Return the cached token, fetching one (once, for all callers) when needed."""
        if (token := self._fresh(clock)) is not None:
            return token
        async with self._lock:
            if (token := self._fresh(clock)) is not None:
                return token
            return await self._fetch(fetch, clock)

    async def replace(self, refused: str, fetch: TokenFetcher, clock: Clock) -> str:
        """Replace a token the API refused; callers refused the same token share one renewal."""
        async with self._lock:
            if (token := self._fresh(clock)) is not None and token != refused:
                return token
            self._token = None
            return await self._fetch(fetch, clock)

    async def _fetch(self, fetch: TokenFetcher, clock: Clock) -> str:
        """Fetch a token and note when to renew it (call with the lock held)."""
        token, expires_in = await fetch()
        lifetime = self._default_lifetime
        if expires_in is not None and expires_in > 0:
            lifetime = expires_in
        if self._max_lifetime is not None:
            lifetime = min(lifetime, self._max_lifetime)
        # Renew a little early, but never so early that a short-lived token is useless.
        margin = min(self._refresh_margin, lifetime * 0.1)
        self._token = token
        self._renew_at = clock() + lifetime - margin
        return token
