"""Airalo: pure functions from the API's JSON answers to the normalized models.

Nothing here makes a request. Usage is in megabytes (1 MB = 1,048,576 bytes, see ``MB``);
times come without a zone and are read as UTC. Facts marked [I] are inferences from the
docs, not documented; the code is tolerant there.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from decimal import Decimal
import logging

from ..base import (
    AuthenticationError,
    Line,
    LineStatus,
    Money,
    OrderOutcomeUnknownError,
    OrderRejectedError,
    OrderStatus,
    Package,
    ProviderError,
    redact_identifiers,
)
from ..http import (
    JsonReply,
    MalformedError,
    as_decimal,
    as_str,
    currency_or,
    from_epoch,
    safe_decimal,
    to_utc,
)
from ..plausible import check_line, check_size, expect_json
from .const import (
    CODE_INSUFFICIENT_CREDIT,
    CODE_UNEXPECTED,
    DEFAULT_CURRENCY,
    FAILED_ORDER_STATES,
    MB,
    RECYCLED_STATE,
    STATES,
    TIME_FORMATS,
)

_LOGGER = logging.getLogger(__name__)


class Reply(JsonReply):
    """One HTTP answer, with Airalo's error fields."""

    __slots__ = ()

    @property
    def code(self) -> int | None:
        """Return Airalo's business error ``code`` (``{"code": 73, "reason": ...}``)."""
        body = self.body
        value = body.get("code") if body is not None else None
        if isinstance(value, bool):
            return None
        if isinstance(value, int):
            return value
        if isinstance(value, str) and value.strip().isdigit():
            return int(value.strip())
        return None

    @property
    def message(self) -> str | None:
        """Return the error text: ``reason``, ``meta.message`` or ``message``."""
        body = self.body
        if body is None:
            return None
        meta = body.get("meta")
        candidates = [body.get("reason"), body.get("message")]
        if isinstance(meta, Mapping):
            candidates.insert(1, meta.get("message"))
        for value in candidates:
            if isinstance(value, str) and value.strip():
                return value.strip()
        return None


# --- small tolerant parsers ------------------------------------------------------------


def as_bool(value: object) -> bool | None:
    """Return a JSON boolean (also 0/1 and "true"/"false" [I]), or None."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in {0, 1}:
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in {"true", "false", "1", "0"}:
        return value.strip().lower() in {"true", "1"}
    return None


def bytes_from_megabytes(value: object) -> int | None:
    """Turn megabytes (possibly fractional) into bytes; None when absent."""
    number = as_decimal(value)
    return None if number is None else int((number * MB).to_integral_value())


def parse_time(value: object) -> datetime | None:
    """Parse an Airalo time into an aware UTC datetime; None when absent or unreadable.

    ``/usage`` sends ``2022-01-01 00:00:00`` without a zone (UTC [I]); ``/packages`` sends
    ISO 8601 with an offset. ISO shapes, a few day-first shapes and epoch seconds are all
    tolerated [I]; anything else is None rather than a failed line.
    """
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        # [I] Epoch numbers are not documented; large ones are milliseconds.
        return from_epoch(value)
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip()
    if text.isdigit():
        return parse_time(int(text))
    parsed: datetime | None = None
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        for pattern in TIME_FORMATS:
            try:
                parsed = datetime.strptime(text, pattern)
                break
            except ValueError:
                continue
    if parsed is None:
        _LOGGER.debug("Airalo sent an unreadable time %s", redact_identifiers(repr(value)))
        return None
    return to_utc(parsed)


def reply_data(reply: Reply) -> Mapping[str, object] | None:
    """Return ``data`` of a ``{"data": {...}, "meta": {...}}`` answer.

    [I] A flat object (no ``data`` wrapper) is accepted too.
    """
    body = reply.body
    if body is None:
        return None
    inner = body.get("data")
    if isinstance(inner, Mapping):
        return inner
    return body if "data" not in body else None


def wallet_from(payload: Mapping[str, object] | None) -> Money | None:
    """Read ``GET /balance``: ``data.balances.availableBalance{amount, currency}``.

    None when the answer holds no readable amount.
    """
    balances = payload.get("balances") if payload is not None else None
    # [I] Tolerate a list of balances (the first one) as well as the documented object.
    if isinstance(balances, list) and balances:
        balances = balances[0]
    available = balances.get("availableBalance") if isinstance(balances, Mapping) else None
    currency: object = None
    amount_raw = available
    if isinstance(available, Mapping):
        amount_raw, currency = available.get("amount"), available.get("currency")
    amount = safe_decimal(amount_raw)
    return None if amount is None else Money(amount, currency_or(currency, DEFAULT_CURRENCY))


def listing_rows(reply: Reply) -> list[Mapping[str, object]]:
    """Return the objects of a listing's ``data`` array."""
    body = reply.body
    items = body.get("data") if body is not None else None
    if not isinstance(items, list):
        raise MalformedError("listing without a data array")
    return [item for item in items if isinstance(item, Mapping)]


def listing_last_page(reply: Reply) -> int | None:
    """Return ``meta.last_page`` of a listing, or None when absent."""
    body = reply.body
    meta = body.get("meta") if body is not None else None
    if not isinstance(meta, Mapping):
        return None
    value = safe_decimal(meta.get("last_page"))
    return int(value) if value is not None else None


def listing_has_next(reply: Reply) -> bool | None:
    """Return whether ``links.next`` points at another page (None when there are no links)."""
    body = reply.body
    links = body.get("links") if body is not None else None
    if not isinstance(links, Mapping):
        return None
    return bool(as_str(links.get("next")))


def line_name(iccid: str) -> str:
    """Return a short label: the ICCID's last digits, as on the eSIM's card."""
    return f"eSIM {iccid[-4:]}"


def _status(
    word: str, *, unlimited: bool, remaining: int | None, expires_at: datetime | None
) -> LineStatus:
    """Map Airalo's usage status, corrected by the expiry and the remaining data."""
    status = STATES.get(word, LineStatus.UNKNOWN)
    if status is LineStatus.ACTIVE:
        # The word may trail the clock [I]; the expiry is authoritative.
        if expires_at is not None and expires_at <= datetime.now(UTC):
            return LineStatus.EXPIRED
        if not unlimited and remaining == 0:
            return LineStatus.DEPLETED
    return status


def _size(megabytes: Decimal | None, field: str) -> int | None:
    """Turn a usage figure in MB into bytes; raise for an impossible size (see plausible)."""
    size = bytes_from_megabytes(megabytes)
    return None if size is None else check_size(size, field)


def parse_usage(iccid: str, name: str, plan: str | None, data: Mapping[str, object]) -> Line | None:
    """Normalize a ``/sims/{iccid}/usage`` answer; None when the eSIM was recycled.

    Raises ``MalformedError`` for a value of the wrong type or out of any plausible range
    (see ``plausible``). A time in a shape not understood is tolerated as no expiry [I].
    """
    word = (as_str(expect_json(data.get("status"), "status", str)) or "").upper()
    if word == RECYCLED_STATE:
        return None
    total_mb = as_decimal(data.get("total"))
    remaining_mb = as_decimal(data.get("remaining"))
    flag = as_bool(expect_json(data.get("is_unlimited"), "is_unlimited", bool, int, str))
    zero = total_mb == 0 and remaining_mb == 0
    # "For unlimited plans remaining/total are 0 and should be ignored" [R]; without the
    # flag, 0/0 can only be such a plan: a metered plan always has a size [I].
    unlimited = flag is True or (flag is None and zero)
    total = remaining = used = None
    if unlimited:
        # [I] An unlimited plan that reports a non-zero figure is a fair-use allowance:
        # keep its size and use, never a "remaining" that would read as data left.
        if total_mb:
            total = _size(total_mb, "total")
            left = _size(remaining_mb, "remaining")
            used = None if total is None or left is None else max(total - left, 0)
    elif not zero:
        total = _size(total_mb, "total")
        left = _size(remaining_mb, "remaining")
        if total is None or left is None:
            raise MalformedError("usage without total or remaining")
        remaining = left
        used = max(total - remaining, 0)
    # else: the plan says it is metered but reports 0/0; the figures mean nothing [I].
    expires_at = parse_time(expect_json(data.get("expired_at"), "expired_at", str, int, float))
    return check_line(
        Line(
            line_id=iccid,
            name=name,
            status=_status(word, unlimited=unlimited, remaining=remaining, expires_at=expires_at),
            plan_name=plan,
            unlimited=unlimited,
            data_total_bytes=total,
            data_used_bytes=used,
            data_remaining_bytes=remaining,
            expires_at=expires_at,
            iccid=iccid,
            usage_updated_at=datetime.now(UTC),
        )
    )


def parse_topup_package(item: Mapping[str, object]) -> Package | None:
    """Turn a ``/sims/{iccid}/topups`` entry into a package; None when it is unusable."""
    package_id = as_str(item.get("id"))
    try:
        # [I] The wallet is debited the partner (net) price; ``price`` is the retail one.
        price = as_decimal(item.get("net_price"))
        if price is None:
            price = as_decimal(item.get("price"))
        amount = bytes_from_megabytes(item.get("amount"))
        days = as_decimal(item.get("day"))
    except MalformedError:
        return None
    if package_id is None or price is None or price < 0:
        return None
    unlimited = as_bool(item.get("is_unlimited")) is True or not amount
    return Package(
        package_id=package_id,
        name=as_str(item.get("title")) or package_id,
        price=Money(price, currency_or(item.get("currency"), DEFAULT_CURRENCY)),
        data_bytes=None if unlimited else amount,
        validity=timedelta(days=int(days or 0)),
    )


def order_price(entry: Mapping[str, object]) -> Money | None:
    """Return what an order cost us (net price when given [I]), if it says."""
    amount = safe_decimal(entry.get("net_price"))
    if amount is None:
        amount = safe_decimal(entry.get("price"))
    return (
        None
        if amount is None
        else Money(amount, currency_or(entry.get("currency"), DEFAULT_CURRENCY))
    )


def order_status(entry: Mapping[str, object]) -> OrderStatus:
    """Map an order's ``status`` object (``{"name", "slug"}``) or plain word."""
    raw = entry.get("status")
    if isinstance(raw, Mapping):
        raw = raw.get("slug") or raw.get("name")
    word = (as_str(raw) or "").lower().replace(" ", "_")
    if not word or word in {"completed", "partially_refunded"}:
        # [I] Top-ups are answered synchronously: an order listed without a status is done.
        return OrderStatus.COMPLETED
    if word in FAILED_ORDER_STATES:
        return OrderStatus.FAILED
    return OrderStatus.PROCESSING


def purchase_error(reply: Reply, reference: str) -> ProviderError:
    """Map a refused top-up to the purchase contract."""
    message = reply.message or f"HTTP {reply.status}"
    if reply.status == 403:
        return AuthenticationError(message)
    code = reply.code
    # A 4xx that explains itself is Airalo saying no; a bare one may come from a proxy
    # that never said what happened behind it, and 408 is a timeout, not a refusal.
    explained = reply.body is not None and (code is not None or reply.message is not None)
    if 400 <= reply.status < 500 and reply.status != 408 and explained:
        if code == CODE_UNEXPECTED:
            return OrderOutcomeUnknownError(reference, f"Airalo error 53: {message}")
        if code == CODE_INSUFFICIENT_CREDIT:
            return OrderRejectedError(str(code), message, insufficient_funds=True)
        return OrderRejectedError(
            str(code) if code is not None else f"http_{reply.status}", message
        )
    return OrderOutcomeUnknownError(reference, f"Airalo answered {reply.status}: {message}")
