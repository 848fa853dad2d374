"""A renewal record: what was bought, for which line, and where its charge stands.

Records are the journal's entries and, once settled, the receipts people and automations
read. They are stored as JSON; reading one back refuses anything that is not whole, so a
damaged journal is noticed rather than half-believed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from enum import StrEnum
import re
from typing import Any, Final

from homeassistant.util import dt as dt_util

from .providers.base import Line, Money


class RenewalState(StrEnum):
    """Where a renewal stands."""

    # Written, and the request is on its way (or was, when Home Assistant stopped).
    SENDING = "sending"
    # The answer was lost or the order is processing: it is being looked up.
    PENDING = "pending"
    # Look-ups could not tell whether the provider charged: the user settles it.
    UNCONFIRMED = "unconfirmed"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


# Renewals whose charge is not settled: the line takes no new renewal meanwhile.
UNSETTLED: Final = frozenset({RenewalState.SENDING, RenewalState.PENDING, RenewalState.UNCONFIRMED})


def line_key(provider_key: str, line_id: str) -> str:
    """Return the key of a provider line, the same whichever entry tracks it."""
    return f"{provider_key}:{line_id}"


@dataclass(frozen=True, slots=True, kw_only=True)
class LineBaseline:
    """What the line showed before a renewal: the yardstick for evidence of a purchase."""

    expires_at: datetime | None = None
    data_total_bytes: int | None = None
    topup_count: int | None = None
    last_topup_at: datetime | None = None
    queued: int = 0

    @classmethod
    def of(cls, line: Line | None) -> LineBaseline | None:
        """Return the baseline of a line as read now (None when it was not read)."""
        if line is None:
            return None
        return cls(
            expires_at=line.expires_at,
            data_total_bytes=line.data_total_bytes,
            topup_count=line.topup_count,
            last_topup_at=line.last_topup_at,
            queued=len(line.queued),
        )

    def purchase_shows_in(self, line: Line, since: datetime) -> bool:
        """Return True when ``line`` shows a purchase made after this baseline.

        A later expiry, a larger allowance, one more top-up or queued package, or a top-up
        stamped after ``since``: any of them is evidence that a renewal arrived.
        """
        if line.expires_at is not None and (
            self.expires_at is None or line.expires_at > self.expires_at
        ):
            return True
        if (
            line.data_total_bytes is not None
            and self.data_total_bytes is not None
            and line.data_total_bytes > self.data_total_bytes
        ):
            return True
        if (
            line.topup_count is not None
            and self.topup_count is not None
            and line.topup_count > self.topup_count
        ):
            return True
        if line.last_topup_at is not None and (
            line.last_topup_at >= since
            if self.last_topup_at is None
            else line.last_topup_at > self.last_topup_at
        ):
            return True
        return len(line.queued) > self.queued


@dataclass(kw_only=True, slots=True)
class RenewalRecord:
    """One renewal attempt: the journal entry and, once settled, the receipt."""

    reference: str
    line_key: str
    line_id: str
    # The account entry that asked (receipts are shown per account).
    entry_id: str
    line_name: str
    package_id: str
    package_name: str
    price: Money
    caller: str
    created_at: datetime
    user_id: str | None = None
    state: RenewalState = RenewalState.SENDING
    request_id: str | None = None
    order_id: str | None = None
    completed_at: datetime | None = None
    new_expires_at: datetime | None = None
    baseline: LineBaseline | None = None
    error: str | None = None
    # None until checked; False when the renewal never showed on the line.
    verified: bool | None = None
    # When the verification is due (kept so a restart resumes it).
    verify_due_at: datetime | None = None
    # The answer to the purchase never came (a timeout, a dropped connection).
    answer_lost: bool = False
    # Who settled an unclear outcome: "provider", "evidence" or "user".
    settled_by: str | None = None
    # Sends and look-ups so far; drives the look-up backoff.
    attempts: int = 0

    @property
    def unsettled(self) -> bool:
        """Return True while the charge is not settled."""
        return self.state in UNSETTLED

    @property
    def may_have_charged(self) -> bool:
        """Return True unless the renewal certainly charged nothing."""
        return self.state is not RenewalState.FAILED

    def as_receipt(self) -> dict[str, Any]:
        """Return the record as shown to people and automations (JSON types, no line id)."""
        return {
            "reference": self.reference,
            "entry_id": self.entry_id,
            "line_name": self.line_name,
            "package_id": self.package_id,
            "package_name": self.package_name,
            "price": str(self.price.amount),
            "currency": self.price.currency,
            "caller": self.caller,
            "created_at": self.created_at.isoformat(),
            "state": self.state.value,
            "request_id": self.request_id,
            "order_id": self.order_id,
            "completed_at": _iso(self.completed_at),
            "new_expires_at": _iso(self.new_expires_at),
            "error": self.error,
            "verified": self.verified,
            "settled_by": self.settled_by,
        }

    def to_json(self) -> dict[str, Any]:
        """Return the record as stored."""
        baseline = self.baseline
        return {
            **self.as_receipt(),
            "line_key": self.line_key,
            "line_id": self.line_id,
            "user_id": self.user_id,
            "baseline": None
            if baseline is None
            else {
                "expires_at": _iso(baseline.expires_at),
                "data_total_bytes": baseline.data_total_bytes,
                "topup_count": baseline.topup_count,
                "last_topup_at": _iso(baseline.last_topup_at),
                "queued": baseline.queued,
            },
            "verify_due_at": _iso(self.verify_due_at),
            "answer_lost": self.answer_lost,
            "attempts": self.attempts,
        }

    @classmethod
    def from_json(cls, raw: object) -> RenewalRecord:
        """Read a stored record; raise ``ValueError``/``TypeError`` for one that is not whole."""
        if not isinstance(raw, Mapping):
            raise TypeError("a record is not an object")
        try:
            price = Decimal(_text(raw, "price"))
        except InvalidOperation as err:
            raise ValueError("a record's price is not a number") from err
        if not price.is_finite() or price < 0:
            raise ValueError("a record's price is not a price")
        currency = _text(raw, "currency")
        if not re.fullmatch(r"[A-Z]{3}", currency):
            raise ValueError("a record's currency is not a currency code")
        baseline = raw.get("baseline")
        return cls(
            reference=_text(raw, "reference"),
            line_key=_text(raw, "line_key"),
            line_id=_text(raw, "line_id"),
            entry_id=_text(raw, "entry_id"),
            line_name=_text(raw, "line_name"),
            package_id=_text(raw, "package_id"),
            package_name=_text(raw, "package_name"),
            price=Money(price, currency),
            caller=_text(raw, "caller"),
            created_at=_required_time(raw, "created_at"),
            user_id=_optional_text(raw, "user_id"),
            state=RenewalState(_text(raw, "state")),
            request_id=_optional_text(raw, "request_id"),
            order_id=_optional_text(raw, "order_id"),
            completed_at=_time(raw, "completed_at"),
            new_expires_at=_time(raw, "new_expires_at"),
            baseline=None if baseline is None else _baseline(baseline),
            error=_optional_text(raw, "error"),
            verified=_optional_bool(raw, "verified"),
            verify_due_at=_time(raw, "verify_due_at"),
            answer_lost=bool(_optional_bool(raw, "answer_lost")),
            settled_by=_optional_text(raw, "settled_by"),
            attempts=_count(raw.get("attempts", 0)),
        )


def _iso(value: datetime | None) -> str | None:
    """Return an ISO time, or None."""
    return value.isoformat() if value is not None else None


def _text(raw: Mapping[str, Any], key: str) -> str:
    """Return a required string field."""
    value = raw.get(key)
    if not isinstance(value, str) or not value:
        raise ValueError(f"a record has no {key}")
    return value


def _optional_text(raw: Mapping[str, Any], key: str) -> str | None:
    """Return an optional string field."""
    value = raw.get(key)
    if value is None or isinstance(value, str):
        return value
    raise ValueError(f"a record's {key} is not text")


def _optional_bool(raw: Mapping[str, Any], key: str) -> bool | None:
    """Return an optional true/false field."""
    value = raw.get(key)
    if value is None or isinstance(value, bool):
        return value
    raise ValueError(f"a record's {key} is not true or false")


def _count(value: object) -> int:
    """Return a non-negative whole number."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError("a record's count is not a count")
    return value


def _time(raw: Mapping[str, Any], key: str) -> datetime | None:
    """Return an optional aware time field."""
    if raw.get(key) is None:
        return None
    return _required_time(raw, key)


def _required_time(raw: Mapping[str, Any], key: str) -> datetime:
    """Return an aware time field."""
    value = raw.get(key)
    if not isinstance(value, str):
        raise TypeError(f"a record's {key} is not a time")
    parsed = dt_util.parse_datetime(value)
    if parsed is None or parsed.tzinfo is None:
        raise ValueError(f"a record's {key} is not a time with a zone")
    return dt_util.as_utc(parsed)


def _baseline(raw: object) -> LineBaseline:
    """Read a stored baseline."""
    if not isinstance(raw, Mapping):
        raise TypeError("a record's baseline is not an object")
    total = raw.get("data_total_bytes")
    topups = raw.get("topup_count")
    return LineBaseline(
        expires_at=_time(raw, "expires_at"),
        data_total_bytes=None if total is None else _count(total),
        topup_count=None if topups is None else _count(topups),
        last_topup_at=_time(raw, "last_topup_at"),
        queued=_count(raw.get("queued", 0)),
    )
