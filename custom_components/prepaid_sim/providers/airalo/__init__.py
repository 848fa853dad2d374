"""Airalo Partner API (v2): read eSIM usage and buy top-up packages from the Airalo wallet.

``const`` holds the hosts, limits and documented codes, ``parse`` turns answers into the
normalized models, ``reconcile`` recognises a top-up whose answer was lost and ``client``
makes the requests, with the usage read budget and the shared OAuth token.
"""

from .client import AccountState, AiraloProvider, normalize_base_url
from .const import (
    AIRALO_PROVIDER_KEY,
    API_PATH,
    DEFAULT_BASE_URL,
    MB,
    PRODUCTION_BASE_URL,
    RATE_WINDOW_SECONDS,
    REQUESTS_PER_SECOND,
    SANDBOX_BASE_URL,
    UPDATE_INTERVAL,
    USAGE_READ_INTERVAL,
)
from .parse import parse_time

__all__ = [
    "AIRALO_PROVIDER_KEY",
    "API_PATH",
    "DEFAULT_BASE_URL",
    "MB",
    "PRODUCTION_BASE_URL",
    "RATE_WINDOW_SECONDS",
    "REQUESTS_PER_SECOND",
    "SANDBOX_BASE_URL",
    "UPDATE_INTERVAL",
    "USAGE_READ_INTERVAL",
    "AccountState",
    "AiraloProvider",
    "normalize_base_url",
    "parse_time",
]
