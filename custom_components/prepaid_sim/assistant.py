"""What voice intents and LLM tools share: lines by name, status, confirmed renewals.

A renewal by voice is two steps: a quote (package and price) and, within a short window,
a confirmation by the same person. Only the confirmation reaches the renewal manager.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.util import dt as dt_util
from homeassistant.util.hass_dict import HassKey

from .const import DOMAIN
from .coordinator import PrepaidSimConfigEntry, tracked_line_ids
from .messages import async_message, format_data
from .renewal import Caller

# How long a quote waits for its confirmation.
CONFIRM_WINDOW: Final = timedelta(minutes=2)

_QUOTES: HassKey[dict[str, Quote]] = HassKey(f"{DOMAIN}_quotes")


class AssistantError(Exception):
    """A request the assistant answers with a sentence instead of acting."""

    def __init__(self, key: str, **values: str) -> None:
        """Keep the message key and its placeholders."""
        super().__init__(key)
        self.key = key
        self.values = values

    async def async_text(self, hass: HomeAssistant, language: str) -> str:
        """Return the sentence for this error."""
        return await async_message(hass, language, self.key, **self.values)


@dataclass(frozen=True, slots=True)
class LineRef:
    """A tracked line of a loaded account."""

    entry: PrepaidSimConfigEntry
    line_id: str
    name: str


@dataclass(frozen=True, slots=True)
class Quote:
    """A renewal offered to someone, waiting for their confirmation."""

    line: LineRef
    package_id: str
    package_name: str
    price: str
    at: datetime


def tracked_lines(hass: HomeAssistant) -> list[LineRef]:
    """Return every tracked line of every loaded account."""
    lines: list[LineRef] = []
    for entry in hass.config_entries.async_entries(DOMAIN):
        if entry.state is not ConfigEntryState.LOADED:
            continue
        lines.extend(
            LineRef(entry, line_id, entry.subentries[subentry_id].title)
            for line_id, subentry_id in tracked_line_ids(entry).items()
        )
    return lines


def _words(text: str) -> str:
    """Return text folded for comparison: case, spaces and the words "my"/"the" ignored."""
    folded = text.casefold().replace("sim", " sim ")
    return " ".join(w for w in folded.split() if w not in {"my", "the", "line"})


def find_line(hass: HomeAssistant, name: str | None) -> LineRef:
    """Return the line a person named (or the only line, when they named none)."""
    lines = tracked_lines(hass)
    if not name:
        if len(lines) == 1:
            return lines[0]
        raise AssistantError("voice_which_line", lines=", ".join(line.name for line in lines))
    wanted = _words(name)
    exact = [line for line in lines if _words(line.name) == wanted]
    partial = [line for line in lines if wanted in _words(line.name) or _words(line.name) in wanted]
    matches = exact or partial
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise AssistantError("voice_line_not_found", line=name)
    raise AssistantError("voice_which_line", lines=", ".join(line.name for line in matches))


def line_status(ref: LineRef) -> dict[str, Any]:
    """Return the facts of a line, as a tool answers them."""
    line = ref.entry.runtime_data.coordinator.data.lines.get(ref.line_id)
    if line is None:
        return {"line": ref.name, "available": False}
    return {
        "line": ref.name,
        "available": True,
        "status": line.status.value,
        "unlimited": line.unlimited,
        "data_remaining_bytes": line.data_remaining_bytes,
        "data_remaining": (
            format_data(line.data_remaining_bytes)
            if line.data_remaining_bytes is not None
            else None
        ),
        "data_total_bytes": line.data_total_bytes,
        "expires_at": line.expires_at.isoformat() if line.expires_at else None,
    }


async def async_status_text(hass: HomeAssistant, ref: LineRef, language: str) -> str:
    """Return a sentence about how much data is left and until when."""
    facts = line_status(ref)
    if not facts["available"]:
        return await async_message(hass, language, "voice_line_unavailable", line=ref.name)
    expires = facts["expires_at"]
    remaining = facts["data_remaining"]
    if expires is None:
        if remaining is None:
            return await async_message(hass, language, "voice_line_unavailable", line=ref.name)
        return await async_message(
            hass, language, "voice_status_no_expiry", line=ref.name, remaining=remaining
        )
    until = dt_util.as_local(datetime.fromisoformat(expires)).strftime("%Y-%m-%d")
    if facts["unlimited"] or remaining is None:
        return await async_message(
            hass, language, "voice_status_unlimited", line=ref.name, expires=until
        )
    return await async_message(
        hass, language, "voice_status", line=ref.name, remaining=remaining, expires=until
    )


async def async_quote(hass: HomeAssistant, ref: LineRef, who: str) -> Quote:
    """Price the line's renewal (no charge) and keep it for ``who`` to confirm."""
    result = await ref.entry.runtime_data.renewals.async_renew(
        ref.line_id, caller=Caller.VOICE, dry_run=True
    )
    quote = Quote(
        line=ref,
        package_id=result["package"]["id"],
        package_name=result["package"]["name"],
        price=f"{result['price']:.2f} {result['currency']}",
        at=dt_util.utcnow(),
    )
    hass.data.setdefault(_QUOTES, {})[who] = quote
    return quote


async def async_confirm(
    hass: HomeAssistant, who: str, line: LineRef | None = None
) -> dict[str, Any]:
    """Renew what ``who`` was quoted, if the quote is recent (and for ``line``, if given)."""
    quote = hass.data.setdefault(_QUOTES, {}).get(who)
    if (
        quote is None
        or dt_util.utcnow() - quote.at > CONFIRM_WINDOW
        or (line is not None and line.line_id != quote.line.line_id)
    ):
        raise AssistantError("voice_nothing_to_confirm")
    del hass.data[_QUOTES][who]
    if quote.line.entry.state is not ConfigEntryState.LOADED:
        # Unloaded (or disabled) since the quote: it has no renewal manager to buy with.
        raise AssistantError("voice_line_unavailable", line=quote.line.name)
    return await quote.line.entry.runtime_data.renewals.async_renew(
        quote.line.line_id, quote.package_id, caller=Caller.VOICE
    )
