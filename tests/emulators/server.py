"""The server lifecycle every provider emulator shares: loopback only, a random port."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Iterable, Mapping
import contextlib
from dataclasses import dataclass
from types import TracebackType
from typing import ClassVar, Final, Literal, Self

from aiohttp import web

HOST: Final = "127.0.0.1"

# Faults every emulator can put on any route, before anything is applied.
type CommonFaultMode = Literal[
    # Answer ``redirect_status`` with ``Location`` on ``redirect_target`` (a ``TrapServer``).
    "redirect",
    # HTTP 200 with a body of ``OVERSIZE_BYTES``, streamed without a Content-Length.
    "oversize",
]
COMMON_FAULT_MODES: Final = frozenset({"redirect", "oversize"})
# Larger than any answer a client accepts (4 MiB).
OVERSIZE_BYTES: Final = 5 * 1024 * 1024
_OVERSIZE_CHUNK: Final = b" " * 65536

# Values no provider could mean, which every emulator can serve for one line (its
# ``serve_implausible``): the client must call that line unreadable and read the others.
type ImplausibleValue = Literal[
    # A data size below zero.
    "negative_size",
    # A data size above a petabyte.
    "huge_size",
    # An expiry before 2000.
    "old_date",
    # An expiry after 2100.
    "far_date",
    # A data size of the wrong JSON type (an object where a number belongs).
    "wrong_type",
]
IMPLAUSIBLE_VALUES: Final[tuple[ImplausibleValue, ...]] = (
    "negative_size",
    "huge_size",
    "old_date",
    "far_date",
    "wrong_type",
)

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
    "redirect",
    "oversize",
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
        # Where the "redirect" fault sends a client (the request's path and query appended).
        self.redirect_target = "http://127.0.0.1:9"
        self.redirect_status = 307

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

    async def common_fault(
        self, request: web.Request, mode: str | None
    ) -> web.StreamResponse | None:
        """Answer a ``CommonFaultMode``; None for any other mode (or none)."""
        if mode == "redirect":
            # 307 keeps the method and body: a client that followed would resend everything.
            location = self.redirect_target + request.path_qs
            return web.Response(status=self.redirect_status, headers={"Location": location})
        if mode == "oversize":
            return await stream_oversize(request)
        return None

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


async def stream_oversize(request: web.Request) -> web.StreamResponse:
    """Stream ``OVERSIZE_BYTES`` of JSON whitespace with no Content-Length.

    Only a client that counts what it reads can stop it; one that gives up early closes
    the connection, which is not an error here.
    """
    response = web.StreamResponse(status=200, headers={"Content-Type": "application/json"})
    response.enable_chunked_encoding()
    await response.prepare(request)
    with contextlib.suppress(ConnectionError):
        await response.write(b"{")
        for _ in range(OVERSIZE_BYTES // len(_OVERSIZE_CHUNK)):
            await response.write(_OVERSIZE_CHUNK)
        await response.write(b"}")
        await response.write_eof()
    return response


@dataclass(frozen=True, slots=True)
class TrapRequest:
    """One request that reached a ``TrapServer``."""

    method: str
    path_qs: str
    headers: Mapping[str, str]
    body: bytes

    def text(self) -> str:
        """Return everything the request carried, as one string to search."""
        headers = "\n".join(f"{key}: {value}" for key, value in self.headers.items())
        return f"{self.method} {self.path_qs}\n{headers}\n{self.body.decode(errors='replace')}"


class TrapServer(EmulatorServer):
    """A loopback server that records whatever reaches it: where a redirect points.

    A client that never follows redirects sends it nothing at all.
    """

    def __init__(self) -> None:
        """Record nothing yet."""
        super().__init__()
        self.received: list[TrapRequest] = []

    def build_app(self) -> web.Application:
        """Take every method on every path."""
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._record)
        return app

    async def _record(self, request: web.Request) -> web.Response:
        """Keep the request and answer a plausible empty success."""
        self.received.append(
            TrapRequest(
                method=request.method,
                path_qs=request.path_qs,
                headers=dict(request.headers),
                body=await request.read(),
            )
        )
        return web.json_response({"success": True, "data": {}})

    def leaked(self, secrets: Iterable[str]) -> list[str]:
        """Return the secrets found in any request received."""
        texts = [request.text() for request in self.received]
        return [secret for secret in secrets if any(secret in text for text in texts)]
