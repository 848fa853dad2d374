"""Actions: renew a line, list its packages, read the renewal receipts."""

from __future__ import annotations

from typing import Any, cast

import probatio

from homeassistant.const import ATTR_DEVICE_ID
from homeassistant.core import (
    HomeAssistant,
    ServiceCall,
    ServiceResponse,
    SupportsResponse,
    callback,
)
from homeassistant.exceptions import ServiceValidationError
from homeassistant.helpers import config_validation as cv
from homeassistant.helpers.service import (
    async_get_device_and_config_entry,
    async_register_admin_service,
)
from homeassistant.util import dt as dt_util
from homeassistant.util.json import JsonValueType

from .const import (
    ATTR_ALLOW_REPEAT,
    ATTR_DRY_RUN,
    ATTR_PACKAGE,
    ATTR_REQUEST_ID,
    CONF_LINE_ID,
    DOMAIN,
)
from .feedback import async_notify_renewed
from .providers.manual import ManualProvider
from .renewal import CallerKind, Requester
from .runtime import PrepaidSimConfigEntry

SERVICE_RENEW = "renew"
SERVICE_LIST_PACKAGES = "list_packages"
SERVICE_GET_RENEWALS = "get_renewals"
SERVICE_CORRECT_LINE = "correct_line"

ATTR_SINCE = "since"
ATTR_EXPIRES_AT = "expires_at"
ATTR_DATA_REMAINING = "data_remaining_gb"

RENEW_SCHEMA = probatio.Schema(
    {
        probatio.Required(ATTR_DEVICE_ID): cv.string,
        probatio.Optional(ATTR_PACKAGE): cv.string,
        probatio.Optional(ATTR_DRY_RUN, default=False): cv.boolean,
        probatio.Optional(ATTR_REQUEST_ID): cv.string,
        probatio.Optional(ATTR_ALLOW_REPEAT, default=False): cv.boolean,
    }
)
LIST_PACKAGES_SCHEMA = probatio.Schema({probatio.Required(ATTR_DEVICE_ID): cv.string})
CORRECT_LINE_SCHEMA = probatio.Schema(
    {
        probatio.Required(ATTR_DEVICE_ID): cv.string,
        probatio.Optional(ATTR_EXPIRES_AT): cv.datetime,
        probatio.Optional(ATTR_DATA_REMAINING): probatio.All(
            probatio.Coerce(float), probatio.Range(min=0)
        ),
    }
)
GET_RENEWALS_SCHEMA = probatio.Schema(
    {
        probatio.Optional(ATTR_DEVICE_ID): cv.string,
        probatio.Optional(ATTR_SINCE): cv.datetime,
    }
)


def _line_of_device(hass: HomeAssistant, device_id: str) -> tuple[PrepaidSimConfigEntry, str]:
    """Return the loaded account and the line id behind a line's device."""
    device, entry = async_get_device_and_config_entry(hass, DOMAIN, device_id)
    subentry = entry.subentries.get(device.config_subentry_id or "")
    if subentry is None or CONF_LINE_ID not in subentry.data:
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="not_a_line",
            translation_placeholders={"device": device.name_by_user or device.name or device_id},
        )
    return cast("PrepaidSimConfigEntry", entry), subentry.data[CONF_LINE_ID]


def _requester_of(call: ServiceCall) -> Requester:
    """Tell a person's call from one an automation or script made (no user)."""
    user_id = call.context.user_id
    return Requester(kind=CallerKind.USER if user_id else CallerKind.AUTOMATION, user_id=user_id)


async def _async_renew(call: ServiceCall) -> ServiceResponse:
    """Renew a line (or quote it, for a dry run) through the renewal engine."""
    entry, line_id = _line_of_device(call.hass, call.data[ATTR_DEVICE_ID])
    renewals = entry.runtime_data.renewals
    requester = _requester_of(call)
    if call.data[ATTR_DRY_RUN]:
        quote = await renewals.async_quote(
            line_id, call.data.get(ATTR_PACKAGE), requester=requester
        )
        response = quote.as_response()
    else:
        result = await renewals.async_renew(
            line_id,
            call.data.get(ATTR_PACKAGE),
            requester=requester,
            request_id=call.data.get(ATTR_REQUEST_ID),
            allow_repeat=call.data[ATTR_ALLOW_REPEAT],
        )
        if call.context.user_id is not None:
            # Asked from a dashboard or the UI: the page shows no answer, so tell them.
            await async_notify_renewed(call.hass, result, renewals.key(line_id))
        response = result.as_response()
    return response if call.return_response else None


async def _async_list_packages(call: ServiceCall) -> ServiceResponse:
    """Return the packages a line can be renewed with."""
    entry, line_id = _line_of_device(call.hass, call.data[ATTR_DEVICE_ID])
    data = entry.runtime_data
    packages = await data.catalogue.async_read(line_id)
    default = data.catalogue.chosen(
        line_id,
        data.settings.of(line_id).preferred_package,
        data.coordinator.data.lines.get(line_id),
    )
    return {
        "packages": [
            {
                "id": package.package_id,
                "name": package.name,
                "price": float(package.price.amount),
                "currency": package.price.currency,
                "data_bytes": package.data_bytes,
                "daily_data_bytes": package.daily_bytes,
                "unlimited": package.data_bytes is None and package.daily_bytes is None,
                "validity_days": package.validity.days,
                "default": package is default,
            }
            for package in packages
        ]
    }


async def _async_get_renewals(call: ServiceCall) -> ServiceResponse:
    """Return renewal receipts, newest first, for one line or every loaded account."""
    since = call.data.get(ATTR_SINCE)
    receipts: list[dict[str, Any]] = []
    if ATTR_DEVICE_ID in call.data:
        entry, line_id = _line_of_device(call.hass, call.data[ATTR_DEVICE_ID])
        data = entry.runtime_data
        receipts = [
            {**record.as_receipt(), "device_id": call.data[ATTR_DEVICE_ID]}
            for record in data.journal.receipts(key=data.renewals.key(line_id), since=since)
        ]
    else:
        entries: list[PrepaidSimConfigEntry] = call.hass.config_entries.async_loaded_entries(DOMAIN)
        for entry in entries:
            data = entry.runtime_data
            receipts.extend(
                {**record.as_receipt(), "device_id": data.renewals.device_id(record.line_id)}
                for record in data.journal.receipts(entry_id=entry.entry_id, since=since)
            )
        receipts.sort(key=lambda receipt: str(receipt["created_at"]), reverse=True)
    return {"renewals": cast("list[JsonValueType]", receipts)}


async def _async_correct_line(call: ServiceCall) -> None:
    """Set the expiry or the data left of a hand-entered line, as the carrier shows them."""
    entry, line_id = _line_of_device(call.hass, call.data[ATTR_DEVICE_ID])
    provider = entry.runtime_data.provider
    if not isinstance(provider, ManualProvider):
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="not_manual_line",
            translation_placeholders={"line": entry.runtime_data.renewals.line_name(line_id)},
        )
    expires = call.data.get(ATTR_EXPIRES_AT)
    remaining = call.data.get(ATTR_DATA_REMAINING)
    provider.book.correct(
        line_id,
        expires_at=dt_util.as_utc(expires) if expires is not None else None,
        remaining_bytes=None if remaining is None else int(remaining * 1024**3),
    )
    await entry.runtime_data.coordinator.async_refresh()


@callback
def async_setup_services(hass: HomeAssistant) -> None:
    """Register the integration's actions."""
    # Spending money is for administrators (automations run with no user and may).
    async_register_admin_service(
        hass,
        DOMAIN,
        SERVICE_RENEW,
        _async_renew,
        schema=RENEW_SCHEMA,
        supports_response=SupportsResponse.OPTIONAL,
    )
    hass.services.async_register(
        DOMAIN,
        SERVICE_LIST_PACKAGES,
        _async_list_packages,
        schema=LIST_PACKAGES_SCHEMA,
        supports_response=SupportsResponse.ONLY,
    )
    async_register_admin_service(
        hass,
        DOMAIN,
        SERVICE_CORRECT_LINE,
        _async_correct_line,
        schema=CORRECT_LINE_SCHEMA,
    )
    hass.services.async_register(
        DOMAIN,
        SERVICE_GET_RENEWALS,
        _async_get_renewals,
        schema=GET_RENEWALS_SCHEMA,
        supports_response=SupportsResponse.ONLY,
    )
