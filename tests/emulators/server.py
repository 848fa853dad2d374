"""The server lifecycle every provider emulator shares: loopback only, a random port."""

from __future__ import annotations

import asyncio
from collections import deque
import contextlib
from types import TracebackType
from typing import ClassVar, Final, Literal, Self

from aiohttp import web

HOST: Final = "127.0.0.1"

# How the emulators of the OAuth token APIs (Airalo, 1NCE) fail the next request of a route.
type TokenApiFaultMode = Literal[
    # Apply the request (order a top-up), then close the connection without answering.
    "drop_after_commit",
    # Sleep ``timeout_delay`` seconds without applying anything (the client gives up first).
    "timeout",
    # HTTP 500 before anything is applied.
    "http_500",
    # HTTP 503 before anything is applied.
    "http_503",
    # Apply the request, then answer HTTP 500.
    "http_500_after_commit",
    # Apply the request, then answer HTTP 503.
    "http_503_after_commit",
    # HTTP 429 with ``Retry-After``, nothing applied.
    "rate_limit",
    # HTTP 200 whose body is not valid JSON; nothing applied.
    "malformed",
    # Every token issued so far stops working just before this request (it gets a 401).
    "expired_token",
]


class EmulatorServer:
    """Serve ``build_app()`` on ``host``; ``start`` returns ``base_url`` (with ``api_prefix``).

    ``close`` also wakes every request parked by ``park`` (the ``timeout`` faults).
    """

    api_prefix: ClassVar[str] = ""
    shutdown_timeout: ClassVar[float] = 0.5

    def __init__(self, *, port: int = 0, host: str = HOST) -> None:
        """Serve on ``host``:``port`` once started; ``port`` 0 picks a free one."""
        self.host = host
        self.port = port
        self.base_url = ""
        self._closing = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self._site: web.TCPSite | None = None

    def build_app(self) -> web.Application:
        """Return the application with the emulator's routes."""
        raise NotImplementedError

    async def start(self) -> str:
        """Serve and return the base URL (``http://HOST:PORT`` + ``api_prefix``)."""
        self._runner = web.AppRunner(
            self.build_app(), access_log=None, shutdown_timeout=self.shutdown_timeout
        )
        await self._runner.setup()
        self._site = site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        self.port = self._runner.addresses[0][1]
        self.base_url = f"http://{self.host}:{self.port}{self.api_prefix}"
        return self.base_url

    async def close(self) -> None:
        """Stop serving; wakes any request parked by the ``timeout`` fault."""
        self._closing.set()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def park(self, delay: float) -> None:
        """Hold a request for ``delay`` seconds, or until the emulator closes."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._closing.wait(), delay)

    async def __aenter__(self) -> Self:
        """Start serving."""
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Stop serving."""
        await self.close()


def over_limit(arrivals: deque[float], limit: int, window: float, now: float) -> bool:
    """Slide a window of request arrivals; True when one more would exceed ``limit``.

    A request that is let through is recorded in ``arrivals``.
    """
    while arrivals and now - arrivals[0] >= window:
        arrivals.popleft()
    if len(arrivals) >= limit:
        return True
    arrivals.append(now)
    return False
