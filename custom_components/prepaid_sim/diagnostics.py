"""Diagnostics: the account, its lines and its renewal receipts, with nothing identifying.

Secrets, the API address and names are redacted. A line is shown by its ``line_ref``, never
by its line id: several providers key lines by ICCID. Every tracked line id, ICCID and
phone number left anywhere in the text (an error message, a subentry) is replaced too,
in keys and values alike.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict
from decimal import Decimal
from typing import Any

from homeassistant.components.diagnostics import REDACTED, async_redact_data
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr

from .const import CONF_BASE_URL, CONF_LINE_ID
from .providers.base import line_ref
from .records import RenewalRecord
from .runtime import PrepaidSimConfigEntry
from .tracking import tracked_line_ids

# Credentials, the API address, and anything that identifies a SIM or a person.
TO_REDACT = {
    "access_code",
    "secret_key",
    "api_key",
    "client_id",
    "client_secret",
    "username",
    "password",
    "token",
    "access_token",
    "refresh_token",
    CONF_BASE_URL,
    "iccid",
    "imsi",
    "eid",
    "msisdn",
    "phone_number",
    "email",
    "unique_id",
    "title",
    "name",
    "line_name",
    "renewal_url",
    # Where a hand-kept line's messages and mails come from.
    "message_sender",
    "email_sender",
}


def _plain(items: list[tuple[str, Any]]) -> dict[str, Any]:
    """Build a dataclass's dict with money amounts as exact strings (JSON has no Decimal)."""
    return {key: str(value) if isinstance(value, Decimal) else value for key, value in items}


def _identifiers(entry: PrepaidSimConfigEntry) -> dict[str, str]:
    """Map every identifying string of the account's lines to what is shown instead."""
    found: dict[str, str] = {line_id: line_ref(line_id) for line_id in tracked_line_ids(entry)}
    snapshot = entry.runtime_data.coordinator.data
    for line_id, line in snapshot.lines.items() if snapshot else ():
        found.setdefault(line_id, line_ref(line_id))
        if line.iccid:
            found[line.iccid] = line_ref(line_id)
        if line.phone_number:
            found[line.phone_number] = REDACTED
    # Longest first, so no identifier is left half-replaced inside a longer one.
    return dict(sorted(found.items(), key=lambda item: -len(item[0])))


def _scrub(value: Any, identifiers: Mapping[str, str]) -> Any:
    """Replace the identifiers wherever they appear, in keys and values."""
    if isinstance(value, str):
        for raw, shown in identifiers.items():
            if raw in value:
                value = value.replace(raw, shown)
        return value
    if isinstance(value, Mapping):
        return {_scrub(key, identifiers): _scrub(item, identifiers) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_scrub(item, identifiers) for item in value]
    return value


def _snapshot_dict(entry: PrepaidSimConfigEntry, line_id: str | None = None) -> dict[str, Any]:
    """Return the latest reading as plain data, optionally of one line, lines by ref."""
    coordinator = entry.runtime_data.coordinator
    snapshot = coordinator.data
    lines = {
        line_ref(key): {**asdict(line, dict_factory=_plain), "line_id": line_ref(key)}
        for key, line in snapshot.lines.items()
        if line_id is None or key == line_id
    }
    return {
        "last_update_success": coordinator.last_update_success,
        "wallet": asdict(snapshot.wallet, dict_factory=_plain) if snapshot.wallet else None,
        "lines": lines,
        "missing_lines": sorted(
            line_ref(key) for key in snapshot.missing_line_ids if line_id in (None, key)
        ),
        "unreadable_lines": sorted(
            line_ref(key) for key in snapshot.unreadable_line_ids if line_id in (None, key)
        ),
        "fetched_at": snapshot.fetched_at,
    }


def _receipt(record: RenewalRecord) -> dict[str, Any]:
    """Return a receipt with the line it belongs to, by ref."""
    return {"line": line_ref(record.line_id), **record.as_receipt()}


def _entry_dict(entry: PrepaidSimConfigEntry) -> dict[str, Any]:
    """Return the entry with its lines' subentries naming each line by ref."""
    data = entry.as_dict()
    data["subentries"] = [
        {
            **subentry,
            "data": {
                **subentry["data"],
                **(
                    {CONF_LINE_ID: line_ref(subentry["data"][CONF_LINE_ID])}
                    if CONF_LINE_ID in subentry["data"]
                    else {}
                ),
            },
        }
        for subentry in data["subentries"]
    ]
    return data


async def async_get_config_entry_diagnostics(
    hass: HomeAssistant, entry: PrepaidSimConfigEntry
) -> dict[str, Any]:
    """Return diagnostics of an account."""
    data = entry.runtime_data
    diagnostics = async_redact_data(
        {
            "entry": _entry_dict(entry),
            "provider": data.spec.key,
            "update_interval": str(data.coordinator.update_interval),
            "snapshot": _snapshot_dict(entry),
            "renewals": [
                _receipt(record) for record in data.journal.receipts(entry_id=entry.entry_id)
            ],
        },
        TO_REDACT,
    )
    return _scrub(diagnostics, _identifiers(entry))  # type: ignore[no-any-return]


async def async_get_device_diagnostics(
    hass: HomeAssistant, entry: PrepaidSimConfigEntry, device: dr.AnyDeviceEntry
) -> dict[str, Any]:
    """Return diagnostics of one line: its reading and its receipts, whichever entry asked."""
    data = entry.runtime_data
    subentry = entry.subentries.get(getattr(device, "config_subentry_id", None) or "")
    line_id = subentry.data.get(CONF_LINE_ID) if subentry else None
    diagnostics = async_redact_data(
        {
            "provider": data.spec.key,
            "line": line_ref(line_id) if line_id else None,
            "snapshot": _snapshot_dict(entry, line_id) if line_id else None,
            "renewals": [
                _receipt(record) for record in data.journal.receipts(key=data.renewals.key(line_id))
            ]
            if line_id
            else [],
        },
        TO_REDACT,
    )
    return _scrub(diagnostics, _identifiers(entry))  # type: ignore[no-any-return]
