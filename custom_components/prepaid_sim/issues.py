"""Repair issues: their kinds, their ids, and how they are raised and cleared.

Every issue of an account has an id that starts with the account's entry id, so removing
the account removes them all; a line's issues are named by its subentry (never by a line
id, which may be an ICCID) and a renewal's by our reference. The one issue that belongs to
no account is the damaged renewal journal, which all accounts share.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Any, Final

from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import issue_registry as ir
from homeassistant.helpers.issue_registry import IssueSeverity

from .const import DOMAIN
from .journal import JournalDamage

__all__ = ["IssueKind", "IssueSeverity"]

JOURNAL_DAMAGED_ISSUE: Final = "journal_damaged"


class IssueKind(StrEnum):
    """The kinds of repair issue; each is also the issue's translation key."""

    LINE_EXPIRING = "line_expiring"
    LINE_EXPIRED = "line_expired"
    # Expired, and the provider renews no expired line: what to do instead.
    LINE_EXPIRED_NO_RENEWAL = "line_expired_no_renewal"
    # The number is lost unless recharged by a date (a carrier's keep-alive rule).
    LINE_KEEP_ALIVE = "line_keep_alive"
    # Expiring, but the carrier accepts the renewal only from a later date.
    LINE_RENEWAL_WINDOW = "line_renewal_window"
    # A carrier's balance message for a line that could not be read.
    MESSAGE_UNREAD = "message_unread"
    LINE_MISSING = "line_missing"
    NEW_LINES = "new_lines"
    WALLET_LOW = "wallet_low"
    RENEWAL_PENDING = "renewal_pending"
    RENEWAL_UNCONFIRMED = "renewal_unconfirmed"
    RENEWAL_NOT_VERIFIED = "renewal_not_verified"
    JOURNAL_DAMAGED = "journal_damaged"


# Kinds the user fixes in a flow (repairs.py has one per kind).
FIXABLE: Final = frozenset(
    {
        IssueKind.LINE_EXPIRING,
        IssueKind.LINE_EXPIRED,
        IssueKind.LINE_MISSING,
        IssueKind.NEW_LINES,
        IssueKind.RENEWAL_UNCONFIRMED,
        IssueKind.JOURNAL_DAMAGED,
    }
)


def issue_id(entry_id: str, kind: IssueKind, part: str | None = None) -> str:
    """Return the id of an account's issue: the entry id, the kind, then what it is about."""
    return f"{entry_id}_{kind}" if part is None else f"{entry_id}_{kind}_{part}"


def kind_of(data: Mapping[str, Any] | None) -> IssueKind | None:
    """Return the kind a fixable issue was raised as, or None when it does not say."""
    kind = (data or {}).get("kind")
    try:
        return IssueKind(str(kind))
    except ValueError:
        return None


@callback
def async_create(
    hass: HomeAssistant,
    entry_id: str,
    kind: IssueKind,
    part: str | None = None,
    *,
    placeholders: dict[str, str],
    data: dict[str, str] | None = None,
    severity: IssueSeverity = IssueSeverity.WARNING,
    fixable: bool | None = None,
) -> None:
    """Raise (or update) an account's issue.

    ``fixable`` defaults to what the kind is; a kind that is fixable only sometimes (an
    expired line the provider cannot renew) says so.
    """
    is_fixable = kind in FIXABLE if fixable is None else fixable
    ir.async_create_issue(
        hass,
        DOMAIN,
        issue_id(entry_id, kind, part),
        is_fixable=is_fixable,
        severity=severity,
        translation_key=kind.value,
        translation_placeholders=placeholders,
        data={"kind": kind.value, "entry_id": entry_id, **(data or {})} if is_fixable else None,
    )


@callback
def async_delete(
    hass: HomeAssistant, entry_id: str, kind: IssueKind, part: str | None = None
) -> None:
    """Clear an account's issue if it is raised.

    Looked up first: this runs per line on every refresh, and most lines raise nothing.
    """
    ident = issue_id(entry_id, kind, part)
    if (DOMAIN, ident) in ir.async_get(hass).issues:
        ir.async_delete_issue(hass, DOMAIN, ident)


@callback
def async_delete_entry_issues(hass: HomeAssistant, entry_id: str) -> None:
    """Clear every issue of an account (it was removed or unloaded)."""
    prefix = f"{entry_id}_"
    for domain, ident in list(ir.async_get(hass).issues):
        if domain == DOMAIN and ident.startswith(prefix):
            ir.async_delete_issue(hass, DOMAIN, ident)


@callback
def async_create_journal_damaged(hass: HomeAssistant, damage: JournalDamage) -> None:
    """Report a damaged renewal journal; renewals it concerns wait for the acknowledgement."""
    ir.async_create_issue(
        hass,
        DOMAIN,
        JOURNAL_DAMAGED_ISSUE,
        is_fixable=True,
        is_persistent=False,
        severity=IssueSeverity.ERROR,
        translation_key=IssueKind.JOURNAL_DAMAGED.value,
        translation_placeholders={"lost": str(damage.lost), "backup": damage.backup or "-"},
        data={"kind": IssueKind.JOURNAL_DAMAGED.value},
    )


@callback
def async_delete_journal_damaged(hass: HomeAssistant) -> None:
    """Clear the damaged-journal issue (acknowledged)."""
    ir.async_delete_issue(hass, DOMAIN, JOURNAL_DAMAGED_ISSUE)
