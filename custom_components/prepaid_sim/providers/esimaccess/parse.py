"""eSIM Access: pure functions from the API's JSON answers to the normalized models.

Nothing here makes a request. Money is an integer times 10,000, data is in bytes, times are
UTC; errors arrive inside HTTP 200 as ``success: false``. Facts the docs do not state are
marked ``[I]``: the code tolerates both readings where it can.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
import hashlib

from ..base import (
    AuthenticationError,
    Line,
    LineStatus,
    Money,
    OrderOutcomeUnknownError,
    OrderRejectedError,
    Package,
    with_new_usage,
)
from ..http import MalformedError, from_epoch, json_or_none, to_utc
from ..plausible import check_line, check_size, expect_json
from .const import (
    AUTH_CODES,
    AUTH_WORDS,
    DAILY_DATA_TYPE,
    DEFAULT_CURRENCY,
    DURATION_UNITS,
    EXPIRED_STATES,
    HEADER_CODES,
    INSUFFICIENT_FUNDS,
    MONEY_SCALE,
    REJECTION_CODES,
    SUSPENDED_STATES,
    USAGE_KEY,
)

type JsonObject = Mapping[str, object]


@dataclass(frozen=True, slots=True)
class Envelope:
    """The ``{success, errorCode, errorMessage, obj}`` wrapper of every answer."""

    success: bool
    code: str
    message: str
    obj: object


# --- small, strict readers for untrusted JSON -------------------------------------------


def as_object(value: object) -> JsonObject:
    """Return ``value`` as a JSON object or raise ``MalformedError``."""
    if not isinstance(value, Mapping):
        raise MalformedError(f"expected an object, got {type(value).__name__}")
    return value


def as_list(value: object) -> Sequence[object]:
    """Return ``value`` as a JSON array (None counts as empty) or raise."""
    if value is None:
        return ()
    if not isinstance(value, list):
        raise MalformedError(f"expected a list, got {type(value).__name__}")
    return value


def read_int(value: object) -> int:
    """Read a non-negative integer; digit strings are tolerated [I]."""
    if isinstance(value, bool):
        raise MalformedError("boolean where a number was expected")
    if isinstance(value, int):
        result = value
    elif isinstance(value, float) and value.is_integer():
        result = int(value)
    elif isinstance(value, str) and value.strip().isdigit():
        result = int(value.strip())
    else:
        raise MalformedError(f"not an integer: {value!r}")
    if result < 0:
        raise MalformedError(f"negative number: {result}")
    return result


def read_opt_int(value: object) -> int | None:
    """Read an optional integer (absent, null or empty string -> None)."""
    return None if value is None or value == "" else read_int(value)


def read_opt_str(value: object) -> str | None:
    """Read an optional string; numbers are accepted as text (ICCIDs, MSISDNs) [I]."""
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise MalformedError(f"not a string: {value!r}")
    return str(value)


def read_str(value: object) -> str:
    """Read a required non-empty string."""
    if (result := read_opt_str(value)) is None:
        raise MalformedError("missing string")
    return result


def error_code(value: object) -> str:
    """Normalize an error code; numbers lose their leading zeros, so pad them [I]."""
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:06d}"
    return "" if value is None else str(value).strip()


def parse_time(value: object) -> datetime | None:
    """Parse a provider timestamp into an aware UTC datetime (None when absent).

    The docs show ``2023-08-17T17:01:37+0000``; other ISO 8601 shapes (``Z``, ``+00:00``,
    a space for ``T``, fractions) and epoch numbers are tolerated [I]. A time without an
    offset is UTC, as the docs say all times are.
    """
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise MalformedError("boolean where a time was expected")
    if isinstance(value, int | float):
        # Epoch numbers are not documented [I]; large ones are milliseconds.
        try:
            return from_epoch(value)
        except (OverflowError, OSError, ValueError) as err:  # out of range, NaN
            raise MalformedError(f"not a time: {value!r}") from err
    if not isinstance(value, str):
        raise MalformedError(f"not a time: {value!r}")
    text = value.strip()
    if text[-1:] in {"Z", "z"}:
        text = text[:-1] + "+00:00"
    try:
        # A time at the edge of the calendar can overflow in the shift to UTC.
        return to_utc(datetime.fromisoformat(text))
    except (OverflowError, ValueError) as err:
        raise MalformedError(f"not a time: {value!r}") from err


def money_from_units(value: object, currency: object) -> Money:
    """Turn a price times 10,000 into ``Money``."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise MalformedError(f"not a price: {value!r}")
    try:
        units = Decimal(str(value).strip())
    except InvalidOperation as err:
        raise MalformedError(f"not a price: {value!r}") from err
    if not units.is_finite() or units < 0:
        raise MalformedError(f"not a price: {value!r}")
    code = read_opt_str(currency) or DEFAULT_CURRENCY
    return Money(units / MONEY_SCALE, code.upper())


def to_units(amount: Decimal) -> int:
    """Turn an amount back into the API's integer times 10,000."""
    return int((amount * MONEY_SCALE).to_integral_value())


def validity(duration: object, unit: object) -> timedelta:
    """Turn ``duration`` + ``durationUnit`` into a timedelta (a missing unit means days [I])."""
    count = read_int(duration)
    word = (read_opt_str(unit) or "DAY").upper().removesuffix("S")
    if (step := DURATION_UNITS.get(word)) is None:
        raise MalformedError(f"unknown durationUnit {unit!r}")
    try:
        return count * step
    except OverflowError as err:
        raise MalformedError(f"duration out of range: {duration!r}") from err


def parse_envelope(body: bytes) -> Envelope | None:
    """Read the answer's envelope; None when it is not the documented JSON object."""
    data = json_or_none(body)
    if not isinstance(data, dict):
        return None
    code = error_code(data.get("errorCode"))
    success = data.get("success")
    if not isinstance(success, bool):
        # Some answers may omit ``success``; an empty or "0" code then means success [I].
        if "errorCode" not in data and "obj" not in data:
            return None
        success = code in {"", "0"}
    # The docs say errorMessage; clients in the wild read errorMsg [I]: accept both.
    message = data.get("errorMessage") or data.get("errorMsg") or ""
    return Envelope(success=success, code=code, message=str(message), obj=data.get("obj"))


def is_auth_failure(envelope: Envelope) -> bool:
    """Tell whether an error envelope means the credentials (or our IP) were refused."""
    if envelope.code in AUTH_CODES:
        return True
    return envelope.code in HEADER_CODES and bool(AUTH_WORDS.search(envelope.message))


def purchase_error(envelope: Envelope, reference: str) -> Exception:
    """Map a ``success: false`` top-up answer to the purchase contract."""
    if is_auth_failure(envelope):
        return AuthenticationError(f"{envelope.code}: {envelope.message}")
    if envelope.code == INSUFFICIENT_FUNDS:
        return OrderRejectedError(envelope.code, envelope.message, insufficient_funds=True)
    if envelope.code in REJECTION_CODES or envelope.code in HEADER_CODES:
        # A validation answer: the provider looked at the order and said no.
        return OrderRejectedError(envelope.code, envelope.message)
    # 000001 (server error), 900001 (busy) and anything undocumented: we cannot know
    # whether the top-up was applied, so it must be looked up, never resent.
    return OrderOutcomeUnknownError(
        reference, f"eSIM Access error {envelope.code}: {envelope.message}"
    )


def account_id(access_code: str) -> str:
    """Derive a stable, non-reversible account id: the API exposes none [I]."""
    return "esimaccess-" + hashlib.sha256(access_code.encode()).hexdigest()[:16]


# --- turning records into the normalized model ------------------------------------------


def _first_package(record: JsonObject) -> JsonObject | None:
    """Return the first entry of ``packageList`` (the line's base plan), if any."""
    packages = as_list(record.get("packageList"))
    return as_object(packages[0]) if packages else None


def _plan_volume(first: JsonObject | None) -> int | None:
    """Return the base plan's allowance in bytes; None when absent or unreadable."""
    try:
        return None if first is None else read_opt_int(first.get("volume"))
    except MalformedError:
        return None


def _plan_validity(record: JsonObject, first: JsonObject | None) -> timedelta | None:
    """Return the base plan's validity (its ``duration`` in the eSIM's ``durationUnit``)."""
    if first is None or first.get("duration") is None:
        return None
    try:
        return validity(first.get("duration"), record.get("durationUnit"))
    except MalformedError:
        return None


def plan_name(record: JsonObject) -> str | None:
    """Name the plan from the first package; packageName is not in E1's field list [I]."""
    if (first := _first_package(record)) is None:
        return None
    return read_opt_str(first.get("packageName")) or read_opt_str(first.get("packageCode"))


def line_name(record: JsonObject) -> str:
    """Return a short human name: the ICCID's tail, as printed on the eSIM's label."""
    if iccid := read_opt_str(record.get("iccid")):
        return f"eSIM {iccid[-4:]}"
    return f"eSIM {read_str(record.get('esimTranNo'))}"


def _status(
    record: JsonObject, *, expires_at: datetime | None, daily: bool, total: int, used: int
) -> LineStatus:
    """Map esimStatus/smdpStatus (and the expiry) to a ``LineStatus``."""
    esim_status = (
        read_opt_str(expect_json(record.get("esimStatus"), "esimStatus", str)) or ""
    ).upper()
    smdp_status = (
        read_opt_str(expect_json(record.get("smdpStatus"), "smdpStatus", str)) or ""
    ).upper()
    if esim_status in SUSPENDED_STATES:
        return LineStatus.SUSPENDED
    if esim_status in EXPIRED_STATES:
        return LineStatus.EXPIRED
    # The status word may trail the clock (webhook-driven) [I]; the expiry is authoritative.
    if expires_at is not None and expires_at <= datetime.now(UTC):
        return LineStatus.EXPIRED
    if esim_status == "USED_UP":
        return LineStatus.DEPLETED
    if esim_status == "IN_USE":
        # A fixed allowance fully used may not have flipped to USED_UP yet [I].
        if not daily and total > 0 and used >= total:
            return LineStatus.DEPLETED
        return LineStatus.ACTIVE
    if esim_status == "GOT_RESOURCE":
        # Allocated: not in use until installed; ENABLED on a device counts as live [I].
        return LineStatus.ACTIVE if smdp_status == "ENABLED" else LineStatus.NOT_ACTIVE
    return LineStatus.UNKNOWN


def _size(record: JsonObject, field: str) -> int:
    """Read a data size in bytes; raise, naming the field, for a bad or impossible one."""
    try:
        value = read_int(record.get(field))
    except MalformedError as err:
        raise MalformedError(f"{field}: {err}") from err
    return check_size(value, field)


def _usage(record: JsonObject) -> int:
    """Read ``orderUsage``, the bytes used so far."""
    return _size(record, USAGE_KEY)


def parse_line(record: JsonObject) -> Line:
    """Normalize one ``esimList`` record; raises ``MalformedError`` on a bad record.

    A daily plan (``dataType`` 2) is modelled as every provider's daily plan is: its
    ``totalVolume`` is the allowance of one day [I: the docs say "daily limit" only], in
    ``daily_data_bytes``; over the whole plan the line is unlimited (``unlimited``, no
    total and no "remaining" that could read as the data left until expiry).
    """
    line_id = read_str(record.get("esimTranNo"))
    volume = _size(record, "totalVolume")
    used = _usage(record)
    expires_at = parse_time(record.get("expiredTime"))
    data_type = read_opt_int(record.get("dataType"))
    first = _first_package(record)
    daily = data_type == DAILY_DATA_TYPE
    return check_line(
        Line(
            line_id=line_id,
            name=line_name(record),
            status=_status(record, expires_at=expires_at, daily=daily, total=volume, used=used),
            plan_name=plan_name(record),
            package_id=None if first is None else read_opt_str(first.get("packageCode")),
            # Top-ups carry other codes than the plan: a renewal matches them by these.
            plan_data_bytes=_plan_volume(first),
            plan_validity=_plan_validity(record, first),
            unlimited=daily,
            data_total_bytes=None if daily else volume,
            data_used_bytes=used,
            data_remaining_bytes=None if daily else max(volume - used, 0),
            daily_data_bytes=volume if daily else None,
            expires_at=expires_at,
            iccid=read_opt_str(record.get("iccid")),
            phone_number=read_opt_str(record.get("msisdn")),
        )
    )


def only_usage_moved(before: JsonObject, after: JsonObject) -> bool:
    """Return True when two records of an eSIM differ in ``orderUsage`` alone."""
    return (
        before.get(USAGE_KEY) != after.get(USAGE_KEY)
        and {**after, USAGE_KEY: before.get(USAGE_KEY)} == before
    )


def with_usage(line: Line, record: JsonObject, now: datetime | None = None) -> Line:
    """Return ``line`` (read from an earlier record) with the usage of ``record``.

    What the usage decides: the used and remaining data, and the status (a fixed allowance
    used up, or an expiry passed since ``now``). Same results as ``parse_line(record)``,
    for less.
    """
    used = _usage(record)
    total = line.data_total_bytes or 0
    daily = line.unlimited
    expires = line.expires_at
    if (
        line.status is LineStatus.ACTIVE
        and (daily or total <= 0 or used < total)
        and (expires is None or expires > (now or datetime.now(UTC)))
    ):
        # The status words are the earlier record's (only usage moved): an active line
        # with data left and time to run stays active, as _status would say.
        status = LineStatus.ACTIVE
    else:
        status = _status(record, expires_at=expires, daily=daily, total=total, used=used)
    return with_new_usage(
        line, status=status, used=used, remaining=None if daily else max(total - used, 0)
    )


def parse_package(item: JsonObject) -> Package:
    """Normalize one ``package/list`` entry."""
    volume = read_int(item.get("volume"))
    # Packages may carry dataType like eSIMs do; not in E1's field list [I].
    daily = read_opt_int(item.get("dataType")) == DAILY_DATA_TYPE
    code = read_str(item.get("packageCode"))
    return Package(
        package_id=code,
        name=read_opt_str(item.get("name")) or code,
        price=money_from_units(item.get("price"), item.get("currencyCode")),
        data_bytes=None if daily else volume,
        validity=validity(item.get("duration"), item.get("durationUnit")),
        daily_bytes=volume if daily else None,
    )


def by_line_id(records: Sequence[JsonObject]) -> dict[str, JsonObject]:
    """Key records by esimTranNo; records without one cannot be tied to a line."""
    return {
        key: record
        for record in records
        if isinstance(key := record.get("esimTranNo"), str) and key
    }


def record_iccid(record: JsonObject) -> str | None:
    """Return a record's ICCID, read as ``parse_line`` reads it (numbers too [I]); None if unusable."""
    try:
        return read_opt_str(record.get("iccid"))
    except MalformedError:
        return None


def safe_time(value: object) -> datetime | None:
    """Parse a time where a bad value should just be ignored."""
    try:
        return parse_time(value)
    except MalformedError:
        return None
