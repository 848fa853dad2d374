"""The form of a hand-entered line: what it is, and what feeds it.

The line itself (name, plan, price, expiry) comes first; where its readings come from and
the carrier's rules sit in collapsed sections, so a line kept only by hand stays one short
form. Sections arrive as nested mappings and are stored flat with the line's definition.
"""

from __future__ import annotations

from collections.abc import Mapping
import re
from typing import Any, Final
import uuid

import probatio

from homeassistant.data_entry_flow import SectionConfig, section
from homeassistant.helpers.selector import (
    DateTimeSelector,
    EntitySelector,
    EntitySelectorConfig,
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
from homeassistant.util import dt as dt_util

from .const import CONF_LINE_ID
from .manual_sources import (
    CONF_DATE_ORDER,
    CONF_EMAIL_SENDER,
    CONF_EMAIL_SUBJECT,
    CONF_MESSAGE_ENTITY,
    CONF_MESSAGE_PATTERN,
    CONF_MESSAGE_RULE,
    CONF_MESSAGE_SENDER,
    CONF_USAGE_ENTITY,
    CONF_USAGE_KIND,
    USAGE_REMAINING,
    USAGE_USED,
)
from .providers import manual
from .providers.carrier_messages import CARRIER_RULES, DateOrder, PatternError, compile_user_pattern

SECTION_DATA_SENSOR: Final = "data_sensor"
SECTION_MESSAGES: Final = "balance_messages"
SECTION_MAIL: Final = "renewal_mail"
SECTION_RULES: Final = "carrier_rules"

# Which stored keys each section holds.
SECTION_KEYS: Final[Mapping[str, tuple[str, ...]]] = {
    SECTION_DATA_SENSOR: (CONF_USAGE_ENTITY, CONF_USAGE_KIND),
    SECTION_MESSAGES: (
        CONF_MESSAGE_SENDER,
        CONF_MESSAGE_ENTITY,
        CONF_MESSAGE_RULE,
        CONF_MESSAGE_PATTERN,
        CONF_DATE_ORDER,
    ),
    SECTION_MAIL: (CONF_EMAIL_SENDER, CONF_EMAIL_SUBJECT),
    SECTION_RULES: (manual.KEY_KEEP_ALIVE_DAYS, manual.KEY_RENEWAL_WINDOW_DAYS),
}
SOURCE_KEYS: Final = frozenset(key for keys in SECTION_KEYS.values() for key in keys)


def _days(maximum: int) -> NumberSelector:
    """Return a box for a number of days."""
    return NumberSelector(
        NumberSelectorConfig(
            min=1,
            max=maximum,
            step=1,
            mode=NumberSelectorMode.BOX,
            unit_of_measurement="d",
            translation_key="days",
        )
    )


def sources_fields() -> dict[Any, Any]:
    """Return the collapsed sections of a hand-entered line's sources and carrier rules."""
    text = TextSelector()
    collapsed = SectionConfig(collapsed=True)
    return {
        probatio.Optional(SECTION_DATA_SENSOR, default=dict): section(
            probatio.Schema(
                {
                    probatio.Optional(CONF_USAGE_ENTITY): EntitySelector(
                        EntitySelectorConfig(domain="sensor")
                    ),
                    probatio.Required(CONF_USAGE_KIND, default=USAGE_USED): SelectSelector(
                        SelectSelectorConfig(
                            options=[USAGE_USED, USAGE_REMAINING],
                            translation_key=CONF_USAGE_KIND,
                            mode=SelectSelectorMode.LIST,
                        )
                    ),
                }
            ),
            collapsed,
        ),
        probatio.Optional(SECTION_MESSAGES, default=dict): section(
            probatio.Schema(
                {
                    probatio.Optional(CONF_MESSAGE_SENDER): text,
                    probatio.Optional(CONF_MESSAGE_ENTITY): EntitySelector(
                        EntitySelectorConfig(domain=["sensor", "text", "input_text"])
                    ),
                    probatio.Optional(CONF_MESSAGE_RULE): SelectSelector(
                        SelectSelectorConfig(
                            options=[
                                SelectOptionDict(value=rule.key, label=rule.name)
                                for rule in CARRIER_RULES.values()
                            ],
                            mode=SelectSelectorMode.DROPDOWN,
                        )
                    ),
                    probatio.Optional(CONF_MESSAGE_PATTERN): text,
                    probatio.Required(
                        CONF_DATE_ORDER, default=DateOrder.MONTH_FIRST.value
                    ): SelectSelector(
                        SelectSelectorConfig(
                            options=[order.value for order in DateOrder],
                            translation_key=CONF_DATE_ORDER,
                            mode=SelectSelectorMode.LIST,
                        )
                    ),
                }
            ),
            collapsed,
        ),
        probatio.Optional(SECTION_MAIL, default=dict): section(
            probatio.Schema(
                {
                    probatio.Optional(CONF_EMAIL_SENDER): text,
                    probatio.Optional(CONF_EMAIL_SUBJECT): text,
                }
            ),
            collapsed,
        ),
        probatio.Optional(SECTION_RULES, default=dict): section(
            probatio.Schema(
                {
                    probatio.Optional(manual.KEY_KEEP_ALIVE_DAYS): _days(3650),
                    probatio.Optional(manual.KEY_RENEWAL_WINDOW_DAYS): _days(365),
                }
            ),
            collapsed,
        ),
    }


def manual_line_schema() -> probatio.Schema:
    """Return the form that describes a line of a carrier without an API."""
    text = TextSelector()
    return probatio.Schema(
        {
            probatio.Required(manual.KEY_NAME): text,
            probatio.Optional(manual.KEY_CARRIER): text,
            probatio.Optional(manual.KEY_PLAN): text,
            probatio.Required(manual.KEY_PRICE): NumberSelector(
                NumberSelectorConfig(min=0, step=0.01, mode=NumberSelectorMode.BOX)
            ),
            probatio.Required(manual.KEY_CURRENCY, default="USD"): text,
            probatio.Optional(manual.KEY_ALLOWANCE_GB): NumberSelector(
                NumberSelectorConfig(
                    min=0, step=0.1, mode=NumberSelectorMode.BOX, unit_of_measurement="GB"
                )
            ),
            probatio.Required(manual.KEY_VALIDITY_DAYS, default=30): NumberSelector(
                NumberSelectorConfig(
                    min=1, max=3650, step=1, mode=NumberSelectorMode.BOX, unit_of_measurement="d"
                )
            ),
            probatio.Required(manual.KEY_EXPIRES): DateTimeSelector(),
            probatio.Optional(manual.KEY_RENEWAL_URL): TextSelector(
                TextSelectorConfig(type=TextSelectorType.URL)
            ),
            **sources_fields(),
        }
    )


def nest_sources(data: Mapping[str, Any]) -> dict[str, Any]:
    """Return a stored definition with its sources in their sections (to show in a form)."""
    nested = {key: value for key, value in data.items() if key not in SOURCE_KEYS}
    for name, keys in SECTION_KEYS.items():
        nested[name] = {key: data[key] for key in keys if data.get(key) is not None}
    return nested


def sources_data(user_input: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """Check the sections of a form; return their flat stored keys and any form errors."""
    flat: dict[str, Any] = {}
    for name in SECTION_KEYS:
        for key, value in (user_input.get(name) or {}).items():
            if isinstance(value, str):
                value = value.strip()
            if value not in (None, ""):
                flat[key] = value
    if (pattern := flat.get(CONF_MESSAGE_PATTERN)) is not None:
        try:
            compile_user_pattern(pattern)
        except PatternError:
            return {}, {"base": "invalid_pattern"}
    for key in (manual.KEY_KEEP_ALIVE_DAYS, manual.KEY_RENEWAL_WINDOW_DAYS):
        if key in flat:
            flat[key] = int(flat[key])
    return flat, {}


def manual_line_data(user_input: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """Check a hand-entered line; return its stored definition and any form errors."""
    currency = str(user_input[manual.KEY_CURRENCY]).strip().upper()
    if not re.fullmatch(r"[A-Z]{3}", currency):
        return {}, {manual.KEY_CURRENCY: "invalid_currency"}
    sources, errors = sources_data(user_input)
    if errors:
        return {}, errors
    # The date-time selector already refused anything that is not a date and time.
    expires = dt_util.parse_datetime(str(user_input[manual.KEY_EXPIRES]), raise_on_error=True)
    if expires.tzinfo is None:
        # The form's time is the user's local time.
        expires = expires.replace(tzinfo=dt_util.get_default_time_zone())
    line = {key: value for key, value in user_input.items() if key not in SECTION_KEYS}
    data = {
        **line,
        **sources,
        CONF_LINE_ID: uuid.uuid4().hex,
        manual.KEY_CURRENCY: currency,
        manual.KEY_EXPIRES: dt_util.as_utc(expires).isoformat(),
    }
    return data, {}
