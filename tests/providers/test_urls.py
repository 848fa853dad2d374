"""API base URLs: only HTTPS (or HTTP on a local network), never with credentials in them."""

from __future__ import annotations

import aiohttp
import pytest

from custom_components.prepaid_sim.providers import BASE_URL_KEY, PROVIDERS
from custom_components.prepaid_sim.providers.airalo import AiraloProvider
from custom_components.prepaid_sim.providers.base import ProviderError
from custom_components.prepaid_sim.providers.esimaccess import EsimAccessProvider
from custom_components.prepaid_sim.providers.esimgo import EsimGoProvider
from custom_components.prepaid_sim.providers.onence import OnenceProvider
from custom_components.prepaid_sim.providers.urls import BaseUrlError, check_base_url, with_api_path

# Every provider that talks to a server, with credentials its builder needs.
HTTP_PROVIDERS = {
    "esimaccess": {"access_code": "code"},
    "esimgo": {"api_key": "key"},
    "airalo": {"client_id": "id", "client_secret": "secret"},
    "onence": {"client_id": "id", "client_secret": "secret"},
}


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://api.esimaccess.com", "https://api.esimaccess.com"),
        ("https://api.esimaccess.com/", "https://api.esimaccess.com"),
        ("  HTTPS://API.Esim-Go.com/v2.4/  ", "https://api.esim-go.com/v2.4"),
        ("https://api.1nce.com:443/management-api", "https://api.1nce.com:443/management-api"),
        ("http://127.0.0.1:8765", "http://127.0.0.1:8765"),
        ("http://localhost:8080/v2", "http://localhost:8080/v2"),
        ("http://emulator.localhost", "http://emulator.localhost"),
        ("http://192.168.1.20/api", "http://192.168.1.20/api"),
        ("http://10.0.0.2", "http://10.0.0.2"),
        ("http://[::1]:8000/v2", "http://[::1]:8000/v2"),
        ("http://[fd00::5]", "http://[fd00::5]"),
    ],
)
def test_accepted_urls_are_normalized(url: str, expected: str) -> None:
    """HTTPS anywhere, HTTP to local addresses; scheme and host lower case, no trailing /."""
    assert check_base_url(url) == expected


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("", "malformed"),
        ("api.esimaccess.com", "malformed"),
        ("localhost:8080", "malformed"),
        ("https://", "malformed"),
        ("https:///v2", "malformed"),
        ("https://exa mple.com", "malformed"),
        ("https://example.com:99999", "malformed"),
        ("https://example.com:port", "malformed"),
        ("https://example.com/v2?api_key=1", "malformed"),
        ("https://example.com/#top", "malformed"),
        ("ftp://example.com", "scheme"),
        ("file:///etc/passwd", "scheme"),
        ("ws://127.0.0.1:8000", "scheme"),
        ("https://user:pass@api.esimaccess.com", "userinfo"),
        ("https://user@api.esimaccess.com", "userinfo"),
        ("http://user:pass@127.0.0.1:8000", "userinfo"),
        ("http://api.esimaccess.com", "insecure"),
        ("http://8.8.8.8/v2", "insecure"),
        ("http://homeassistant.local:8123", "insecure"),
        ("http://[2606:4700:4700::1111]", "insecure"),
    ],
)
def test_refused_urls_say_why(url: str, reason: str) -> None:
    """Each refusal carries its reason, for the config flow to show on the field."""
    with pytest.raises(BaseUrlError) as caught:
        check_base_url(url)
    assert caught.value.reason == reason
    assert isinstance(caught.value, ProviderError)
    # The message never repeats a password it was given.
    assert "pass@" not in str(caught.value)


def test_api_path_is_added_to_a_bare_host_only() -> None:
    """Both forms users copy reach the API; another path (a version, a proxy) is kept."""
    assert with_api_path("https://partners-api.airalo.com", "/v2") == (
        "https://partners-api.airalo.com/v2"
    )
    assert with_api_path("https://partners-api.airalo.com/v2/", "/v2") == (
        "https://partners-api.airalo.com/v2"
    )
    assert with_api_path("https://api.esim-go.com/v2.5", "/v2.4") == "https://api.esim-go.com/v2.5"
    with pytest.raises(BaseUrlError):
        with_api_path("http://partners-api.airalo.com", "/v2")


async def test_no_client_is_built_with_a_bad_url() -> None:
    """Every client's constructor refuses a bad URL, whoever builds it."""
    bad = "http://api.example.com"
    async with aiohttp.ClientSession() as session:
        with pytest.raises(BaseUrlError):
            EsimAccessProvider(session, "code", base_url=bad)
        with pytest.raises(BaseUrlError):
            EsimGoProvider(session, "key", base_url=bad)
        with pytest.raises(BaseUrlError):
            AiraloProvider(session, "id", "secret", base_url=bad)
        with pytest.raises(BaseUrlError):
            OnenceProvider(session, "id", "secret", base_url=bad)


@pytest.mark.parametrize("key", sorted(HTTP_PROVIDERS))
@pytest.mark.parametrize(
    ("url", "reason"),
    [("http://api.example.com", "insecure"), ("https://u:p@api.example.com", "userinfo")],
)
async def test_spec_create_refuses_a_bad_url(key: str, url: str, reason: str) -> None:
    """Stored settings with a bad URL never become a client."""
    async with aiohttp.ClientSession() as session:
        with pytest.raises(BaseUrlError) as caught:
            PROVIDERS[key].create(session, {**HTTP_PROVIDERS[key], BASE_URL_KEY: url})
    assert caught.value.reason == reason


@pytest.mark.parametrize("key", sorted(HTTP_PROVIDERS))
async def test_spec_create_takes_the_default_and_a_good_url(key: str) -> None:
    """No URL means the provider's own; a good one is accepted."""
    async with aiohttp.ClientSession() as session:
        spec = PROVIDERS[key]
        assert spec.create(session, HTTP_PROVIDERS[key]) is not None
        good = {**HTTP_PROVIDERS[key], BASE_URL_KEY: "https://api.example.com/"}
        assert spec.create(session, good) is not None


async def test_providers_without_a_server_ignore_the_url() -> None:
    """The demo and the manual tracker talk to no server: a base URL means nothing there."""
    async with aiohttp.ClientSession() as session:
        for key in ("demo", "manual"):
            assert PROVIDERS[key].create(session, {BASE_URL_KEY: "ftp://x"}) is not None
