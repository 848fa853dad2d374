"""Airalo: hosts, limits, token rules, documented business codes and states."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Final

from ..base import LineStatus

AIRALO_PROVIDER_KEY: Final = "airalo"
API_PATH: Final = "/v2"
PRODUCTION_BASE_URL: Final = "https://partners-api.airalo.com" + API_PATH
SANDBOX_BASE_URL: Final = "https://sandbox-partners-api.airalo.com" + API_PATH
DEFAULT_BASE_URL: Final = PRODUCTION_BASE_URL

# Each line is read at most once per USAGE_READ_INTERVAL anyway; refreshing every 5 minutes
# lets those reads spread over three refreshes (a third of the lines each) rather than all
# lines at once, and keeps the wallet fresh. Airalo caches usage for 20 min itself [R2].
UPDATE_INTERVAL: Final = timedelta(minutes=5)
# The strictest published rule: one usage call per ICCID per 15 minutes (2024-12-16 page);
# later pages allow 10/min per ICCID with a 20-minute cache, so this is safe under both.
USAGE_READ_INTERVAL: Final = timedelta(minutes=15)
# How long Airalo may keep serving a cached usage figure (later docs say 20 min) [R2].
PROVIDER_USAGE_CACHE: Final = timedelta(minutes=20)
# "5 requests per second per company" on usage; used for every endpoint to be safe [I].
REQUESTS_PER_SECOND: Final = 5
# Our window is a little longer than a second so network jitter (a slow first connection
# delaying an early request) can never put 6 of our requests into one of theirs.
RATE_WINDOW_SECONDS: Final = 1.1
# The token endpoint: 5/min (2024-12-16), 3/min later; keep to the lower one.
TOKEN_REQUESTS_PER_MINUTE: Final = 3
# The token says it lives a year, the docs say to treat it as valid for 24 h [R]: renew daily.
TOKEN_MAX_AGE: Final = timedelta(hours=24)
TOKEN_REFRESH_MARGIN: Final = timedelta(minutes=5)
DEFAULT_REQUEST_TIMEOUT: Final = 30.0
SIMS_PAGE_SIZE: Final = 100  # [I] the largest ``limit`` the docs show no bound for
ORDERS_PAGE_SIZE: Final = 50
MAX_PAGES: Final = 1000  # guards against a paging bug looping forever
# ``filter[description]`` should leave one order; if the filter were ignored [I], look this
# far back before saying "not found".
MAX_ORDER_PAGES: Final = 5

# [I] Airalo says "megabytes"; a "3 GB" package has ``amount: 3072``, so 1 GB = 1024 MB.
MB: Final = 1024 * 1024
DEFAULT_CURRENCY: Final = "USD"  # [I] partner prices and the wallet are in USD

# Business error codes [R2 errors file].
CODE_INSUFFICIENT_CREDIT: Final = 11
CODE_UNEXPECTED: Final = 53
CODE_RECYCLED: Final = 73
CODE_IP_NOT_ALLOWED: Final = 89

STATES: Final[Mapping[str, LineStatus]] = {
    "ACTIVE": LineStatus.ACTIVE,
    "NOT_ACTIVE": LineStatus.NOT_ACTIVE,
    "FINISHED": LineStatus.DEPLETED,
    "EXPIRED": LineStatus.EXPIRED,
    "UNKNOWN": LineStatus.UNKNOWN,
}
RECYCLED_STATE: Final = "RECYCLED"
FAILED_ORDER_STATES: Final = frozenset({"failed", "refunded", "cancelled", "canceled"})
# [I] ``expired_at`` is documented as "Y-m-d H:i:s"; other shapes are tried in turn.
TIME_FORMATS: Final = ("%d-%m-%Y %H:%M:%S", "%d.%m.%Y %H:%M:%S", "%Y/%m/%d %H:%M:%S")
