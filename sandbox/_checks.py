"""The partner chain's checks, in the contract's order (docs/partner-api.md §2.5).

headers present and key known (`4030`) → signature (`4030`) → timestamp (`4031`) → nonce
(`4032`) → `/web/v1` path (`4034`) → the endpoint exists (`4040`) → scope (`4033`) → session
token (`4010`); the endpoint's own checks come after. The first failure is the answer, raised
as `Reject`. A nonce counts as used once signature and timestamp have passed, whatever
follows. The rate limit (`4290`) is spent per known key, before the signature is checked.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

from sandbox._responses import Reject
from sandbox._state import NonceMemoryFull, SandboxState

_HMAC_PREFIX = "HMAC-SHA256 "
_SIGNED_HEADERS = ("Authorization", "X-Api-Key", "X-Timestamp", "X-Nonce")
# Longer "timestamps" are refused unparsed: a 4,000-digit number would overflow the compare.
_MAX_TIMESTAMP_CHARS = 20
WEB_PREFIX = "/web/v1"


class Guarded(Protocol):
    """What the checks need to know of an endpoint: its scope, and whether it needs a token."""

    @property
    def scope_required(self) -> str:
        """The API-key scope the endpoint needs."""
        ...

    @property
    def needs_token(self) -> bool:
        """`True` if the endpoint needs `X-Session-Token`."""
        ...


R = TypeVar("R", bound=Guarded)


@dataclass(frozen=True)
class Verified(Generic[R]):
    """A request that passed every check: its endpoint, API key, the key's scopes, its token."""

    endpoint: R
    api_key: str
    scopes: tuple[str, ...]
    token: str | None


def verify(
    state: SandboxState,
    *,
    method: str,
    sub_path: str,
    signed_path: bytes,
    headers: Mapping[str, str],
    body: bytes,
    find_endpoint: Callable[[], R | None],
) -> Verified[R]:
    """Run the checks on one partner request; raise `Reject` at the first failure.

    `sub_path` is the path after the context path (routing), `signed_path` the raw path and
    query as the client signed them, `headers` the request's headers by lower-case name;
    `find_endpoint` resolves the endpoint when its turn comes.
    """
    api_key, secret, scopes = _check_headers_and_key(state, headers)
    timestamp, nonce = headers["x-timestamp"], headers["x-nonce"]
    _check_signature(secret, method, signed_path, timestamp, nonce, body, headers)
    _check_timestamp(state, timestamp)
    _use_nonce(state, api_key, nonce)
    if sub_path == WEB_PREFIX or sub_path.startswith(WEB_PREFIX + "/"):
        raise Reject("4034", "/web/v1 paths belong to the portal, not the partner chain")
    endpoint = find_endpoint()
    if endpoint is None:
        raise Reject("4040", "unknown endpoint")
    if endpoint.scope_required not in scopes:
        raise Reject("4033", f"API key lacks scope {endpoint.scope_required}")
    token = _check_token(state, headers) if endpoint.needs_token else None
    return Verified(endpoint, api_key, scopes, token)


def _check_headers_and_key(
    state: SandboxState, headers: Mapping[str, str]
) -> tuple[str, str, tuple[str, ...]]:
    for name in _SIGNED_HEADERS:
        if not headers.get(name.lower()):
            raise Reject("4030", f"missing header {name}")
    if not headers["authorization"].startswith(_HMAC_PREFIX):
        raise Reject("4030", "Authorization must be 'HMAC-SHA256 <signature>'")
    api_key = headers["x-api-key"]
    known = state.config.api_keys().get(api_key)
    if known is None:
        raise Reject("4030", "unknown API key")
    retry_after = state.take_rate_token(api_key)
    if retry_after is not None:
        raise Reject("4290", "rate limit exceeded", {"retry-after": str(retry_after)})
    secret, scopes = known
    return api_key, secret, scopes


def signature_of(
    secret: str, method: str, signed_path: bytes, timestamp: str, nonce: str, body: bytes
) -> bytes:
    """Base64 HMAC-SHA256 over `METHOD\\nPATH\\nTIMESTAMP\\nNONCE\\nBODY` (docs/partner-api.md §1)."""
    # Header values arrive as latin-1 text: encoding back gives the bytes that were signed.
    to_sign = b"\n".join(
        (method.encode(), signed_path, timestamp.encode("latin-1"), nonce.encode("latin-1"), body)
    )
    # The key is the secret's UTF-8 bytes (docs/partner-api.md §1), whatever letters it holds.
    key = secret.encode("utf-8")
    return base64.b64encode(hmac.new(key, to_sign, hashlib.sha256).digest())


def _check_signature(
    secret: str,
    method: str,
    signed_path: bytes,
    timestamp: str,
    nonce: str,
    body: bytes,
    headers: Mapping[str, str],
) -> None:
    expected = signature_of(secret, method, signed_path, timestamp, nonce, body)
    given = headers["authorization"][len(_HMAC_PREFIX) :].strip().encode("latin-1")
    # Constant time: a forger learns nothing from how long the comparison took.
    if not hmac.compare_digest(expected, given):
        raise Reject("4030", "signature mismatch")


def _check_timestamp(state: SandboxState, raw: str) -> None:
    try:
        timestamp = int(raw) if len(raw) <= _MAX_TIMESTAMP_CHARS else None
    except ValueError:
        timestamp = None
    if timestamp is None:
        raise Reject("4031", "X-Timestamp is not Unix epoch seconds")
    window = state.config.window
    if abs(state.now() - timestamp) > window:
        raise Reject("4031", f"timestamp outside the {window:g} s window")


def _use_nonce(state: SandboxState, api_key: str, nonce: str) -> None:
    try:
        fresh = state.use_nonce(api_key, nonce)
    except NonceMemoryFull:
        raise Reject("5030", "replay protection is at capacity; try again shortly") from None
    if not fresh:
        raise Reject("4032", "nonce already used")


def _check_token(state: SandboxState, headers: Mapping[str, str]) -> str:
    token = headers.get("x-session-token", "").strip()
    if not token:
        raise Reject("4010", "session token missing")
    if state.check_token(token) is None:
        raise Reject("4010", "session token unknown or expired")
    return token
