"""Voice intents: ask about a line, and renew it with a spoken confirmation."""

from __future__ import annotations

from typing import Any, override

import probatio

from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import config_validation as cv, intent

from .assistant import AssistantError, async_confirm, async_quote, async_status_text, find_line
from .messages import async_message
from .renewal import CallerKind, Requester

INTENT_LINE_STATUS = "PrepaidSimLineStatus"
INTENT_RENEW_LINE = "PrepaidSimRenewLine"
INTENT_CONFIRM_RENEWAL = "PrepaidSimConfirmRenewal"

SLOT_LINE = "line_name"


async def async_setup_intents(hass: HomeAssistant) -> None:
    """Register the intents."""
    intent.async_register(hass, LineStatusIntentHandler())
    intent.async_register(hass, RenewLineIntentHandler())
    intent.async_register(hass, ConfirmRenewalIntentHandler())


def _speaker(intent_obj: intent.Intent) -> Requester:
    """Return who is speaking, and where: a quote is only confirmed by the one who got it.

    A voice satellite nobody is signed in to has no user; its device still tells it apart.
    """
    return Requester(
        kind=CallerKind.VOICE,
        user_id=intent_obj.context.user_id,
        device_id=intent_obj.satellite_id or intent_obj.device_id,
    )


def _line_name(intent_obj: intent.Intent) -> str | None:
    """Return the spoken line name, if any."""
    slot = intent_obj.slots.get(SLOT_LINE)
    return str(slot["value"]).strip() if slot and slot.get("value") else None


async def _async_answer(intent_obj: intent.Intent, text: str) -> intent.IntentResponse:
    """Return a spoken answer."""
    response = intent_obj.create_response()
    response.async_set_speech(text)
    return response


async def _async_error_text(hass: HomeAssistant, language: str, err: Exception) -> str:
    """Return an error as a sentence in the speaker's language."""
    if isinstance(err, AssistantError):
        return await err.async_text(hass, language)
    if isinstance(err, HomeAssistantError) and err.translation_key:
        placeholders = {k: str(v) for k, v in (err.translation_placeholders or {}).items()}
        return await async_message(hass, language, err.translation_key, **placeholders)
    return str(err)


class LineStatusIntentHandler(intent.IntentHandler):
    """How much data a line has left, and until when it runs."""

    intent_type = INTENT_LINE_STATUS
    description = "Tells how much data a prepaid line has left and when its plan expires"
    platforms = None
    slot_schema: dict[Any, Any] = {probatio.Optional(SLOT_LINE): cv.string}

    @override
    async def async_handle(self, intent_obj: intent.Intent) -> intent.IntentResponse:
        """Answer with the line's data and expiry."""
        hass = intent_obj.hass
        try:
            line = find_line(hass, _line_name(intent_obj))
        except AssistantError as err:
            return await _async_answer(intent_obj, await err.async_text(hass, intent_obj.language))
        return await _async_answer(
            intent_obj, await async_status_text(hass, line, intent_obj.language)
        )


class RenewLineIntentHandler(intent.IntentHandler):
    """Quote a line's renewal and ask for a confirmation; nothing is bought yet."""

    intent_type = INTENT_RENEW_LINE
    description = "Quotes the renewal of a prepaid line and asks the user to confirm it"
    platforms = None
    slot_schema: dict[Any, Any] = {probatio.Optional(SLOT_LINE): cv.string}

    @override
    async def async_handle(self, intent_obj: intent.Intent) -> intent.IntentResponse:
        """Answer with the package and price, and how to confirm."""
        hass, language = intent_obj.hass, intent_obj.language
        try:
            line = find_line(hass, _line_name(intent_obj))
            quote = await async_quote(hass, line, _speaker(intent_obj))
        except (AssistantError, HomeAssistantError) as err:
            return await _async_answer(intent_obj, await _async_error_text(hass, language, err))
        return await _async_answer(
            intent_obj,
            await async_message(
                hass,
                language,
                "voice_quote",
                line=line.name,
                package=quote.package.name,
                price=str(quote.price),
            ),
        )


class ConfirmRenewalIntentHandler(intent.IntentHandler):
    """Buy what was just quoted to the same person."""

    intent_type = INTENT_CONFIRM_RENEWAL
    description = "Confirms the renewal that was just quoted"
    platforms = None

    @override
    async def async_handle(self, intent_obj: intent.Intent) -> intent.IntentResponse:
        """Renew once, and say what was bought."""
        hass, language = intent_obj.hass, intent_obj.language
        try:
            result = await async_confirm(hass, _speaker(intent_obj))
        except (AssistantError, HomeAssistantError) as err:
            return await _async_answer(intent_obj, await _async_error_text(hass, language, err))
        return await _async_answer(
            intent_obj,
            await async_message(
                hass,
                language,
                "voice_renewed",
                package=result.package_name,
                price=str(result.price),
            ),
        )
