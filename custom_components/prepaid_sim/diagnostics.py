"""Diagnostics: the account, its lines and its renewal receipts, with secrets redacted."""

from __future__ import annotations

from dataclasses import asdict
from decimal import Decimal
from typing import Any

from homeassistant.components.diagnostics import async_redact_data
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr

from .const import CONF_LINE_ID
from .runtime import PrepaidSimConfigEntry

# Credentials, and anything that identifies a SIM or a person.
TO_REDACT = {
    "access_code",
    "secret_key",
    "api_key",
    "client_id",
    "client_secret",
    "username",
    "password",
    "token",
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
}


def _plain(items: list[tuple[str, Any]]) -> dict[str, Any]:
    """Build a dataclass's dict with money amounts as exact strings (JSON has no Decimal)."""
    return {key: str(value) if isinstance(value, Decimal) else value for key, value in items}


def _snapshot_dict(entry: PrepaidSimConfigEntry, line_id: str | None = None) -> dict[str, Any]:
    """Return the latest snapshot as plain data, optionally for one line."""
    snapshot = entry.runtime_data.coordinator.data
    lines = {
        key: asdict(line, dict_factory=_plain)
        for key, line in snapshot.lines.items()
        if line_id is None or key == line_id
    }
    return {
        "wallet": asdict(snapshot.wallet, dict_factory=_plain) if snapshot.wallet else None,
        "lines": lines,
        "missing_line_ids": sorted(snapshot.missing_line_ids),
        "unreadable_line_ids": sorted(snapshot.unreadable_line_ids),
        "fetched_at": snapshot.fetched_at,
    }


async def async_get_config_entry_diagnostics(
    hass: HomeAssistant, entry: PrepaidSimConfigEntry
) -> dict[str, Any]:
    """Return diagnostics of an account."""
    return async_redact_data(
        {
            "entry": entry.as_dict(),
            "provider": entry.runtime_data.spec.key,
            "update_interval": str(entry.runtime_data.coordinator.update_interval),
            "snapshot": _snapshot_dict(entry),
            "renewals": [
                record.as_receipt()
                for record in entry.runtime_data.journal.receipts(entry_id=entry.entry_id)
            ],
        },
        TO_REDACT,
    )


async def async_get_device_diagnostics(
    hass: HomeAssistant, entry: PrepaidSimConfigEntry, device: dr.AnyDeviceEntry
) -> dict[str, Any]:
    """Return diagnostics of one line."""
    subentry = entry.subentries.get(getattr(device, "config_subentry_id", None) or "")
    line_id = subentry.data[CONF_LINE_ID] if subentry else None
    return async_redact_data(
        {
            "provider": entry.runtime_data.spec.key,
            "snapshot": _snapshot_dict(entry, line_id),
            "renewals": [
                record.as_receipt()
                for record in entry.runtime_data.journal.receipts(
                    key=entry.runtime_data.renewals.key(line_id)
                )
            ]
            if line_id
            else [],
        },
        TO_REDACT,
    )
