"""The base URL's checks: HTTPS, or plain HTTP only to this machine or when allowed."""

from __future__ import annotations

import ipaddress

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
