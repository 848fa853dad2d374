"""What a provider may plausibly say about a line, checked the same way for every provider.

A value outside these bounds is not a reading but a fault at the provider (or something
posing as it): a negative data size, more than a petabyte, a date before 2000 or after
2100, a value of the wrong JSON type. The line that carries one is reported unreadable,
so its entities show nothing rather than a wrong figure, while the other lines of the
account read as usual.

Each client raises these errors while it reads an answer (before it clamps or converts
anything) and passes every line it built through ``check_line``, the last gate before a
``Snapshot``.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Final

from .base import Line
from .http import MalformedError

# A petabyte (decimal): far beyond any prepaid allowance, small enough to catch a unit gone
# wrong (a byte count read as megabytes) or a garbled number.
MAX_DATA_BYTES: Final = 10**15
# Prepaid eSIMs and IoT SIMs did not exist before 2000; a date past 2100 is a sentinel or
# garbage, not an expiry anyone can plan around.
EARLIEST_TIME: Final = datetime(2000, 1, 1, tzinfo=UTC)
LATEST_TIME: Final = datetime(2101, 1, 1, tzinfo=UTC)

# JSON kinds as Python reads them, for messages.
_JSON_KIND: Final = {
    bool: "a boolean",
    int: "a number",
    float: "a number",
    str: "text",
    list: "a list",
    dict: "an object",
}


class ImplausibleValueError(MalformedError):
    """A value of the right type that no provider could mean (out of range)."""


def _kind(value: object) -> str:
    """Name the JSON kind of ``value`` ("a boolean", "a list", ...)."""
    return _JSON_KIND.get(type(value), type(value).__name__)


def expect_json(value: object, field: str, *kinds: type) -> object:
    """Return ``value`` when it is absent (None) or one of the JSON ``kinds``.

    ``bool`` is a kind of its own here (Python counts it as an ``int``): a boolean where a
    number or a date belongs is a wrong type. Raises ``MalformedError`` otherwise.
    """
    if value is None:
        return None
    if isinstance(value, bool):
        if bool in kinds:
            return value
    elif isinstance(value, kinds):
        return value
    wanted = " or ".join(dict.fromkeys(_JSON_KIND.get(kind, kind.__name__) for kind in kinds))
    raise MalformedError(f"{field} is {_kind(value)}, expected {wanted}")


def check_size(value: int, field: str, *, may_be_negative: bool = False) -> int:
    """Return a data size in bytes when it is plausible; raise ``ImplausibleValueError``.

    ``may_be_negative`` is for the rare documented overdraft (1NCE: the remaining volume
    "can be negative"); its size is still bounded.
    """
    # No figure in the messages: a long run of digits reads as an identifier and is cut.
    if value < 0 and not may_be_negative:
        raise ImplausibleValueError(f"{field} is negative")
    if abs(value) > MAX_DATA_BYTES:
        raise ImplausibleValueError(f"{field} is more than a petabyte")
    return value


def check_time[T: (datetime, datetime | None)](value: T, field: str) -> T:
    """Return a time (None passes) when it lies in 2000-2100; raise ``ImplausibleValueError``."""
    if value is not None and not EARLIEST_TIME <= value < LATEST_TIME:
        raise ImplausibleValueError(f"{field} is {value:%Y-%m-%d}, outside 2000-2100")
    return value


def _sizes(line: Line) -> Iterator[tuple[str, int | None]]:
    """Yield every data size a line carries, by field name."""
    yield "data_total_bytes", line.data_total_bytes
    yield "data_used_bytes", line.data_used_bytes
    yield "data_remaining_bytes", line.data_remaining_bytes
    yield "daily_data_bytes", line.daily_data_bytes
    yield "plan_data_bytes", line.plan_data_bytes
    for topup in line.queued:
        yield "queued data_bytes", topup.data_bytes


def _times(line: Line) -> Iterator[tuple[str, datetime | None]]:
    """Yield every provider time a line carries, by field name."""
    yield "expires_at", line.expires_at
    yield "usage_updated_at", line.usage_updated_at
    yield "last_topup_at", line.last_topup_at
    for topup in line.queued:
        yield "queued added_at", topup.added_at


def check_line(line: Line) -> Line:
    """Return ``line`` when every size and time in it is plausible; raise otherwise.

    The same gate for every provider, after its own reading of the answer: whatever a
    client's parsing let through, no line with an impossible figure reaches a sensor.
    """
    for field, size in _sizes(line):
        if size is not None:
            check_size(size, field)
    for field, moment in _times(line):
        check_time(moment, field)
    return line
