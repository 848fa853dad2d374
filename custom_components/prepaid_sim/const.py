"""Constants of the Prepaid SIM integration."""

from __future__ import annotations

from datetime import timedelta
import logging
from typing import Final

DOMAIN: Final = "prepaid_sim"
LOGGER = logging.getLogger(__package__)

CONF_PROVIDER: Final = "provider"
CONF_BASE_URL: Final = "base_url"
CONF_LINE_ID: Final = "line_id"

SUBENTRY_TYPE_LINE: Final = "line"

# Home Assistant enables at most 10,000 entities per config entry. A line has 13 enabled by
# default, which would stop new lines at 770 in one account; an account tracking more than
# this many lines enables only each line's essential entities by default (8: up to 1,250
# lines) and creates the others disabled, for the user to enable where wanted.
LARGE_ACCOUNT_LINES: Final = 700

# Renewal defaults (see README "Renewal you can rely on").
DEFAULT_REPEAT_WINDOW: Final = timedelta(minutes=10)

EVENT_RENEWAL: Final = "prepaid_sim_renewal"

ATTR_LINE: Final = "line"
ATTR_PACKAGE: Final = "package"
ATTR_DRY_RUN: Final = "dry_run"
ATTR_REQUEST_ID: Final = "request_id"
ATTR_ALLOW_REPEAT: Final = "allow_repeat"


def line_device_identifier(entry_unique_id: str | None, line_id: str) -> str:
    """Return the device identifier of a line: the provider's stable line id, scoped."""
    return f"{entry_unique_id}_{line_id}"
