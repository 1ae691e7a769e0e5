"""The reference signer: the published recipe (docs/partner-api.md §1, §2.5) in plain Python.

It uses only `hmac`, `hashlib` and `base64`, never `partner_api`, so a test that compares the
client's signature with this one, or signs a request for the sandbox by hand, checks both
against the published text rather than against our own reading of it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac


def string_to_sign(method: str, path: str, timestamp: str, nonce: str, body: bytes) -> bytes:
    """`METHOD\\nPATH\\nTIMESTAMP\\nNONCE\\n` (UTF-8) followed by the raw body."""
    return "\n".join((method, path, timestamp, nonce)).encode() + b"\n" + body


def sign_message(secret: str, message: bytes) -> str:
    """Base64 of HMAC-SHA256 over `message`, keyed with the UTF-8 `secret`."""
    return base64.b64encode(hmac.new(secret.encode(), message, hashlib.sha256).digest()).decode()


def sign_request(
    secret: str, method: str, path: str, timestamp: str, nonce: str, body: bytes
) -> str:
    """The `Authorization` signature of one request (without the `HMAC-SHA256 ` prefix)."""
    return sign_message(secret, string_to_sign(method, path, timestamp, nonce, body))
