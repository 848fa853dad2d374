"""A loopback HTTP server that answers with canned replies, for answers no emulator gives.

The emulators speak each provider's documented protocol; some tests need an answer that is
odd on purpose (a listing without paging metadata, a balance in another shape). Serving it
over HTTP lets the client be driven through its public methods only.
"""

from __future__ import annotations

from collections import defaultdict, deque
from collections.abc import Iterable, Mapping
from types import TracebackType
from typing import Self

from aiohttp import web
from aiohttp.test_utils import TestServer

# One canned answer: HTTP status and JSON body.
type Canned = tuple[int, object]


class CannedApi:
    """Answer each request path with the next canned reply queued for it.

    A path listed in ``always`` gives the same answer every time (a token endpoint); a path
    with nothing left answers 404. ``requests`` records the path and query of each request.
    """

    def __init__(self, prefix: str = "", *, always: Mapping[str, Canned] | None = None) -> None:
        """Serve under ``prefix`` (e.g. ``/v2``), with ``always`` answered every time."""
        self.prefix = prefix
        self.always = dict(always or {})
        self.queued: defaultdict[str, deque[Canned]] = defaultdict(deque)
        self.requests: list[tuple[str, dict[str, str]]] = []
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._answer)
        self._server = TestServer(app, host="127.0.0.1")

    def queue(self, path: str, replies: Iterable[Canned]) -> None:
        """Queue replies for ``path`` (below the prefix), answered in turn."""
        self.queued[path].extend(replies)

    @property
    def base_url(self) -> str:
        """Return the URL a client is built with."""
        return str(self._server.make_url(self.prefix))

    async def _answer(self, request: web.Request) -> web.Response:
        path = request.path.removeprefix(self.prefix)
        self.requests.append((path, dict(request.query)))
        if path in self.always:
            status, body = self.always[path]
        elif self.queued[path]:
            status, body = self.queued[path].popleft()
        else:
            status, body = 404, {"message": "nothing canned"}
        return web.json_response(body, status=status)

    async def __aenter__(self) -> Self:
        """Start serving."""
        await self._server.start_server()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Stop serving."""
        await self._server.close()
