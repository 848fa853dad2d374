"""Clients for prepaid line providers, free of Home Assistant.

``PROVIDERS`` lists every provider the integration can set up, with what its config flow
asks for and how to build its client.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta

from aiohttp import ClientSession

from .base import Provider
from .demo import DEMO_PROVIDER_KEY, DemoProvider, get_demo_backend


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
    factory: Callable[[ClientSession, Mapping[str, str], str | None], Provider]


def _build_demo(
    session: ClientSession, credentials: Mapping[str, str], base_url: str | None
) -> Provider:
    """Build the demo provider; it needs neither a session nor credentials."""
    return DemoProvider(get_demo_backend())


PROVIDERS: dict[str, ProviderSpec] = {
    DEMO_PROVIDER_KEY: ProviderSpec(
        key=DEMO_PROVIDER_KEY,
        name="Demo",
        credential_fields=(),
        default_base_url=None,
        update_interval=timedelta(minutes=1),
        factory=_build_demo,
    ),
}
