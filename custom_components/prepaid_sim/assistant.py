"""What voice intents and LLM tools share: lines by name, status, confirmed renewals.

A renewal by voice is two steps: a quote (package and price) and, within a short window,
a confirmation from the same person on the same device or satellite. The confirmation
buys the quoted package at no more than the quoted price, or nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.util import dt as dt_util
from homeassistant.util.hass_dict import HassKey

from .alerts import is_expired
from .const import DOMAIN
from .data_units import format_data
from .messages import async_message
from .renewal import Quote, RenewalResult, Requester
from .runtime import PrepaidSimConfigEntry

# How long a quote waits for its confirmation.
CONFIRM_WINDOW: Final = timedelta(minutes=2)

# Quotes waiting for a confirmation, by who asked and from where.
type QuoteKey = tuple[str, str | None, str | None]
_QUOTES: HassKey[dict[QuoteKey, Quote]] = HassKey(f"{DOMAIN}_quotes")


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


def tracked_lines(hass: HomeAssistant) -> list[LineRef]:
    """Return every tracked line of every loaded account."""
    lines: list[LineRef] = []
    for entry in hass.config_entries.async_entries(DOMAIN):
        if entry.state is not ConfigEntryState.LOADED:
            continue
        lines.extend(
            LineRef(entry, line_id, entry.subentries[subentry_id].title)
            for line_id, subentry_id in entry.runtime_data.line_subentries.items()
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
            format_data(line.data_remaining_bytes, line.data_total_bytes)
            if line.data_remaining_bytes is not None
            else None
        ),
        "data_total_bytes": line.data_total_bytes,
        "expires_at": line.expires_at.isoformat() if line.expires_at else None,
        "expired": is_expired(line, dt_util.utcnow()),
        "queued_packages": [topup.name for topup in line.queued if topup.name],
        # A carrier's rules: recharge by this time to keep the number; renew from this time.
        "keep_alive_by": line.keep_alive_by.isoformat() if line.keep_alive_by else None,
        "renewal_opens_at": line.renewal_opens_at.isoformat() if line.renewal_opens_at else None,
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
    expires_at = datetime.fromisoformat(expires)
    until = dt_util.as_local(expires_at).strftime("%Y-%m-%d")
    if facts["expired"]:
        return await async_message(
            hass, language, "voice_status_expired", line=ref.name, expired=until
        )
    if facts["unlimited"] or remaining is None:
        status = await async_message(
            hass, language, "voice_status_unlimited", line=ref.name, expires=until
        )
    else:
        status = await async_message(
            hass, language, "voice_status", line=ref.name, remaining=remaining, expires=until
        )
    return " ".join([status, *await _async_rule_warnings(hass, ref, facts, language)])


async def _async_rule_warnings(
    hass: HomeAssistant, ref: LineRef, facts: dict[str, Any], language: str
) -> list[str]:
    """Return what the carrier's rules add: a keep-alive date, a renewal window not open yet."""
    warnings: list[str] = []
    now = dt_util.utcnow()
    if (keep_alive := facts["keep_alive_by"]) is not None:
        date = dt_util.as_local(datetime.fromisoformat(keep_alive)).strftime("%Y-%m-%d")
        warnings.append(
            await async_message(hass, language, "voice_keep_alive", line=ref.name, date=date)
        )
    if (opens := facts["renewal_opens_at"]) is not None and datetime.fromisoformat(opens) > now:
        date = dt_util.as_local(datetime.fromisoformat(opens)).strftime("%Y-%m-%d")
        warnings.append(await async_message(hass, language, "voice_renewal_window", date=date))
    return warnings


def _quote_key(requester: Requester) -> QuoteKey:
    """Return whose quote it is: the channel, the user and the device or satellite."""
    return (requester.kind.value, requester.user_id, requester.device_id)


async def async_quote(hass: HomeAssistant, ref: LineRef, requester: Requester) -> Quote:
    """Price the line's renewal (no charge) and keep it for the same requester to confirm."""
    quote = await ref.entry.runtime_data.renewals.async_quote(ref.line_id, requester=requester)
    hass.data.setdefault(_QUOTES, {})[_quote_key(requester)] = quote
    return quote


async def async_confirm(
    hass: HomeAssistant, requester: Requester, line: LineRef | None = None
) -> RenewalResult:
    """Buy what ``requester`` was quoted, if the quote is recent (and for ``line``, if given).

    Only the quoted package, at no more than the quoted price: a price that went up since
    is refused and nothing is bought.
    """
    quotes = hass.data.setdefault(_QUOTES, {})
    key = _quote_key(requester)
    quote = quotes.get(key)
    if (
        quote is None
        or dt_util.utcnow() - quote.quoted_at > CONFIRM_WINDOW
        or (
            line is not None
            and (line.entry.entry_id, line.line_id) != (quote.entry_id, quote.line_id)
        )
    ):
        raise AssistantError("voice_nothing_to_confirm")
    del quotes[key]
    entry: PrepaidSimConfigEntry | None = hass.config_entries.async_get_entry(quote.entry_id)
    if entry is None or entry.state is not ConfigEntryState.LOADED:
        # Unloaded (or removed) since the quote: it has no renewal engine to buy with.
        raise AssistantError("voice_line_unavailable", line=quote.line_name)
    return await entry.runtime_data.renewals.async_renew(
        quote.line_id,
        quote.package.package_id,
        requester=requester,
        max_price=quote.price,
    )
