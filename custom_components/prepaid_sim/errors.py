"""How a provider's failure reaches a person: one translated message per kind of failure."""

from __future__ import annotations

from datetime import timedelta
from typing import Final

from homeassistant.exceptions import HomeAssistantError
from homeassistant.util import dt as dt_util

from .const import DOMAIN
from .providers.base import (
    NotProviderApiError,
    ProviderError,
    RateLimitedError,
    RedirectedError,
    ResponseTooLargeError,
)

# When a provider asks us to wait without saying how long.
DEFAULT_WAIT: Final = timedelta(minutes=1)

# Failures whose message needs no detail from the provider (and should show none).
_KEYS_BY_KIND: Final[tuple[tuple[type[ProviderError], str], ...]] = (
    (NotProviderApiError, "not_provider_api"),
    (RedirectedError, "redirected"),
    (ResponseTooLargeError, "response_too_large"),
)


def rate_limit_ends(err: RateLimitedError) -> str:
    """Return the local time (HH:MM) a provider's rate limit ends."""
    wait = timedelta(seconds=err.retry_after) if err.retry_after else DEFAULT_WAIT
    return dt_util.as_local(dt_util.utcnow() + wait).strftime("%H:%M")


def person_facing_error(err: ProviderError) -> HomeAssistantError:
    """Return the translated error for a provider failure a person is waiting on.

    A rate limit says until when; nothing was charged in any of these cases.
    """
    if isinstance(err, RateLimitedError):
        return HomeAssistantError(
            translation_domain=DOMAIN,
            translation_key="rate_limited_until",
            translation_placeholders={"time": rate_limit_ends(err)},
        )
    for kind, key in _KEYS_BY_KIND:
        if isinstance(err, kind):
            return HomeAssistantError(translation_domain=DOMAIN, translation_key=key)
    return HomeAssistantError(
        translation_domain=DOMAIN,
        translation_key="provider_error",
        translation_placeholders={"error": str(err)},
    )
