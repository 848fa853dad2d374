"""1NCE: pure functions from the API's JSON answers to the normalized models.

Nothing here makes a request. Data is in megabytes with 1 MB = 1024 KB (so x 1,048,576
bytes); the remaining ``volume`` can be negative and is clamped at 0. Facts marked [I] are
inferences from the docs, not documented; the code is tolerant there.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
import logging
from urllib.parse import urlsplit

from ..base import (
    AuthenticationError,
    Line,
    LineStatus,
    NotProviderApiError,
    OrderOutcomeUnknownError,
    OrderRejectedError,
    OrderStatus,
    ProviderError,
    ProviderUnavailableError,
    redact_identifiers,
)
from ..http import JsonReply, MalformedError, as_decimal, as_str, to_utc
from ..plausible import check_line, check_size, check_time, expect_json
from .const import (
    ACTIVE_WORDS,
    COMPLETED_ORDER_STATES,
    FAILED_ORDER_STATES,
    MB,
    NOT_OURS_WORDS,
    SUSPENDED_WORDS,
    TOPUP_PACKAGE_ID,
)

_LOGGER = logging.getLogger(__name__)


class Reply(JsonReply):
    """One HTTP answer, with 1NCE's error fields."""

    __slots__ = ()

    @property
    def message(self) -> str | None:
        """Return the error text (v1 ``message``, v2 ``message``/``error_token``), if any."""
        body = self.body
        if body is None:
            return None
        for key in ("message", "error_token", "errorCode"):
            value = body.get(key)
            if isinstance(value, str) and value.strip():
                return value.strip()
        return None


# --- small tolerant parsers ------------------------------------------------------------


def bytes_from_megabytes(value: Decimal) -> int:
    """Turn megabytes (1 MB = 1024 KB) into bytes."""
    return int((value * MB).to_integral_value())


def parse_time(value: object) -> datetime | None:
    """Parse a 1NCE time into an aware UTC datetime; None when absent or unreadable.

    The docs show ``2029-01-01T00:00:00.000Z`` and ``2018-03-09T07:59:09.000+0000``; a time
    without an offset is taken as UTC [I].
    """
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip()
    if text[-1:] in {"Z", "z"}:
        text = text[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        _LOGGER.debug("1NCE sent an unreadable time %s", redact_identifiers(repr(value)))
        return None
    return to_utc(parsed)


def header_int(headers: Mapping[str, str], name: str) -> int | None:
    """Read an integer paging header such as ``X-Total-Pages`` (lower-cased)."""
    raw = headers.get(name)
    try:
        return int(raw) if raw is not None else None
    except ValueError:
        return None


def rows_of(reply: Reply) -> list[Mapping[str, object]]:
    """Return the objects of a listing: a JSON array [R], or one wrapped in ``data`` [I]."""
    items = reply.data
    if isinstance(items, Mapping):
        items = items.get("data")
    if not isinstance(items, list):
        raise MalformedError("listing is not an array")
    return [item for item in items if isinstance(item, Mapping)]


def listing_rows(reply: Reply, path: str) -> list[Mapping[str, object]]:
    """Return a 2xx listing's rows; anything else is ``ProviderUnavailableError``.

    A 404 is ``NotProviderApiError``: the listings always exist, so the base URL is wrong.
    """
    if reply.status == 404:
        raise NotProviderApiError(f"HTTP 404 for {path}")
    if not reply.ok:
        raise ProviderUnavailableError(f"1NCE answered {reply.status} to {path}")
    try:
        return rows_of(reply)
    except MalformedError as err:
        raise ProviderUnavailableError(f"unexpected answer to {path}: {err}") from err


def sim_not_ours(reply: Reply) -> bool:
    """Tell a 403/404 about the SIM ("SIM does not belong to user") from a refused caller."""
    if reply.status == 404:
        return True
    text = (reply.message or "").lower()
    return reply.status == 403 and any(word in text for word in NOT_OURS_WORDS)


def line_name(iccid: str, label: str | None) -> str:
    """Return the SIM's label, else the ICCID's last digits."""
    return label or f"SIM {iccid[-4:]}"


def _status(
    record: Mapping[str, object],
    quota: Mapping[str, object],
    remaining: int,
    expires: datetime | None,
    activated: datetime | None,
) -> LineStatus:
    """Combine the SIM's status word with the quota's expiry, volume and v2 status."""
    word = (as_str(record.get("status")) or "").lower()
    quota_state = quota.get("status")
    if isinstance(quota_state, Mapping):
        quota_state = quota_state.get("description")
    quota_word = (as_str(quota_state) or "").upper()
    # 1NCE says only Enabled/Disabled; a Disabled SIM is told apart by why it is off [I]:
    # its lifetime or quota ended (expired), its data ran out (out of data, which a top-up
    # cures, unlike expired), it was never activated, or else it was switched off
    # (suspended).
    if quota_word == "EXPIRED" or (expires is not None and expires <= datetime.now(UTC)):
        return LineStatus.EXPIRED
    if quota_word == "EXHAUSTED" or remaining <= 0:
        return LineStatus.DEPLETED
    if word in SUSPENDED_WORDS:
        if activated is None:
            return LineStatus.NOT_ACTIVE
        return LineStatus.SUSPENDED
    if word in ACTIVE_WORDS or quota_word == "ACTIVE":
        return LineStatus.ACTIVE
    return LineStatus.UNKNOWN


def _record_time(data: Mapping[str, object], field: str) -> datetime | None:
    """Read a time field: text or absent, and within 2000-2100 (see ``plausible``)."""
    return check_time(parse_time(expect_json(data.get(field), field, str)), field)


def _activated(record: Mapping[str, object]) -> datetime | None:
    """Return when the SIM was activated; None when it never was."""
    return _record_time(record, "activation_date")


def parse_line(iccid: str, record: Mapping[str, object], quota: Mapping[str, object]) -> Line:
    """Build the normalized line from the SIM record and its data quota.

    Raises ``MalformedError`` for a value of the wrong type or out of any plausible range
    (see ``plausible``); only the remaining volume may be negative, as documented.
    """
    volume = as_decimal(quota.get("volume"))
    if volume is None:
        raise MalformedError("quota without volume")
    total_mb = as_decimal(quota.get("total_volume"))
    # "volume ... can be negative" [R]: an overdraft is simply nothing left.
    remaining = max(check_size(bytes_from_megabytes(volume), "volume", may_be_negative=True), 0)
    total = None if total_mb is None else check_size(bytes_from_megabytes(total_mb), "total_volume")
    expires = _record_time(quota, "expiry_date")
    expect_json(record.get("status"), "status", str)
    return check_line(
        Line(
            line_id=iccid,
            name=line_name(iccid, as_str(record.get("label"))),
            status=_status(record, quota, remaining, expires, _activated(record)),
            package_id=TOPUP_PACKAGE_ID,
            data_total_bytes=total,
            data_used_bytes=None if total is None else max(total - remaining, 0),
            data_remaining_bytes=remaining,
            expires_at=expires,
            iccid=iccid,
            phone_number=as_str(record.get("msisdn")),
        )
    )


def expired_line(iccid: str, record: Mapping[str, object]) -> Line:
    """Describe a SIM whose quota 1NCE refuses with 422 "expired" [I: on every path]."""
    return Line(
        line_id=iccid,
        name=line_name(iccid, as_str(record.get("label"))),
        status=LineStatus.EXPIRED,
        package_id=TOPUP_PACKAGE_ID,
        iccid=iccid,
        phone_number=as_str(record.get("msisdn")),
    )


def order_status(value: object) -> OrderStatus:
    """Map ``order_status``; anything not final is still processing."""
    word = (as_str(value) or "").upper()
    if word in COMPLETED_ORDER_STATES:
        return OrderStatus.COMPLETED
    if word in FAILED_ORDER_STATES:
        return OrderStatus.FAILED
    return OrderStatus.PROCESSING


def order_number_from(location: str | None) -> str | None:
    """Return the order number at the end of a ``Location`` header."""
    if not location:
        return None
    last = urlsplit(location).path.rstrip("/").rsplit("/", 1)[-1]
    return last or None


def purchase_error(reply: Reply, reference: str) -> ProviderError:
    """Map a refused top-up to the purchase contract."""
    message = reply.message or f"HTTP {reply.status}"
    if reply.status == 403:
        if sim_not_ours(reply):
            return OrderRejectedError("sim_not_found", message)
        return AuthenticationError(message)
    if reply.status == 404:
        return OrderRejectedError("sim_not_found", message)
    if reply.status == 422:
        # "The following SIMs are expired and cannot be modified via API" [R].
        return OrderRejectedError("sim_expired", message)
    if reply.status == 400:
        # "Payment method used is not valid." [R]; any 400 is a refusal before work.
        code = "payment_method_invalid" if "payment" in message.lower() else "bad_request"
        return OrderRejectedError(code, message)
    # Other 4xx only count as a refusal when they say why; a bare one may come from a
    # proxy, and 408 is a timeout.
    if 400 <= reply.status < 500 and reply.status != 408 and reply.message:
        return OrderRejectedError(f"http_{reply.status}", message)
    return OrderOutcomeUnknownError(reference, f"1NCE answered {reply.status}: {message}")
