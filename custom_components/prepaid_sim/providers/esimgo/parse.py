"""eSIM Go: pure functions from the API's JSON answers to the normalized models.

Nothing here makes a request. Assignment quantities are bytes (v2.3+); catalogue
``dataAmount`` is MB (1 MB = 1,000,000 bytes, see ``MB``). Facts marked [I] are inferences
from the docs, not documented; the code is tolerant there.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
import math
import time

from ..base import Line, LineStatus, Money, OrderStatus, Package, QueuedTopup
from ..http import JsonReply, MalformedError, as_str, currency_or, safe_decimal, to_utc
from ..plausible import check_line, check_size, check_time, expect_json
from .const import (
    AUTH_WORDS,
    DEFAULT_CURRENCY,
    FUNDS_WORDS,
    MB,
    STATES,
    USED_UP_STATES,
    WAITING_STATES,
)


class Reply(JsonReply):
    """One HTTP answer, with eSIM Go's ``{"message": ...}`` error text."""

    __slots__ = ()

    @property
    def message(self) -> str | None:
        """Return eSIM Go's ``{"message": ...}`` error text, if any."""
        if isinstance(self.data, dict):
            message = self.data.get("message")
            if isinstance(message, str) and message.strip():
                return message.strip()
        return None


@dataclass(frozen=True, slots=True)
class Assignment:
    """One bundle assignment on an eSIM, parsed."""

    bundle: str
    description: str | None
    state: str
    unlimited: bool
    initial: int | None
    remaining: int | None
    assigned_at: datetime | None
    end_time: datetime | None
    reference: str | None


# --- small tolerant parsers ------------------------------------------------------------


def as_dict(value: object) -> dict[str, object] | None:
    """Return ``value`` as a JSON object, or None."""
    if isinstance(value, dict):
        return {str(key): item for key, item in value.items()}
    return None


def as_list(value: object) -> list[object] | None:
    """Return ``value`` as a JSON array, or None."""
    return list(value) if isinstance(value, list) else None


def as_int(value: object) -> int | None:
    """Return an integer from an int, an integral float or a numeric string; None if absent.

    Raises ``MalformedError`` for a value that is present but not a number.
    """
    if value is None:
        return None
    if isinstance(value, bool):
        raise MalformedError(f"expected a number, got {value!r}")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and math.isfinite(value):
        return round(value)
    if isinstance(value, str):
        try:
            return round(Decimal(value.strip()))
        # InvalidOperation for words, ValueError for "NaN", OverflowError for "Infinity".
        except (ArithmeticError, ValueError) as err:
            raise MalformedError(f"expected a number, got {value!r}") from err
    raise MalformedError(f"expected a number, got {value!r}")


def as_bool(value: object) -> bool | None:
    """Return a JSON boolean (or "true"/"false"), or None."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in {"true", "false"}:
        return value.strip().lower() == "true"
    return None


def parse_time(value: object) -> datetime | None:
    """Parse an RFC 3339 / ISO-8601 time into an aware UTC datetime; None if unusable."""
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    # [I] A time without an offset is taken as UTC, the zone of every documented example.
    try:
        return to_utc(parsed)
    except OverflowError:  # at the edge of the calendar, the shift to UTC leaves it
        return None


def seconds_until_reset(value: str | None) -> float | None:
    """Parse X-Ratelimit-Reset: ISO-8601 per the docs; [I] also epoch or delta seconds."""
    if not value:
        return None
    if (when := parse_time(value)) is not None:
        return (when - datetime.now(UTC)).total_seconds()
    try:
        number = float(value)
    except ValueError:
        return None
    # Epoch seconds are huge; small numbers can only be a delay.
    return number - time.time() if number > 1e9 else number


def looks_like_auth(message: str | None) -> bool:
    """Return True when a 403 message is about the API key, not the resource [I: by wording]."""
    lowered = (message or "").lower()
    return any(word in lowered for word in AUTH_WORDS)


def looks_like_funds(message: str) -> bool:
    """Return True when a rejection is about the organisation balance."""
    lowered = message.lower()
    return any(word in lowered for word in FUNDS_WORDS)


def organisation(body: dict[str, object]) -> dict[str, object]:
    """Return the organisation object from the answer to ``GET /organisation``.

    [I] The response shape is not documented in detail: accept ``{"organisations": [{…}]}``,
    ``{"organisation": {…}}`` and a flat object.
    """
    for key in ("organisations", "organisation"):
        nested = body.get(key)
        if (items := as_list(nested)) is not None:
            first = as_dict(items[0]) if items else None
            if first is None:
                raise MalformedError("organisation list is empty")
            return first
        if (single := as_dict(nested)) is not None:
            return single
    return body


def wallet_of(org: Mapping[str, object]) -> Money | None:
    """Return the organisation balance; [I] the ``balance`` field name is assumed."""
    balance = org.get("balance")
    currency = org.get("currency")
    if (nested := as_dict(balance)) is not None:
        # [I] Tolerate a ``{"amount": …, "currency": …}`` object too.
        balance = nested.get("amount", nested.get("balance"))
        currency = nested.get("currency", currency)
    amount = safe_decimal(balance)
    return Money(amount, currency_or(currency, DEFAULT_CURRENCY)) if amount is not None else None


def parse_assignments(data: object) -> list[Assignment]:
    """Flatten ``GET /esims/{iccid}/bundles`` into assignments; raise on a broken shape."""
    body = as_dict(data)
    bundles = as_list(body.get("bundles")) if body is not None else None
    if bundles is None:
        raise MalformedError("no bundles list")
    result: list[Assignment] = []
    for raw_bundle in bundles:
        bundle = as_dict(raw_bundle)
        name = as_str(bundle.get("name")) if bundle is not None else None
        assignments = as_list(bundle.get("assignments")) if bundle is not None else None
        if bundle is None or name is None or assignments is None:
            raise MalformedError("bundle without name or assignments")
        for raw in assignments:
            assignment = as_dict(raw)
            state = (
                as_str(expect_json(assignment.get("bundleState"), "bundleState", str))
                if assignment
                else None
            )
            if assignment is None or state is None:
                raise MalformedError("assignment without bundleState")
            unlimited = as_bool(assignment.get("unlimited"))
            if unlimited is None:
                unlimited = as_bool(bundle.get("unlimited")) or False
            result.append(
                Assignment(
                    bundle=name,
                    description=as_str(bundle.get("description")),
                    state=state.lower(),
                    unlimited=unlimited,
                    initial=_quantity(assignment, "initialQuantity", unlimited=unlimited),
                    remaining=_quantity(assignment, "remainingQuantity", unlimited=unlimited),
                    assigned_at=_assignment_time(assignment, "assignmentDateTime"),
                    # [I] endTime is documented for the usage callback only; absent -> None.
                    end_time=_assignment_time(assignment, "endTime"),
                    reference=as_str(assignment.get("assignmentReference"))
                    or as_str(assignment.get("id")),
                )
            )
    return result


def _quantity(assignment: Mapping[str, object], field: str, *, unlimited: bool) -> int | None:
    """Read an assignment's quantity in bytes; raise for a wrong type or an impossible size.

    [I] An unlimited assignment's quantities mean nothing (some APIs send -1 there): only
    their type is checked.
    """
    value = as_int(assignment.get(field))
    if value is None or (unlimited and value < 0):
        return value
    return check_size(value, field)


def _assignment_time(assignment: Mapping[str, object], field: str) -> datetime | None:
    """Read an assignment's time: RFC 3339 text or absent, within 2000-2100."""
    return check_time(parse_time(expect_json(assignment.get(field), field, str)), field)


def _latest(assignments: list[Assignment]) -> Assignment | None:
    """Return the most recently assigned one (undated ones count as oldest)."""
    floor = datetime.min.replace(tzinfo=UTC)
    return max(assignments, key=lambda a: a.assigned_at or floor, default=None)


def current_assignment(assignments: list[Assignment]) -> Assignment | None:
    """Pick the assignment that describes the line now."""
    for states in (frozenset({"active"}), WAITING_STATES, USED_UP_STATES):
        if chosen := _latest([a for a in assignments if a.state in states]):
            return chosen
    return _latest(assignments)


def line_name(iccid: str, customer_ref: str | None) -> str:
    """Return the eSIM's label: its customerRef, else the ICCID's last digits."""
    return customer_ref or f"eSIM …{iccid[-4:]}"


def parse_line(iccid: str, name: str, assignments: list[Assignment]) -> Line:
    """Build the normalized line from its current assignment."""
    current = current_assignment(assignments)
    if current is None:
        # An eSIM with no bundle at all has nothing to use until one is bought.
        return Line(line_id=iccid, name=name, status=LineStatus.NOT_ACTIVE, iccid=iccid)
    total = remaining = used = None
    if not current.unlimited:
        if current.initial is None or current.remaining is None:
            raise MalformedError("metered assignment without quantities")
        total = current.initial
        remaining = min(current.remaining, total)
        used = total - remaining
    return check_line(
        Line(
            line_id=iccid,
            name=name,
            status=STATES.get(current.state, LineStatus.UNKNOWN),
            plan_name=current.description or current.bundle,
            package_id=current.bundle,
            unlimited=current.unlimited,
            data_total_bytes=total,
            data_used_bytes=used,
            data_remaining_bytes=remaining,
            expires_at=current.end_time,
            iccid=iccid,
            # A bundle bought while one runs waits behind it: a renewal that has arrived.
            queued=tuple(
                QueuedTopup(
                    package_id=queued.bundle,
                    name=queued.description or queued.bundle,
                    data_bytes=None if queued.unlimited else queued.initial,
                    added_at=queued.assigned_at,
                )
                for queued in assignments
                if queued.state == "queued" and queued is not current
            ),
        )
    )


def countries(bundle: Mapping[str, object]) -> frozenset[str]:
    """Return a catalogue bundle's ISO country codes (objects with ``iso``, or strings)."""
    codes: set[str] = set()
    for item in as_list(bundle.get("countries")) or []:
        entry = as_dict(item)
        code = as_str(entry.get("iso")) if entry is not None else as_str(item)
        if code:
            codes.add(code.upper())
    return frozenset(codes)


def parse_package(bundle: Mapping[str, object]) -> Package | None:
    """Turn a catalogue bundle into a package; None when it lacks what a purchase needs."""
    name = as_str(bundle.get("name"))
    price = safe_decimal(bundle.get("price"))
    if name is None or price is None:
        return None
    try:
        days = as_int(bundle.get("duration"))
        validity = timedelta(days=days or 0)
        amount_mb = safe_decimal(bundle.get("dataAmount"))
    except MalformedError, OverflowError:  # OverflowError: a duration beyond timedelta
        return None
    # [I] A negative or missing dataAmount only occurs on unlimited bundles.
    unlimited = bool(as_bool(bundle.get("unlimited"))) or amount_mb is None or amount_mb < 0
    return Package(
        package_id=name,
        name=as_str(bundle.get("description")) or name,
        price=Money(price, currency_or(bundle.get("currency"), DEFAULT_CURRENCY)),
        data_bytes=None if unlimited or amount_mb is None else int(amount_mb * MB),
        validity=validity,
    )


def order_status(value: object) -> OrderStatus:
    """Map eSIM Go's order status: only "Completed" is final."""
    text = as_str(value)
    return OrderStatus.COMPLETED if text and text.lower() == "completed" else OrderStatus.PROCESSING


def order_price(body: Mapping[str, object]) -> Money | None:
    """Return an order's total, if it has one."""
    total = safe_decimal(body.get("total"))
    return (
        Money(total, currency_or(body.get("currency"), DEFAULT_CURRENCY))
        if total is not None
        else None
    )


def order_created_at(entry: Mapping[str, object]) -> datetime | None:
    """Return when an order was created; [I] both spellings appear in the docs."""
    return parse_time(entry.get("createdDate") or entry.get("createDate"))


def listing_page_count(data: Mapping[str, object]) -> int | None:
    """Return a listing's pageCount, or None when it is absent or odd."""
    try:
        return as_int(data.get("pageCount"))
    except MalformedError:
        return None
