"""Clients for prepaid line providers, free of Home Assistant.

``PROVIDERS`` lists every provider the integration can set up, with what its config flow
asks for and how to build its client.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from aiohttp import ClientSession

from . import airalo, esimaccess, esimgo, manual, onence
from .base import Provider
from .demo import DEMO_PROVIDER_KEY, DemoProvider, get_demo_backend
from .ratelimit import shared_rate_limiter
from .shared import shared_object
from .urls import check_base_url

# The key under which an optional API base URL is stored with the credentials.
BASE_URL_KEY = "base_url"


@dataclass(frozen=True, slots=True, kw_only=True)
class CredentialField:
    """One secret the config flow asks for."""

    key: str
    required: bool = True


@dataclass(frozen=True, slots=True, kw_only=True)
class ProviderSpec:
    """How to set up one provider."""

    key: str
    name: str
    # Credential fields the flow asks for; each is secret text.
    credential_fields: tuple[CredentialField, ...]
    # None for providers that talk to no server.
    default_base_url: str | None
    # How often its data is worth reading again.
    update_interval: timedelta
    factory: Callable[
        [ClientSession, Mapping[str, str], str | None, Mapping[str, Mapping[str, Any]]], Provider
    ]
    # Lines are described by hand (no API lists them): the flow asks for their details.
    lines_by_hand: bool = False

    def create(
        self,
        session: ClientSession,
        data: Mapping[str, Any],
        lines: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> Provider:
        """Build a client from stored settings.

        ``data`` holds the credentials and base URL; ``lines`` the tracked lines' stored
        definitions, which only providers whose lines are described by hand read.
        Raises ``BaseUrlError`` (before anything is built) for a base URL no client may use.
        """
        credentials = {
            field.key: data[field.key] for field in self.credential_fields if field.key in data
        }
        base_url: str | None = data.get(BASE_URL_KEY) or None
        if base_url is not None and self.default_base_url is not None:
            base_url = check_base_url(base_url)
        return self.factory(session, credentials, base_url, lines or {})


def _build_demo(
    session: ClientSession,
    credentials: Mapping[str, str],
    base_url: str | None,
    lines: Mapping[str, Mapping[str, Any]],
) -> Provider:
    """Build the demo provider; it needs neither a session nor credentials."""
    return DemoProvider(get_demo_backend())


def _build_esimaccess(
    session: ClientSession,
    credentials: Mapping[str, str],
    base_url: str | None,
    lines: Mapping[str, Mapping[str, Any]],
) -> Provider:
    """Build an eSIM Access client; the secret key (HMAC signing) is optional."""
    base_url = esimaccess.normalize_base_url(base_url or esimaccess.DEFAULT_BASE_URL)
    provider = esimaccess.EsimAccessProvider(
        session,
        credentials["access_code"],
        secret_key=credentials.get("secret_key") or None,
        base_url=base_url,
    )
    # The 8 requests/s limit is not said to be per account or per IP [I]: every client of
    # the host shares one limiter, which keeps under either reading.
    provider.rate_limiter = shared_rate_limiter(
        f"esimaccess {base_url}",
        esimaccess.REQUESTS_PER_SECOND,
        period=esimaccess.RATE_WINDOW_SECONDS,
    )
    return provider


def _build_esimgo(
    session: ClientSession,
    credentials: Mapping[str, str],
    base_url: str | None,
    lines: Mapping[str, Mapping[str, Any]],
) -> Provider:
    """Build an eSIM Go client."""
    base_url = esimgo.normalize_base_url(base_url or esimgo.DEFAULT_BASE_URL)
    # The 10 requests/s limit is per IP: every client of the host shares one limiter.
    limiter = shared_rate_limiter(
        f"esimgo {base_url}", esimgo.RATE_LIMIT_PER_SECOND, period=esimgo.RATE_WINDOW_SECONDS
    )
    return esimgo.EsimGoProvider(
        session, credentials["api_key"], base_url=base_url, rate_limiter=limiter
    )


def _build_airalo(
    session: ClientSession,
    credentials: Mapping[str, str],
    base_url: str | None,
    lines: Mapping[str, Mapping[str, Any]],
) -> Provider:
    """Build an Airalo Partner API client (production or sandbox by base URL)."""
    base_url = airalo.normalize_base_url(base_url or airalo.DEFAULT_BASE_URL)
    limiter = shared_rate_limiter(
        f"airalo {base_url}", airalo.REQUESTS_PER_SECOND, period=airalo.RATE_WINDOW_SECONDS
    )
    # Usage Airalo holds for 15 minutes per ICCID must survive a reload of the entry.
    state = shared_object(f"airalo {base_url} {credentials['client_id']}", airalo.AccountState)
    return airalo.AiraloProvider(
        session,
        credentials["client_id"],
        credentials["client_secret"],
        base_url=base_url,
        rate_limiter=limiter,
        account_state=state,
    )


def _build_onence(
    session: ClientSession,
    credentials: Mapping[str, str],
    base_url: str | None,
    lines: Mapping[str, Mapping[str, Any]],
) -> Provider:
    """Build a 1NCE Management API client."""
    base_url = onence.normalize_base_url(base_url or onence.DEFAULT_BASE_URL)
    # 10 requests/s per customer on /sims: every client of the customer shares it.
    limiter = shared_rate_limiter(
        f"onence {base_url} {credentials['client_id']}",
        onence.SIMS_REQUESTS_PER_SECOND,
        period=onence.SIMS_WINDOW_SECONDS,
    )
    return onence.OnenceProvider(
        session,
        credentials["client_id"],
        credentials["client_secret"],
        base_url=base_url,
        rate_limiter=limiter,
    )


def _build_manual(
    session: ClientSession,
    credentials: Mapping[str, str],
    base_url: str | None,
    lines: Mapping[str, Mapping[str, Any]],
) -> Provider:
    """Build the manual tracker from the lines' stored definitions."""
    return manual.ManualProvider(
        manual.ManualBook(
            [manual.ManualLine.from_data(line_id, data) for line_id, data in lines.items()]
        )
    )


PROVIDERS: dict[str, ProviderSpec] = {
    DEMO_PROVIDER_KEY: ProviderSpec(
        key=DEMO_PROVIDER_KEY,
        name="Demo",
        credential_fields=(),
        default_base_url=None,
        update_interval=timedelta(minutes=1),
        factory=_build_demo,
    ),
    "esimaccess": ProviderSpec(
        key="esimaccess",
        name="eSIM Access",
        credential_fields=(
            CredentialField(key="access_code"),
            CredentialField(key="secret_key", required=False),
        ),
        default_base_url=esimaccess.DEFAULT_BASE_URL,
        update_interval=esimaccess.UPDATE_INTERVAL,
        factory=_build_esimaccess,
    ),
    "esimgo": ProviderSpec(
        key="esimgo",
        name="eSIM Go",
        credential_fields=(CredentialField(key="api_key"),),
        default_base_url=esimgo.DEFAULT_BASE_URL,
        update_interval=esimgo.UPDATE_INTERVAL,
        factory=_build_esimgo,
    ),
    "airalo": ProviderSpec(
        key="airalo",
        name="Airalo",
        credential_fields=(CredentialField(key="client_id"), CredentialField(key="client_secret")),
        default_base_url=airalo.DEFAULT_BASE_URL,
        update_interval=airalo.UPDATE_INTERVAL,
        factory=_build_airalo,
    ),
    manual.MANUAL_PROVIDER_KEY: ProviderSpec(
        key=manual.MANUAL_PROVIDER_KEY,
        name="Manual tracker",
        credential_fields=(),
        default_base_url=None,
        # Nothing changes by itself but the countdown; a refresh costs no request.
        update_interval=timedelta(minutes=10),
        factory=_build_manual,
        lines_by_hand=True,
    ),
    "onence": ProviderSpec(
        key="onence",
        name="1NCE",
        credential_fields=(CredentialField(key="client_id"), CredentialField(key="client_secret")),
        default_base_url=onence.DEFAULT_BASE_URL,
        update_interval=onence.UPDATE_INTERVAL,
        factory=_build_onence,
    ),
}
