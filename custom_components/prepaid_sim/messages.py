"""Sentences for people (voice answers, notifications) in their language.

They live with the exception messages in the translation files, the one free-text category
Home Assistant loads for an integration, so all three languages stay in one place.
"""

from __future__ import annotations

from homeassistant.core import HomeAssistant
from homeassistant.helpers.translation import async_get_translations

from .const import DOMAIN

# Assist speaks regional codes; the translation files are named by script.
_SCRIPT_OF: dict[str, str] = {
    "zh-cn": "zh-Hans",
    "zh-sg": "zh-Hans",
    "zh-tw": "zh-Hant",
    "zh-hk": "zh-Hant",
    "zh-mo": "zh-Hant",
}


async def async_message(hass: HomeAssistant, language: str, key: str, **values: str) -> str:
    """Return the sentence ``key`` in ``language`` (English if missing), filled in."""
    language = _SCRIPT_OF.get(language.casefold(), language)
    # Home Assistant fills in English for keys (or whole languages) without a translation.
    strings = await async_get_translations(hass, language, "exceptions", {DOMAIN})
    return strings[f"component.{DOMAIN}.exceptions.{key}.message"].format(**values)
