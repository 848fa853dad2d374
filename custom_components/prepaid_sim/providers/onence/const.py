"""1NCE: hosts, documented rate limits, page sizes, top-up terms and order states."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Final

ONENCE_PROVIDER_KEY: Final = "onence"
API_PATH: Final = "/management-api"
DEFAULT_BASE_URL: Final = "https://api.1nce.com" + API_PATH
# IoT SIMs use little data and 1NCE states no usage freshness; every refresh costs
# ceil(T / 100) + N requests of the customer's shared 10/s /sims budget. Half an hour is
# plenty to warn of a quota running out.
UPDATE_INTERVAL: Final = timedelta(minutes=30)

# Documented, "fixed and cannot be adjusted": /sims 10 per second per customer, /orders
# 100 per IP per 5 minutes (/oauth allows 600 per minute: far above what a cached token needs).
SIMS_REQUESTS_PER_SECOND: Final = 10
ORDERS_REQUESTS_PER_WINDOW: Final = 100
ORDERS_WINDOW_SECONDS: Final = 300.0
# Our window is a little longer than theirs so network jitter never puts 11 in one second.
SIMS_WINDOW_SECONDS: Final = 1.1
DEFAULT_REQUEST_TIMEOUT: Final = 30.0
# Tokens live 3600 s [R]; renew this long before the end.
TOKEN_REFRESH_MARGIN: Final = timedelta(minutes=5)
DEFAULT_TOKEN_LIFETIME: Final = timedelta(hours=1)

SIMS_PAGE_SIZE: Final = 100  # the documented maximum
ORDERS_PAGE_SIZE: Final = 10  # the documented maximum
MAX_PAGES: Final = 1000  # guards against a paging bug looping forever
MAX_ORDER_PAGES: Final = 5
# Tracked SIMs absent from the listing that are asked for one by one before being "missing".
MAX_MISSING_CHECKS: Final = 5
# How far the provider's clock may differ from ours when matching order_date to sent_at [I].
CLOCK_SKEW: Final = timedelta(minutes=5)

# "1 megabyte = 1024 kilobytes" [R].
MB: Final = 1024 * 1024
# [I] Assumed terms of the product's top-up (500 MB for 10.00 EUR): the API does not expose
# them; pass the customer's real volume and price to the constructor.
DEFAULT_TOPUP_VOLUME_MB: Final = 500
DEFAULT_TOPUP_PRICE: Final = Decimal("10.00")
DEFAULT_CURRENCY: Final = "EUR"
TOPUP_PACKAGE_ID: Final = "1nce-topup"
# Documented payment methods; anything else (or none) means bank transfer at 1NCE.
PAYMENT_METHODS: Final = frozenset({"banktransfer", "creditcard", "monthlyinvoice", "boleto"})

TOPUP_ORDER_TYPES: Final = frozenset({"TOPUP", "BULK_TOPUP"})
COMPLETED_ORDER_STATES: Final = frozenset({"COMPLETED", "DONE", "FINISHED", "SHIPPED"})
FAILED_ORDER_STATES: Final = frozenset({"FAILED", "CANCELLED", "CANCELED", "REJECTED"})
# [I] Only Enabled/Disabled are documented; the other words are read by meaning.
SUSPENDED_WORDS: Final = frozenset({"disabled", "deactivated", "suspended", "blocked"})
ACTIVE_WORDS: Final = frozenset({"enabled", "active", "activated"})
# [I] How a 403 about the SIM (not the caller) reads: "SIM does not belong to user" [R].
NOT_OURS_WORDS: Final = ("belong", "not found", "does not exist")
# Token 400s that are about our request, not the credentials [R error codes].
REQUEST_ERRORS: Final = frozenset({"BodyValidationError", "UnsupportedContentTypeError"})
