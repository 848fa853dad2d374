"""eSIM Access: endpoints, limits and the documented codes and states."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from decimal import Decimal
import re
from typing import Final

DEFAULT_BASE_URL: Final = "https://api.esimaccess.com"
API_PATH: Final = "/api/v1/open/"
# Usage is refreshed by the provider every 2-3 hours; reading more often only spends requests.
UPDATE_INTERVAL: Final = timedelta(minutes=30)
# "8 API request per second are allowed" (docs, v1.5).
REQUESTS_PER_SECOND: Final = 8
RATE_WINDOW_SECONDS: Final = 1.05
PAGE_SIZE: Final = 500  # the largest page the API accepts
MAX_PAGES: Final = 10_000  # pageNum is documented as 1-10000
# Tracked eSIMs absent from the list that are asked for one by one before being "missing".
MAX_MISSING_CHECKS: Final = 5
MONEY_SCALE: Final = Decimal(10_000)  # 10000 = 1.00
DEFAULT_CURRENCY: Final = "USD"
MAX_REFERENCE_LENGTH: Final = 50  # transactionId: "Max 50 chars"
# How far the provider's clock may differ from ours when matching createTime to sent_at [I].
CLOCK_SKEW: Final = timedelta(minutes=5)

AUTH_CODES: Final = frozenset({"101001", "101002", "101003"})
HEADER_CODES: Final = frozenset(f"0001{n:02d}" for n in range(1, 8))
# The docs only say 000101-000107 are "header/param validation"; which ones concern the
# credentials is not stated [I], so the message decides.
AUTH_WORDS: Final = re.compile(
    r"access|signature|timestamp|request.?id|secret|auth|rt-", re.IGNORECASE
)
INSUFFICIENT_FUNDS: Final = "200007"
REJECTION_CODES: Final = frozenset(
    {"200002", "200005", "200006", "200008", "200009", "200010", "200011", "310241", "310243"}
)

SUSPENDED_STATES: Final = frozenset({"CANCEL", "REVOKED", "SUSPENDED"})
EXPIRED_STATES: Final = frozenset({"USED_EXPIRED", "UNUSED_EXPIRED"})
DAILY_DATA_TYPE: Final = 2

# durationUnit words seen or expected; MONTH/YEAR lengths are our assumption [I].
DURATION_UNITS: Final[Mapping[str, timedelta]] = {
    "HOUR": timedelta(hours=1),
    "DAY": timedelta(days=1),
    "WEEK": timedelta(weeks=1),
    "MONTH": timedelta(days=30),
    "YEAR": timedelta(days=365),
}

# The record field that moves whenever data flows.
USAGE_KEY: Final = "orderUsage"

# How long a refresh's read of every page also answers "which eSIMs are on the account"
# (the new-lines check right after setup).
LISTING_REUSE_SECONDS: Final = 60.0
