"""1NCE Management API: read the data quota of 1NCE IoT SIMs and order volume top-ups.

``const`` holds the host, documented limits and top-up terms, ``parse`` turns answers into
the normalized models, ``reconcile`` recognises a top-up whose answer was lost and
``client`` makes the requests.
"""

from .client import OnenceProvider, normalize_base_url
from .const import (
    API_PATH,
    DEFAULT_BASE_URL,
    MB,
    ONENCE_PROVIDER_KEY,
    SIMS_REQUESTS_PER_SECOND,
    SIMS_WINDOW_SECONDS,
    TOPUP_PACKAGE_ID,
    UPDATE_INTERVAL,
)
from .parse import parse_time

__all__ = [
    "API_PATH",
    "DEFAULT_BASE_URL",
    "MB",
    "ONENCE_PROVIDER_KEY",
    "SIMS_REQUESTS_PER_SECOND",
    "SIMS_WINDOW_SECONDS",
    "TOPUP_PACKAGE_ID",
    "UPDATE_INTERVAL",
    "OnenceProvider",
    "normalize_base_url",
    "parse_time",
]
