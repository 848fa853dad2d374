"""The shared HTTP helpers of the provider clients."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import aiohttp
from aiohttp import web
import pytest

from custom_components.prepaid_sim.providers.base import RedirectedError, ResponseTooLargeError
from custom_components.prepaid_sim.providers.http import (
    MAX_RESPONSE_BYTES,
    describe_for,
    exchange,
    parse_retry_after,
)
from tests.emulators.server import EmulatorServer, TrapServer, stream_oversize


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("5", 5.0),
        ("0.5", 0.5),
        ("-3", 0.0),
        ("100000", 3600.0),
        ("inf", None),
        ("nan", None),
        ("soon", None),
        (None, None),
    ],
)
def test_retry_after_seconds(raw: str | None, expected: float | None) -> None:
    """Seconds are read; values that would hold requests forever are refused."""
    assert parse_retry_after(raw) == expected


def test_retry_after_far_http_date_is_capped() -> None:
    """A date days ahead still holds requests for at most an hour."""
    raw = format_datetime(datetime.now(UTC) + timedelta(days=3), usegmt=True)
    assert parse_retry_after(raw) == 3600.0


def test_retry_after_http_date() -> None:
    """An HTTP date becomes the seconds left until it."""
    raw = format_datetime(datetime.now(UTC) + timedelta(seconds=120), usegmt=True)
    seconds = parse_retry_after(raw)
    assert seconds is not None
    assert 100 < seconds <= 120


class _BodyServer(EmulatorServer):
    """Answers ``/declared/{n}`` with n bytes and a Content-Length, ``/chunked`` without."""

    def build_app(self) -> web.Application:
        """Route the two shapes of answer, and a redirect."""
        app = web.Application()
        app.router.add_get("/declared/{size}", self._declared)
        app.router.add_get("/chunked", stream_oversize)
        app.router.add_post("/moved", self._moved)
        return app

    async def _declared(self, request: web.Request) -> web.Response:
        return web.Response(body=b" " * int(request.match_info["size"]))

    async def _moved(self, request: web.Request) -> web.Response:
        return web.Response(status=307, headers={"Location": self.redirect_target + "/catch"})


@pytest.fixture
async def body_server(socket_enabled: None) -> AsyncIterator[_BodyServer]:
    """Serve the body shapes on loopback."""
    async with _BodyServer() as server:
        yield server


async def _get(url: str) -> bytes:
    async with aiohttp.ClientSession() as session:
        reply = await exchange(
            session,
            "GET",
            url,
            client_timeout=aiohttp.ClientTimeout(total=10),
            describe=describe_for("test"),
        )
    return reply.body


async def test_body_up_to_the_cap_is_read(body_server: _BodyServer) -> None:
    """Exactly the cap is still an answer."""
    body = await _get(f"{body_server.base_url}/declared/{MAX_RESPONSE_BYTES}")
    assert len(body) == MAX_RESPONSE_BYTES


@pytest.mark.parametrize("path", [f"/declared/{MAX_RESPONSE_BYTES + 1}", "/chunked"])
async def test_body_past_the_cap_is_refused(body_server: _BodyServer, path: str) -> None:
    """Past the cap, with or without a Content-Length, nothing more is read."""
    with pytest.raises(ResponseTooLargeError):
        await _get(body_server.base_url + path)


async def test_redirect_is_never_followed(body_server: _BodyServer) -> None:
    """Even a 307 (which would resend the body and headers) stays unfollowed."""
    async with TrapServer() as trap, aiohttp.ClientSession() as session:
        body_server.redirect_target = trap.base_url
        with pytest.raises(RedirectedError) as caught:
            await exchange(
                session,
                "POST",
                f"{body_server.base_url}/moved",
                headers={"Authorization": "Bearer secret-token"},
                json_body={"client_secret": "s3cret"},
                client_timeout=aiohttp.ClientTimeout(total=10),
                describe=describe_for("test"),
            )
    assert caught.value.status == 307
    assert trap.received == []
    assert "secret" not in str(caught.value)
