"""What a person sees after renewing from a dashboard or a button: the receipt, at once.

A button press or a dashboard action returns nothing to the page, so a renewal a signed-in
person asked for ends with a notification (in the server's language) that says what was
bought, for how much and until when. A failure already reaches them as the action's error.
"""

from __future__ import annotations

from homeassistant.components import persistent_notification
from homeassistant.core import HomeAssistant
from homeassistant.util import dt as dt_util

from .const import DOMAIN
from .messages import async_message
from .records import RenewalState
from .renewal import RenewalResult


async def async_notify_renewed(hass: HomeAssistant, result: RenewalResult, line_key: str) -> None:
    """Show the receipt of a renewal a person asked for; one notification per line."""
    done = result.state is RenewalState.SUCCEEDED
    key = "renewed_by_person" if done else "renewal_sent_by_person"
    values = {
        "line": result.line_name,
        "package": result.package_name,
        "price": str(result.price),
        "order_id": result.order_id or "-",
        "expires": dt_util.as_local(result.new_expires_at).strftime("%Y-%m-%d %H:%M")
        if result.new_expires_at
        else "-",
    }
    language = hass.config.language
    persistent_notification.async_create(
        hass,
        await async_message(hass, language, key, **values),
        title=await async_message(hass, language, f"{key}_title", **values),
        notification_id=f"{DOMAIN}_renewed_{line_key}",
    )
