"""HMAC-SHA256 request signing, exactly as the partner publishes it (docs/partner-api.md §1, §2.5)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
import uuid
from collections.abc import Callable, Generator

import httpx


def string_to_sign(method: str, path: str, timestamp: str, nonce: str, body: bytes) -> bytes:
    """Build the published string to sign: `METHOD\\nPATH\\nTIMESTAMP\\nNONCE\\nBODY`, as bytes.

    `body` is the exact bytes sent, so a non-ASCII body is signed as the server receives it.
    """
    head = f"{method.upper()}\n{path}\n{timestamp}\n{nonce}\n".encode()
    return head + body


def compute_signature(secret: str, message: bytes) -> str:
    """Return standard Base64 (with padding) of HMAC-SHA256 keyed with `secret` (UTF-8)."""
    digest = hmac.new(secret.encode("utf-8"), message, hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def signing_path(url: httpx.URL, context_path: str, *, sign_query: bool = True) -> str:
    """The PATH the contract signs: the path after the context path, with `?query` as sent."""
    raw = url.raw_path.decode("ascii")
    path, _, query = raw.partition("?")
    if context_path and (path == context_path or path.startswith(context_path + "/")):
        path = path[len(context_path) :] or "/"
    if sign_query and query:
        return f"{path}?{query}"
    return path


class HmacAuth(httpx.Auth):
    """Sign every request with the partner's four headers, afresh on every send.

    httpx calls `auth_flow` once per send, so a retried request gets a new timestamp and a
    new nonce. `clock` returns the time to sign with (the server-corrected clock); `nonce`
    returns a fresh unique id. Both are injectable so signatures can be tested exactly.
    """

    requires_request_body = True

    def __init__(
        self,
        api_key: str,
        api_secret: str,
        *,
        context_path: str = "/prometheus",
        sign_query: bool = True,
        clock: Callable[[], float] = time.time,
        nonce: Callable[[], str] = lambda: str(uuid.uuid4()),
    ) -> None:
        self.api_key = api_key
        self._api_secret = api_secret
        self.context_path = context_path.rstrip("/")
        self.sign_query = sign_query
        self._clock = clock
        self._nonce = nonce

    def __repr__(self) -> str:
        return f"HmacAuth(api_key={self.api_key!r}, api_secret='**********')"

    def sign(self, request: httpx.Request) -> httpx.Request:
        """Set the four signed headers on `request` and return it."""
        timestamp = str(int(self._clock()))
        nonce = self._nonce()
        path = signing_path(request.url, self.context_path, sign_query=self.sign_query)
        message = string_to_sign(request.method, path, timestamp, nonce, request.content)
        signature = compute_signature(self._api_secret, message)
        request.headers["Authorization"] = f"HMAC-SHA256 {signature}"
        request.headers["X-Api-Key"] = self.api_key
        request.headers["X-Timestamp"] = timestamp
        request.headers["X-Nonce"] = nonce
        return request

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        """Sign and send once; no I/O here, so sync and async clients share it."""
        yield self.sign(request)
