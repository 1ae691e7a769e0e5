"""The base URL's checks (HTTPS, or plain HTTP only to this machine or when allowed) and the
TLS trust the connection uses."""

from __future__ import annotations

import ipaddress
import ssl
from pathlib import Path

import httpx

from ._constants import LOOPBACK_HOSTS
from ._errors import ConfigurationError


def is_loopback(host: str) -> bool:
    """Whether `host` names this machine (a loopback name or address)."""
    if host.lower() in LOOPBACK_HOSTS:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_base_url(base_url: str, *, allow_insecure_http: bool) -> httpx.URL:
    """Validate the base URL: HTTPS, or plain HTTP only to loopback or when explicitly allowed."""
    try:
        url = httpx.URL(base_url)
    except httpx.InvalidURL as exc:
        raise ConfigurationError(
            f"PARTNER_BASE_URL {base_url!r} is not a valid URL: {exc}"
        ) from exc
    if url.scheme not in ("http", "https") or not url.host:
        raise ConfigurationError(
            f"PARTNER_BASE_URL {base_url!r} must be an http(s) URL such as "
            "https://partner.example/prometheus"
        )
    if url.scheme == "http" and not allow_insecure_http and not is_loopback(url.host):
        raise ConfigurationError(
            f"PARTNER_BASE_URL uses plain HTTP to {url.host}: signed requests and the session "
            "token would travel unencrypted; use https, or set PARTNER_ALLOW_INSECURE_HTTP=true"
        )
    return url


def tls_context(ca_bundle: str | Path | None) -> ssl.SSLContext | bool:
    """What httpx verifies the partner's certificate with: the system's CAs, or `ca_bundle`'s.

    `ca_bundle` is a PEM file of CA certificates (a private CA, or a self-signed server
    certificate itself). A file that cannot be read is a `ConfigurationError` naming
    `PARTNER_CA_BUNDLE`, never the file's content.
    """
    if not ca_bundle:
        return True
    try:
        return ssl.create_default_context(cafile=str(ca_bundle))
    except (OSError, ssl.SSLError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else type(exc).__name__
        raise ConfigurationError(
            f"PARTNER_CA_BUNDLE {str(ca_bundle)!r} is not a readable PEM file of CA "
            f"certificates ({reason})"
        ) from None
