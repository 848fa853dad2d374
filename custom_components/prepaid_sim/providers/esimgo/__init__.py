"""eSIM Go (API v2.4): read eSIM bundles and top an eSIM up with a new bundle.

``const`` holds the pinned version, limits and documented states, ``parse`` turns answers
into the normalized models, ``reconcile`` recognises an order whose answer was lost and
``client`` makes the requests.
"""

from .client import EsimGoProvider, normalize_base_url
from .const import (
    API_PATH,
    DEFAULT_BASE_URL,
    ESIMGO_PROVIDER_KEY,
    MB,
    RATE_LIMIT_PER_SECOND,
    RATE_WINDOW_SECONDS,
    UPDATE_INTERVAL,
)

__all__ = [
    "API_PATH",
    "DEFAULT_BASE_URL",
    "ESIMGO_PROVIDER_KEY",
    "MB",
    "RATE_LIMIT_PER_SECOND",
    "RATE_WINDOW_SECONDS",
    "UPDATE_INTERVAL",
    "EsimGoProvider",
    "normalize_base_url",
]
