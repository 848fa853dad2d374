"""Config flow: an account per entry, each tracked line a subentry."""

from __future__ import annotations

from collections.abc import Mapping
import dataclasses
import re
from typing import Any, override
from urllib.parse import urlsplit

import probatio

from homeassistant.config_entries import (
    SOURCE_REAUTH,
    ConfigEntry,
    ConfigEntryState,
    ConfigFlow,
    ConfigFlowResult,
    ConfigSubentryFlow,
    OptionsFlow,
    SubentryFlowResult,
)
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import device_registry as dr, entity_registry as er
from homeassistant.helpers.aiohttp_client import async_get_clientsession
from homeassistant.helpers.selector import (
    BooleanSelector,
    NumberSelector,
    NumberSelectorConfig,
    NumberSelectorMode,
    SelectOptionDict,
    SelectSelector,
    SelectSelectorConfig,
    SelectSelectorMode,
    TextSelector,
    TextSelectorConfig,
    TextSelectorType,
)

from .const import (
    CONF_BASE_URL,
    CONF_LINE_ID,
    CONF_PROVIDER,
    DOMAIN,
    LOGGER,
    SUBENTRY_TYPE_LINE,
    line_device_identifier,
)
from .errors import rate_limit_ends
from .manual_form import (
    SOURCE_KEYS,
    manual_line_data,
    manual_line_schema,
    nest_sources,
    sources_data,
    sources_fields,
)
from .providers import PROVIDERS, ProviderSpec, manual
from .providers.base import (
    Account,
    AuthenticationError,
    LineSummary,
    NotProviderApiError,
    Package,
    ProviderError,
    RateLimitedError,
    RedirectedError,
)
from .providers.ratelimit import fail_fast
from .providers.urls import BaseUrlError
from .records import line_key
from .runtime import PrepaidSimConfigEntry
from .settings import (
    CONF_AUTO_RENEW,
    CONF_AUTO_RENEW_HOURS,
    CONF_AUTO_RENEW_MAX_PER_MONTH,
    CONF_BUDGET_CURRENCY,
    CONF_EXPIRY_WARNING_DAYS,
    CONF_LOW_DATA_MB,
    CONF_LOW_DATA_PERCENT,
    CONF_MONTHLY_BUDGET,
    CONF_PREFERRED_PACKAGE,
    CONF_SPEND_CAP,
    CONF_VOICE_WITHOUT_USER,
    DEFAULT_AUTO_RENEW_HOURS,
    DEFAULT_AUTO_RENEW_MAX_PER_MONTH,
    DEFAULT_EXPIRY_WARNING_DAYS,
    DEFAULT_LOW_DATA_PERCENT,
    AutoRenewPolicy,
)
from .tracking import lines_tracked_elsewhere, tracked_line_ids


def _line_options(lines: list[LineSummary]) -> list[SelectOptionDict]:
    """Return the lines as select options, labelled with name and plan, sorted by name."""
    return [
        SelectOptionDict(
            value=line.line_id,
            label=f"{line.name} ({line.plan_name})" if line.plan_name else line.name,
        )
        for line in sorted(lines, key=lambda line: (line.name.casefold(), line.line_id))
    ]


def _line_schema(lines: list[LineSummary]) -> probatio.Schema:
    """Return a form that picks one line."""
    return probatio.Schema(
        {
            probatio.Required(CONF_LINE_ID): SelectSelector(
                SelectSelectorConfig(options=_line_options(lines), mode=SelectSelectorMode.LIST)
            )
        }
    )


def _account_title(spec: ProviderSpec, account: Account, first_line: str) -> str:
    """Name the entry after the account, or its provider and first line when it has no name.

    Two keys of one provider are then told apart in the entries list without showing any
    part of a key.
    """
    return account.name or f"{spec.name} ({first_line})"


def _credentials_schema(spec: ProviderSpec, defaults: Mapping[str, Any]) -> probatio.Schema:
    """Return the form for a provider's credentials and optional API base URL."""
    secret = TextSelector(TextSelectorConfig(type=TextSelectorType.PASSWORD))
    fields: dict[probatio.Marker, Any] = {}
    for field in spec.credential_fields:
        marker = probatio.Required if field.required else probatio.Optional
        fields[marker(field.key)] = secret
    if spec.default_base_url is not None:
        fields[
            probatio.Optional(
                CONF_BASE_URL, default=defaults.get(CONF_BASE_URL, spec.default_base_url)
            )
        ] = TextSelector(TextSelectorConfig(type=TextSelectorType.URL))
    return probatio.Schema(fields)


@dataclasses.dataclass(slots=True)
class _Check:
    """What opening an account with a set of credentials found."""

    account: Account | None = None
    lines: list[LineSummary] = dataclasses.field(default_factory=list)
    errors: dict[str, str] = dataclasses.field(default_factory=dict)
    # Placeholders the errors' messages need (the time a rate limit ends).
    placeholders: dict[str, str] = dataclasses.field(default_factory=dict)


async def _async_check(hass: HomeAssistant, spec: ProviderSpec, data: Mapping[str, Any]) -> _Check:
    """Open the account with ``data``; return it and its lines, or the form errors.

    The client is built inside the guard too: an address it cannot use is an error on
    the form, not a failed flow.
    """
    try:
        # A person waits on the form: a long rate-limit wait is reported, not slept out.
        with fail_fast():
            provider = spec.create(async_get_clientsession(hass), data)
            account = await provider.async_get_account()
            lines = await provider.async_list_lines()
    except BaseUrlError as err:
        return _Check(errors={CONF_BASE_URL: f"base_url_{err.reason}"})
    except AuthenticationError:
        return _Check(errors={"base": "invalid_auth"})
    except NotProviderApiError:
        return _Check(errors={"base": "not_provider_api"})
    except RedirectedError as err:
        return _Check(
            errors={"base": "redirected"},
            placeholders={"location": urlsplit(err.location or "").netloc or "?"},
        )
    except RateLimitedError as err:
        return _Check(errors={"base": "rate_limited"}, placeholders={"time": rate_limit_ends(err)})
    except ProviderError:
        return _Check(errors={"base": "cannot_connect"})
    except Exception:  # noqa: BLE001 - shown to the user as "unknown", logged in full
        LOGGER.exception("Unexpected error while opening the account")
        return _Check(errors={"base": "unknown"})
    return _Check(account=account, lines=lines)


class PrepaidSimConfigFlow(ConfigFlow, domain=DOMAIN):
    """Add an account: pick a provider, sign in, pick the first line."""

    VERSION = 1

    def __init__(self) -> None:
        """Start with nothing chosen."""
        self._spec: ProviderSpec | None = None
        self._data: dict[str, Any] = {}
        self._account: Account | None = None
        self._lines: list[LineSummary] = []

    @classmethod
    @callback
    @override
    def async_get_supported_subentry_types(
        cls, config_entry: ConfigEntry
    ) -> dict[str, type[ConfigSubentryFlow]]:
        """Lines are subentries of the account."""
        return {SUBENTRY_TYPE_LINE: LineSubentryFlowHandler}

    @staticmethod
    @callback
    @override
    def async_get_options_flow(config_entry: ConfigEntry) -> AccountOptionsFlowHandler:
        """Return the flow of the account's options: its monthly budget."""
        return AccountOptionsFlowHandler()

    async def async_step_user(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Pick the provider."""
        if user_input is not None:
            self._spec = PROVIDERS[user_input[CONF_PROVIDER]]
            self._data = {CONF_PROVIDER: self._spec.key}
            return await self.async_step_credentials()
        return self.async_show_form(
            step_id="user",
            data_schema=probatio.Schema(
                {
                    probatio.Required(CONF_PROVIDER): SelectSelector(
                        SelectSelectorConfig(
                            options=list(PROVIDERS),
                            translation_key=CONF_PROVIDER,
                            mode=SelectSelectorMode.LIST,
                        )
                    )
                }
            ),
        )

    async def async_step_credentials(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Enter and check the provider's credentials (skipped when it needs none)."""
        assert self._spec is not None
        spec = self._spec
        needs_input = bool(spec.credential_fields) or spec.default_base_url is not None
        check = _Check()
        if user_input is not None or not needs_input:
            data = {**self._data, **(user_input or {})}
            check = await _async_check(self.hass, spec, data)
            if (account := check.account) is not None:
                await self.async_set_unique_id(f"{spec.key}_{account.account_id}")
                self._abort_if_unique_id_configured()
                self._data, self._account = data, account
                if spec.lines_by_hand:
                    return await self.async_step_manual_line()
                if not check.lines:
                    return self.async_abort(reason="no_lines")
                self._lines = check.lines
                return await self.async_step_line()
            if not needs_input:
                return self.async_abort(
                    reason=next(iter(check.errors.values())),
                    description_placeholders=check.placeholders,
                )
        return self.async_show_form(
            step_id="credentials",
            data_schema=self.add_suggested_values_to_schema(
                _credentials_schema(spec, {}), user_input
            ),
            errors=check.errors,
            description_placeholders={"provider": spec.name, **check.placeholders},
        )

    async def async_step_line(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Pick the first line to track; create the account with it.

        Lines another entry of the provider already tracks (the same account added with
        another key, say) are not offered; an account whose every line is tracked
        elsewhere is not added again.
        """
        assert self._account is not None
        assert self._spec is not None
        elsewhere = lines_tracked_elsewhere(self.hass, self._spec.key)
        errors: dict[str, str] = {}
        placeholders: dict[str, str] = {}
        if user_input is not None:
            line_id = user_input[CONF_LINE_ID]
            if (other := elsewhere.get(line_key(self._spec.key, line_id))) is None:
                line = next(line for line in self._lines if line.line_id == line_id)
                return self.async_create_entry(
                    title=_account_title(self._spec, self._account, line.name),
                    data=self._data,
                    subentries=[
                        {
                            "subentry_type": SUBENTRY_TYPE_LINE,
                            "data": {CONF_LINE_ID: line.line_id},
                            "title": line.name,
                            "unique_id": line.line_id,
                        }
                    ],
                )
            # Taken by another entry since the form was shown.
            errors["base"] = "tracked_elsewhere"
            placeholders["entry"] = other.title
        free = [
            line for line in self._lines if line_key(self._spec.key, line.line_id) not in elsewhere
        ]
        if not free:
            other = elsewhere[line_key(self._spec.key, self._lines[0].line_id)]
            return self.async_abort(
                reason="account_in_other_entry", description_placeholders={"entry": other.title}
            )
        return self.async_show_form(
            step_id="line",
            data_schema=_line_schema(free),
            errors=errors,
            description_placeholders=placeholders,
        )

    async def async_step_manual_line(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Describe the first line of a carrier without an API; create the account."""
        assert self._account is not None
        assert self._spec is not None
        errors: dict[str, str] = {}
        if user_input is not None:
            data, errors = manual_line_data(user_input)
            if not errors:
                return self.async_create_entry(
                    title=_account_title(self._spec, self._account, data[manual.KEY_NAME]),
                    data=self._data,
                    subentries=[
                        {
                            "subentry_type": SUBENTRY_TYPE_LINE,
                            "data": data,
                            "title": data[manual.KEY_NAME],
                            "unique_id": data[CONF_LINE_ID],
                        }
                    ],
                )
        return self.async_show_form(
            step_id="manual_line",
            data_schema=self.add_suggested_values_to_schema(manual_line_schema(), user_input),
            errors=errors,
        )

    async def async_step_reauth(self, entry_data: Mapping[str, Any]) -> ConfigFlowResult:
        """Start over with the credentials when the provider refuses them."""
        return await self.async_step_reauth_confirm()

    async def async_step_reauth_confirm(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Enter new credentials (or retry, for a provider without any)."""
        return await self._async_update_credentials(
            self._get_reauth_entry(), "reauth_confirm", user_input
        )

    async def async_step_reconfigure(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Change the credentials or the API base URL of the account."""
        return await self._async_update_credentials(
            self._get_reconfigure_entry(), "reconfigure", user_input
        )

    async def _async_update_credentials(
        self, entry: PrepaidSimConfigEntry, step_id: str, user_input: dict[str, Any] | None
    ) -> ConfigFlowResult:
        """Check new credentials against the same account, save them, read the lines."""
        spec = PROVIDERS[entry.data[CONF_PROVIDER]]
        check = _Check()
        if user_input is not None:
            data = {**entry.data, **user_input}
            check = await _async_check(self.hass, spec, data)
            if (account := check.account) is not None:
                return await self._async_save_credentials(entry, spec, data, account, check.lines)
        return self.async_show_form(
            step_id=step_id,
            data_schema=self.add_suggested_values_to_schema(
                _credentials_schema(spec, entry.data),
                {CONF_BASE_URL: entry.data.get(CONF_BASE_URL)}
                if user_input is None
                else user_input,
            ),
            errors=check.errors,
            description_placeholders={
                "provider": spec.name,
                "account": entry.title,
                **check.placeholders,
            },
        )

    async def _async_save_credentials(
        self,
        entry: PrepaidSimConfigEntry,
        spec: ProviderSpec,
        data: dict[str, Any],
        account: Account,
        lines: list[LineSummary],
    ) -> ConfigFlowResult:
        """Save credentials that opened ``account``; have the lines read again at once.

        The account must be the same one: the same unique id, or (for providers whose id
        derives from the key, so that a new key means a new id) every tracked line on it.
        Its unique id then follows the key, and its devices and entities follow the id.
        """
        unique_id = f"{spec.key}_{account.account_id}"
        if unique_id != entry.unique_id:
            if not set(tracked_line_ids(entry)) <= {line.line_id for line in lines}:
                return self.async_abort(reason="wrong_account")
            if any(
                other.unique_id == unique_id
                for other in self.hass.config_entries.async_entries(DOMAIN)
                if other.entry_id != entry.entry_id
            ):
                return self.async_abort(reason="already_configured")
            _async_move_registry_ids(self.hass, entry, unique_id)
        changed = data != dict(entry.data) or unique_id != entry.unique_id
        if entry.state is not ConfigEntryState.LOADED:
            # Setup failed (or never ran): no update listener is left to reload it.
            return self.async_update_reload_and_abort(entry, unique_id=unique_id, data=data)
        if data != dict(entry.data):
            # The update listener reloads the account with the new credentials.
            return self.async_update_and_abort(entry, unique_id=unique_id, data=data)
        if changed:
            # Only the id moved: reload so the entities are built under it.
            self.hass.config_entries.async_update_entry(entry, unique_id=unique_id)
            self.hass.config_entries.async_schedule_reload(entry.entry_id)
        else:
            # Unchanged credentials that work again (restored at the provider): polling
            # stopped when they were refused, so read the lines now, not at the next
            # restart.
            await entry.runtime_data.coordinator.async_request_refresh()
        return self.async_abort(
            reason="reauth_successful" if self.source == SOURCE_REAUTH else "reconfigure_successful"
        )


@callback
def _async_move_registry_ids(hass: HomeAssistant, entry: ConfigEntry, unique_id: str) -> None:
    """Move the account's device identifiers and entity unique ids to a new unique id.

    Both are built from the account's unique id (``line_device_identifier``); moving them
    keeps every device, entity id, name and setting the user gave them.
    """
    old = entry.unique_id
    device_registry = dr.async_get(hass)
    for line_id in tracked_line_ids(entry):
        device = device_registry.async_get_device_by_identifier(
            (DOMAIN, line_device_identifier(old, line_id)), entry.entry_id
        )
        if device is not None:
            device_registry.async_update_device(
                device.id,
                new_identifiers={(DOMAIN, line_device_identifier(unique_id, line_id))},
            )
    entity_registry = er.async_get(hass)
    prefix = f"{old}_"
    for entity in er.async_entries_for_config_entry(entity_registry, entry.entry_id):
        if entity.unique_id.startswith(prefix):
            entity_registry.async_update_entity(
                entity.entity_id,
                new_unique_id=f"{unique_id}_{entity.unique_id.removeprefix(prefix)}",
            )


class LineSubentryFlowHandler(ConfigSubentryFlow):
    """Add a line of the account, or change a line's settings."""

    def __init__(self) -> None:
        """Start with no lines read."""
        self._lines: list[LineSummary] = []

    async def async_step_user(self, user_input: dict[str, Any] | None = None) -> SubentryFlowResult:
        """Pick a line of the account that no entry tracks yet."""
        entry: PrepaidSimConfigEntry = self._get_entry()
        if entry.state is not ConfigEntryState.LOADED:
            return self.async_abort(reason="entry_not_loaded")
        provider_key = entry.data[CONF_PROVIDER]
        if PROVIDERS[provider_key].lines_by_hand:
            return await self.async_step_manual()
        tracked = tracked_line_ids(entry)
        elsewhere = lines_tracked_elsewhere(self.hass, provider_key, entry.entry_id)
        if user_input is not None:
            line_id = user_input[CONF_LINE_ID]
            if line_id in tracked:
                return self.async_abort(reason="already_configured")
            if (other := elsewhere.get(line_key(provider_key, line_id))) is not None:
                # Another entry took it since the form was shown.
                return self.async_abort(
                    reason="tracked_elsewhere", description_placeholders={"entry": other.title}
                )
            line = next(line for line in self._lines if line.line_id == line_id)
            return self.async_create_entry(
                title=line.name, data={CONF_LINE_ID: line_id}, unique_id=line_id
            )
        try:
            # A person waits on the form: a long rate-limit wait is reported, not slept out.
            with fail_fast():
                lines = await entry.runtime_data.provider.async_list_lines()
        except RateLimitedError as err:
            return self.async_abort(
                reason="rate_limited", description_placeholders={"time": rate_limit_ends(err)}
            )
        except ProviderError:
            return self.async_abort(reason="cannot_connect")
        untracked = [line for line in lines if line.line_id not in tracked]
        self._lines = [
            line for line in untracked if line_key(provider_key, line.line_id) not in elsewhere
        ]
        if not self._lines:
            if untracked:
                other = elsewhere[line_key(provider_key, untracked[0].line_id)]
                return self.async_abort(
                    reason="all_lines_tracked_elsewhere",
                    description_placeholders={"entry": other.title},
                )
            return self.async_abort(reason="all_lines_configured")
        return self.async_show_form(step_id="user", data_schema=_line_schema(self._lines))

    async def async_step_manual(
        self, user_input: dict[str, Any] | None = None
    ) -> SubentryFlowResult:
        """Describe one more line of a carrier without an API."""
        errors: dict[str, str] = {}
        if user_input is not None:
            data, errors = manual_line_data(user_input)
            if not errors:
                return self.async_create_entry(
                    title=data[manual.KEY_NAME], data=data, unique_id=data[CONF_LINE_ID]
                )
        return self.async_show_form(
            step_id="manual",
            data_schema=self.add_suggested_values_to_schema(manual_line_schema(), user_input),
            errors=errors,
        )

    async def async_step_reconfigure(
        self, user_input: dict[str, Any] | None = None
    ) -> SubentryFlowResult:
        """Change the line's alert thresholds, renewal package, auto-renew and spend cap."""
        entry: PrepaidSimConfigEntry = self._get_entry()
        subentry = self._get_reconfigure_subentry()
        line_id = subentry.data[CONF_LINE_ID]
        # A hand-entered line also says where its readings come from.
        by_hand = PROVIDERS[entry.data[CONF_PROVIDER]].lines_by_hand
        errors: dict[str, str] = {}
        if user_input is not None:
            sources: dict[str, Any] = {}
            if by_hand:
                sources, errors = sources_data(user_input)
            if not errors:
                # Settings (and sources) replace the old ones; the line's definition stays.
                replaced = _SETTING_KEYS | SOURCE_KEYS if by_hand else _SETTING_KEYS
                kept = {k: v for k, v in subentry.data.items() if k not in replaced}
                settings = {k: v for k, v in user_input.items() if k in _SETTING_KEYS}
                if entry.state is ConfigEntryState.LOADED:
                    # Applied in place: only this line's entities and checks hear of it.
                    entry.runtime_data.settings.expect_change(line_id)
                return self.async_update_and_abort(
                    entry, subentry, data={**kept, **settings, **sources}
                )
        packages = (
            entry.runtime_data.catalogue.cached(line_id)
            if entry.state is ConfigEntryState.LOADED
            else None
        ) or []
        schema = _settings_schema(packages)
        if by_hand:
            schema = schema.extend(sources_fields())
        return self.async_show_form(
            step_id="reconfigure",
            data_schema=self.add_suggested_values_to_schema(
                schema, user_input or {**_SETTING_DEFAULTS, **nest_sources(subentry.data)}
            ),
            description_placeholders={"line": subentry.title},
            errors=errors,
        )


_SETTING_KEYS = frozenset(
    {
        CONF_LOW_DATA_PERCENT,
        CONF_LOW_DATA_MB,
        CONF_EXPIRY_WARNING_DAYS,
        CONF_PREFERRED_PACKAGE,
        CONF_AUTO_RENEW,
        CONF_AUTO_RENEW_HOURS,
        CONF_AUTO_RENEW_MAX_PER_MONTH,
        CONF_SPEND_CAP,
        CONF_VOICE_WITHOUT_USER,
    }
)

_SETTING_DEFAULTS: dict[str, Any] = {
    CONF_LOW_DATA_PERCENT: DEFAULT_LOW_DATA_PERCENT,
    CONF_EXPIRY_WARNING_DAYS: DEFAULT_EXPIRY_WARNING_DAYS,
    CONF_AUTO_RENEW: AutoRenewPolicy.OFF.value,
    CONF_AUTO_RENEW_MAX_PER_MONTH: DEFAULT_AUTO_RENEW_MAX_PER_MONTH,
    CONF_AUTO_RENEW_HOURS: DEFAULT_AUTO_RENEW_HOURS,
    CONF_VOICE_WITHOUT_USER: False,
}


# Units shown as words are translated (selector.<key>.unit_of_measurement.<unit>).
_UNIT_TRANSLATION_KEYS: dict[str, str] = {"d": "days", "h": "hours"}


def _number(minimum: float, maximum: float, step: float, unit: str | None = None) -> NumberSelector:
    """Return a number box."""
    config = NumberSelectorConfig(min=minimum, max=maximum, step=step, mode=NumberSelectorMode.BOX)
    if unit is not None:
        config["unit_of_measurement"] = unit
        if (translation_key := _UNIT_TRANSLATION_KEYS.get(unit)) is not None:
            config["translation_key"] = translation_key
    return NumberSelector(config)


def _settings_schema(packages: list[Package]) -> probatio.Schema:
    """Return the form of a line's settings."""
    package_field: Any = (
        SelectSelector(
            SelectSelectorConfig(
                options=[
                    SelectOptionDict(value=p.package_id, label=f"{p.name} ({p.price})")
                    for p in packages
                ],
                mode=SelectSelectorMode.DROPDOWN,
            )
        )
        if packages
        else TextSelector()
    )
    return probatio.Schema(
        {
            probatio.Required(CONF_LOW_DATA_PERCENT): _number(0, 100, 1, "%"),
            probatio.Optional(CONF_LOW_DATA_MB): _number(0, 1_000_000, 1, "MiB"),
            probatio.Required(CONF_EXPIRY_WARNING_DAYS): _number(0, 365, 1, "d"),
            probatio.Optional(CONF_PREFERRED_PACKAGE): package_field,
            probatio.Required(CONF_AUTO_RENEW): SelectSelector(
                SelectSelectorConfig(
                    options=[policy.value for policy in AutoRenewPolicy],
                    translation_key=CONF_AUTO_RENEW,
                    mode=SelectSelectorMode.DROPDOWN,
                )
            ),
            probatio.Required(CONF_AUTO_RENEW_HOURS): _number(1, 720, 1, "h"),
            probatio.Required(CONF_AUTO_RENEW_MAX_PER_MONTH): _number(1, 31, 1),
            probatio.Optional(CONF_SPEND_CAP): _number(0, 100_000, 0.01),
            probatio.Optional(CONF_VOICE_WITHOUT_USER, default=False): BooleanSelector(),
        }
    )


_CURRENCY_CODE = re.compile(r"[A-Z]{3}")


def _budget_schema() -> probatio.Schema:
    """Return the form of the account's options."""
    return probatio.Schema(
        {
            # No minimum in the selector: a negative amount gets a translated form error
            # rather than the schema's untranslated refusal.
            probatio.Optional(CONF_MONTHLY_BUDGET): NumberSelector(
                NumberSelectorConfig(max=10_000_000, step=0.01, mode=NumberSelectorMode.BOX)
            ),
            probatio.Optional(CONF_BUDGET_CURRENCY): TextSelector(),
        }
    )


def _account_currency(entry: PrepaidSimConfigEntry) -> str | None:
    """Return the currency the account pays in: its wallet's, else its packages' or lines'."""
    if entry.state is ConfigEntryState.LOADED:
        data = entry.runtime_data
        if (snapshot := data.coordinator.data) is not None and snapshot.wallet is not None:
            return snapshot.wallet.currency
        for line_id in data.line_subentries:
            for package in data.catalogue.cached(line_id) or ():
                return package.price.currency
    # Hand-entered lines name their currency.
    for subentry in entry.subentries.values():
        if currency := subentry.data.get(manual.KEY_CURRENCY):
            return str(currency).upper()
    return None


class AccountOptionsFlowHandler(OptionsFlow):
    """Set the account's monthly budget; applied in place, the account is not reloaded.

    The entry's update listener hears of the change and tells the account's entities (the
    "Spent this month" sensor); the renewal engine reads the budget at each renewal. So a
    reload, with its interrupted polling and package reads, would buy nothing here.
    """

    async def async_step_init(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Ask for the budget (empty: no budget) and the currency it is in."""
        entry: PrepaidSimConfigEntry = self.config_entry
        currency = _account_currency(entry)
        errors: dict[str, str] = {}
        if user_input is not None:
            amount = user_input.get(CONF_MONTHLY_BUDGET)
            code = str(user_input.get(CONF_BUDGET_CURRENCY) or currency or "").strip().upper()
            if amount is not None and amount < 0:
                errors[CONF_MONTHLY_BUDGET] = "budget_negative"
            elif amount is not None and not _CURRENCY_CODE.fullmatch(code):
                errors[CONF_BUDGET_CURRENCY] = "invalid_currency"
            else:
                options = {
                    key: value
                    for key, value in entry.options.items()
                    if key not in (CONF_MONTHLY_BUDGET, CONF_BUDGET_CURRENCY)
                }
                if amount is not None:
                    options |= {CONF_MONTHLY_BUDGET: amount, CONF_BUDGET_CURRENCY: code}
                return self.async_create_entry(data=options)
        suggested = {
            key: value
            for key, value in {
                CONF_MONTHLY_BUDGET: entry.options.get(CONF_MONTHLY_BUDGET),
                CONF_BUDGET_CURRENCY: entry.options.get(CONF_BUDGET_CURRENCY) or currency,
                **(user_input or {}),
            }.items()
            if value is not None
        }
        return self.async_show_form(
            step_id="init",
            data_schema=self.add_suggested_values_to_schema(_budget_schema(), suggested),
            errors=errors,
            description_placeholders={"account": entry.title},
        )
