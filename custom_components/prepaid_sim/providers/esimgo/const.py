"""eSIM Go: the pinned API version, limits, page sizes and the documented states."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Final

from ..base import LineStatus

ESIMGO_PROVIDER_KEY: Final = "esimgo"
# The API version this client speaks; "the API is fixed" per version, so it is pinned.
API_PATH: Final = "/v2.4"
DEFAULT_BASE_URL: Final = "https://api.esim-go.com" + API_PATH
# Every refresh costs 1 + N requests of a 10 req/s budget shared by everything on this IP,
# and eSIM Go only pushes usage at 1/50/80/100 % steps, so its figures are not live anyway
# [I]. A quarter hour keeps 100 lines cheap; renewals need hours of warning, not minutes.
UPDATE_INTERVAL: Final = timedelta(minutes=15)

# Documented limit: 10 requests per second per IP, in a fixed window.
RATE_LIMIT_PER_SECOND: Final = 10
# Our window is a little longer than theirs so network jitter can never put 11 of our
# requests into one of their fixed windows.
RATE_WINDOW_SECONDS: Final = 1.05
# A read that hits 429 is retried once when the provider asks for at most this long.
READ_RETRY_MAX_WAIT: Final = 2.0
# Never trust a rate-limit reset header to hold us for longer than this (clock skew).
MAX_RESET_WAIT: Final = 5.0
DEFAULT_REQUEST_TIMEOUT: Final = 30.0

ESIMS_PER_PAGE: Final = 100
CATALOGUE_PER_PAGE: Final = 100
ORDERS_PER_PAGE: Final = 50
# The docs allow up to 200 bundles per eSIM listing.
BUNDLES_LIMIT: Final = 200
# Guards against a paging bug looping forever.
MAX_PAGES: Final = 1000
MAX_ORDER_PAGES: Final = 10
# Their clock and ours may differ; orders this much before our send time still count.
CLOCK_SKEW: Final = timedelta(minutes=1)

# [I] Catalogue ``dataAmount`` is MB; decimal MB matches the docs' own example, where
# bundle ``esim_1GB_…`` has an assignment ``initialQuantity`` of 1,000,000,000 bytes.
MB: Final = 1_000_000
DEFAULT_CURRENCY: Final = "USD"  # [I] eSIM Go accounts are billed in USD

STATES: Final[Mapping[str, LineStatus]] = {
    "active": LineStatus.ACTIVE,
    "queued": LineStatus.NOT_ACTIVE,
    "processing": LineStatus.NOT_ACTIVE,
    "depleted": LineStatus.DEPLETED,
    "expired": LineStatus.EXPIRED,
    "lapsed": LineStatus.EXPIRED,
    "revoked": LineStatus.SUSPENDED,
}
WAITING_STATES: Final = frozenset({"queued", "processing"})
USED_UP_STATES: Final = frozenset({"depleted", "expired", "lapsed"})
AUTH_WORDS: Final = ("api key", "apikey", "api-key", "token", "unauthori", "authenticat")
FUNDS_WORDS: Final = ("insufficient", "balance", "funds")
