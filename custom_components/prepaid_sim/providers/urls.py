"""API base URLs a user may type: checked once, before any client is built with one.

The credentials go wherever the base URL points, so it must be HTTPS. Plain HTTP is only
accepted where no one else is on the wire: loopback and private addresses (sandboxes, the
test emulators, a local proxy). A URL with ``user:pass@`` would send those in every request.
"""

from __future__ import annotations

import ipaddress
from typing import Final, Literal
from urllib.parse import urlsplit

from .base import ProviderError

type BaseUrlProblem = Literal["malformed", "scheme", "userinfo", "insecure"]

_LOCAL_HOSTNAMES: Final = frozenset({"localhost"})


class BaseUrlError(ProviderError):
    """An API base URL that no client may use; ``reason`` says why."""

    def __init__(self, reason: BaseUrlProblem, message: str) -> None:
        """Keep the reason, one of ``malformed``, ``scheme``, ``userinfo``, ``insecure``."""
        super().__init__(message)
        self.reason: BaseUrlProblem = reason


def _is_local(host: str) -> bool:
    """Return True for localhost, a loopback or a private address (a LAN, not the internet)."""
    if host in _LOCAL_HOSTNAMES or host.endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return address.is_loopback or address.is_private


def check_base_url(url: str) -> str:
    """Return ``url`` normalized (scheme and host lower case, no trailing slash).

    Raises ``BaseUrlError`` for a URL that is not absolute HTTP(S) with a host, that carries
    a user or password, a query or a fragment, or that is plain HTTP to a public host.
    """
    text = url.strip()
    try:
        parts = urlsplit(text)
        # Reading the port checks it (a word or a number out of range raises).
        port = parts.port
    except ValueError as err:
        raise BaseUrlError("malformed", f"not a URL: {err}") from err
    scheme = parts.scheme.lower()
    if scheme not in {"http", "https"}:
        # "host:8080" parses with "host" as its scheme: only "x://" names a scheme.
        if scheme and text.lower().startswith(f"{scheme}://"):
            raise BaseUrlError("scheme", f"{scheme}:// is not an API address; use https://")
        raise BaseUrlError("malformed", "the URL must start with https:// and a host")
    if "@" in parts.netloc:
        raise BaseUrlError("userinfo", "the URL must not carry a user name or password")
    host = parts.hostname
    if not host or any(char.isspace() for char in text):
        raise BaseUrlError("malformed", "the URL has no host")
    if parts.query or parts.fragment or text.endswith(("?", "#")):
        raise BaseUrlError("malformed", "the URL must not have a query or a fragment")
    if scheme == "http" and not _is_local(host):
        raise BaseUrlError("insecure", "plain http:// is only for local addresses; use https://")
    # IPv6 hosts keep their brackets; the port as given.
    netloc = f"[{host}]" if ":" in host else host
    if port is not None:
        netloc += f":{port}"
    return f"{scheme}://{netloc}{parts.path.rstrip('/')}"


def with_api_path(url: str, api_path: str) -> str:
    """Check ``url`` and add the provider's documented API path when only the host is given.

    Users copy either the bare host or the host with the path from the docs; both reach
    the API. Any other path is kept as it is (another API version, a proxy's prefix).
    """
    checked = check_base_url(url)
    if urlsplit(checked).path:
        return checked
    return checked + api_path
