"""The HTTP transport the provider clients share: one exchange, its failures, its headers.

Nothing here knows a provider's envelope or error codes; each client parses the body it
gets back. What is common is how an exchange fails: a connect that never happened cannot
have delivered the request, anything later may have.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from email.utils import parsedate_to_datetime
import math
from typing import Final

import aiohttp
import orjson

from .base import MAX_RETRY_AFTER, RedirectedError, ResponseTooLargeError, redact_identifiers

# The largest answer read. The biggest documented one (a page of 500 eSIM Access records)
# is well under 1 MiB; a larger body is not an API answer and would only cost memory.
MAX_RESPONSE_BYTES: Final = 4 * 1024 * 1024
_READ_CHUNK_BYTES: Final = 64 * 1024

# What an exchange raises after the connection was made: the request may have arrived.
SENT_ERRORS: tuple[type[BaseException], ...] = (TimeoutError, aiohttp.ClientError, OSError)

type Describe = Callable[[BaseException, bool], str]

# Answers that arrived but cannot be used. For a purchase they leave the outcome unknown:
# whatever sits at the address may have acted on the order.
UNUSABLE_ANSWER_ERRORS: tuple[type[Exception], ...] = (RedirectedError, ResponseTooLargeError)


class MalformedError(Exception):
    """A response body that does not have the shape we rely on."""


class TransportError(Exception):
    """The HTTP exchange failed; ``sent`` says whether the request may have gone out."""

    def __init__(self, message: str, *, sent: bool) -> None:
        """Keep whether the provider may have received the request (the URL may name a SIM)."""
        super().__init__(redact_identifiers(message))
        self.sent = sent


@dataclass(frozen=True, slots=True)
class HttpReply:
    """One whole HTTP answer: the status, lower-cased headers and the raw body."""

    status: int
    headers: Mapping[str, str]
    body: bytes


@dataclass(frozen=True, slots=True)
class JsonReply:
    """One HTTP answer: status, lower-cased headers and the parsed JSON (None if not JSON)."""

    status: int
    headers: Mapping[str, str]
    data: object

    @property
    def ok(self) -> bool:
        """Return True for a 2xx answer."""
        return 200 <= self.status < 300

    @property
    def body(self) -> Mapping[str, object] | None:
        """Return the answer as a JSON object, if it is one."""
        return self.data if isinstance(self.data, Mapping) else None


def describe_for(peer: str) -> Describe:
    """Return the usual failure wording for ``peer`` ("cannot connect to X: ...")."""

    def describe(err: BaseException, sent: bool) -> str:
        if sent:
            return f"no answer from {peer}: {err!r}"
        return f"cannot connect to {peer}: {err}"

    return describe


async def exchange(
    session: aiohttp.ClientSession,
    method: str,
    url: str,
    *,
    client_timeout: aiohttp.ClientTimeout,
    describe: Describe,
    headers: Mapping[str, str] | None = None,
    params: Mapping[str, str] | None = None,
    data: bytes | aiohttp.FormData | None = None,
    json_body: object = None,
    raise_for_status: bool | None = None,
    sent_errors: tuple[type[BaseException], ...] = SENT_ERRORS,
) -> HttpReply:
    """Send one request and read the whole answer.

    Raises ``TransportError`` with ``sent=False`` when no connection was made (the request
    cannot have arrived) and ``sent=True`` for a failure in ``sent_errors`` after that.
    A redirect is never followed (it would carry the credentials elsewhere): any 3xx
    raises ``RedirectedError``. A body over ``MAX_RESPONSE_BYTES`` raises
    ``ResponseTooLargeError``. ``raise_for_status=None`` keeps the session's own setting.
    """
    try:
        async with session.request(
            method,
            url,
            params=params,
            data=data,
            json=json_body,
            headers=headers,
            timeout=client_timeout,
            allow_redirects=False,
            raise_for_status=raise_for_status,
        ) as response:
            if 300 <= response.status < 400:
                raise RedirectedError(response.status, response.headers.get("Location"))
            raw = await _read_capped(response)
            # Lower-cased keys: header names are case-insensitive.
            reply_headers = {key.lower(): value for key, value in response.headers.items()}
            return HttpReply(response.status, reply_headers, raw)
    except (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError) as err:
        # No connection was ever made, so the request cannot have arrived.
        raise TransportError(describe(err, False), sent=False) from err
    except sent_errors as err:
        raise TransportError(describe(err, True), sent=True) from err


async def _read_capped(response: aiohttp.ClientResponse) -> bytes:
    """Read the body in chunks; raise ``ResponseTooLargeError`` past ``MAX_RESPONSE_BYTES``.

    A declared length over the cap is refused before reading anything; the count also
    covers bodies sent without one (chunked) and what a compressed body expands to.
    """
    too_large = f"the answer is larger than {MAX_RESPONSE_BYTES // (1024 * 1024)} MiB; not read"
    declared = response.content_length
    if declared is not None and declared > MAX_RESPONSE_BYTES:
        raise ResponseTooLargeError(too_large)
    body = bytearray()
    async for chunk in response.content.iter_chunked(_READ_CHUNK_BYTES):
        body += chunk
        if len(body) > MAX_RESPONSE_BYTES:
            raise ResponseTooLargeError(too_large)
    return bytes(body)


def parse_retry_after(raw: str | None) -> float | None:
    """Read a ``Retry-After`` value as seconds: a number or an HTTP date; None if unusable.

    "inf" or "nan" would hold every request forever, or break the caller's timer: None.
    Anything longer than ``MAX_RETRY_AFTER`` is cut to it.
    """
    if not raw:
        return None
    try:
        seconds = float(raw)
    except ValueError:
        pass
    else:
        if math.isfinite(seconds):
            return min(max(seconds, 0.0), MAX_RETRY_AFTER)
        return None
    try:
        when = parsedate_to_datetime(raw)
    except TypeError, ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return min(max((when - datetime.now(UTC)).total_seconds(), 0.0), MAX_RETRY_AFTER)


def json_or_none(body: bytes) -> object:
    """Parse a JSON body; None when it is empty or not JSON."""
    try:
        # orjson (which Home Assistant ships) parses several times faster than json.
        result: object = orjson.loads(body)
    except ValueError:
        return None
    return result


def from_epoch(value: float) -> datetime:
    """Turn epoch seconds (or milliseconds, when huge) into an aware UTC datetime.

    Raises ``OverflowError``, ``OSError`` or ``ValueError`` for a number out of range.
    """
    seconds = value / 1000 if value > 100_000_000_000 else value
    return datetime.fromtimestamp(seconds, UTC)


def to_utc(value: datetime) -> datetime:
    """Return ``value`` in UTC; a time without an offset is taken to be UTC already.

    Raises ``OverflowError`` when the shift to UTC leaves the calendar.
    """
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


# --- tolerant readers of JSON values -----------------------------------------------------


def as_str(value: object) -> str | None:
    """Return a non-empty string (numbers are accepted as ids), or None."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        return None
    text = str(value).strip()
    return text or None


def currency_or(value: object, default: str) -> str:
    """Return a three-letter ISO 4217 code, upper-cased; ``default`` when absent or odd."""
    text = as_str(value)
    return text.upper() if text and len(text) == 3 else default


def as_decimal(value: object) -> Decimal | None:
    """Return a finite Decimal from a JSON number or numeric string; None when absent.

    Raises ``MalformedError`` for a value that is present but not a number.
    """
    if value is None or value == "":
        return None
    if isinstance(value, Decimal):
        return value
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise MalformedError(f"not a number: {value!r}")
    try:
        # str() first so 4.55 stays 4.55 rather than its binary expansion.
        number = Decimal(str(value).strip())
    except InvalidOperation as err:
        raise MalformedError(f"not a number: {value!r}") from err
    if not number.is_finite():
        raise MalformedError(f"not a number: {value!r}")
    return number


def safe_decimal(value: object) -> Decimal | None:
    """Return a Decimal, or None for anything that is not one."""
    try:
        return as_decimal(value)
    except MalformedError:
        return None
