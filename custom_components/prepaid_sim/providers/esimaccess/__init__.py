"""eSIM Access (esimaccess.com): a prepaid wallet that buys data top-ups for eSIMs.

``const`` holds the endpoints, limits and documented codes, ``parse`` turns answers into
the normalized models, ``reconcile`` finds a top-up whose answer was lost and ``client``
makes the requests.
"""

from .client import EsimAccessProvider, normalize_base_url
from .const import (
    API_PATH,
    DEFAULT_BASE_URL,
    PAGE_SIZE,
    RATE_WINDOW_SECONDS,
    REQUESTS_PER_SECOND,
    UPDATE_INTERVAL,
)
from .parse import parse_time

__all__ = [
    "API_PATH",
    "DEFAULT_BASE_URL",
    "PAGE_SIZE",
    "RATE_WINDOW_SECONDS",
    "REQUESTS_PER_SECOND",
    "UPDATE_INTERVAL",
    "EsimAccessProvider",
    "normalize_base_url",
    "parse_time",
]
