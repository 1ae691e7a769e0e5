"""A hand-signed caller of the partner API, the sandbox's control surface, envelope checks.

The caller signs with the reference signer (`tests.support.signing`), not with `partner_api`'s
client, so the sandbox is tested against the contract's text, not against our own client's
reading of it; each part of a request can be broken on purpose.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import httpx
import pyotp

from sandbox import (
    DEMO_EMAIL,
    DEMO_PASSWORD,
    DEMO_TOTP_SECRET,
    MFA_EMAIL,
    MFA_TOTP,
    SandboxHandle,
)
from tests.support.signing import sign_request


class Caller:
    """Sends signed partner requests to one sandbox, with knobs to break each part."""

    def __init__(self, sandbox: SandboxHandle, api_key: str, api_secret: str) -> None:
        self.sandbox = sandbox
        self.api_key = api_key
        self.api_secret = api_secret
        self.http = httpx.Client(base_url=sandbox.base_url, timeout=10.0)
        self.token: str | None = None

    def close(self) -> None:
        """Close the HTTP connection pool."""
        self.http.close()

    def server_time(self) -> int:
        """The sandbox clock, as a client would estimate it (here: read directly)."""
        return int(self.sandbox.state.now())

    def request(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        content: bytes | None = None,
        token: str | None = None,
        nonce: str | None = None,
        timestamp: str | None = None,
        secret: str | None = None,
        signed_path: str | None = None,
        signature: str | None = None,
        omit: tuple[str, ...] = (),
        headers: dict[str, str] | None = None,
        api_key: str | None = None,
    ) -> httpx.Response:
        """Sign and send one request; every part of the signature can be overridden."""
        if content is None:
            content = b"" if body is None else json.dumps(body).encode()
        nonce = nonce or str(uuid.uuid4())
        timestamp = timestamp or str(self.server_time())
        sig = signature or sign_request(
            secret or self.api_secret, method, signed_path or path, timestamp, nonce, content
        )
        sent = {
            "Authorization": f"HMAC-SHA256 {sig}",
            "X-Api-Key": api_key or self.api_key,
            "X-Timestamp": timestamp,
            "X-Nonce": nonce,
            "Content-Type": "application/json",
        }
        for name in omit:
            del sent[name]
        if token or self.token:
            sent["X-Session-Token"] = token or self.token or ""
        sent.update(headers or {})
        return self.http.request(method, path, content=content, headers=sent)

    def initiate(self) -> str:
        """Start a login; return the login session id."""
        answer = self.request(
            "POST",
            "/api/v1/partner/auth/login/initiate",
            body={"email": DEMO_EMAIL, "password": DEMO_PASSWORD},
        )
        assert answer.status_code == 200, answer.text
        return str(answer.json()["data"]["sessionId"])

    def send_otp(self, session_id: str, method: int = MFA_EMAIL) -> httpx.Response:
        """Ask the sandbox to send (EMAIL) or not (TOTP) a one-time password."""
        return self.request(
            "POST",
            "/api/v1/partner/auth/login/mfa/send",
            body={"sessionId": session_id, "mfaMethod": method},
        )

    def verify(self, session_id: str, otp: str, method: int = MFA_EMAIL) -> httpx.Response:
        """Submit a one-time password."""
        return self.request(
            "POST",
            "/api/v1/partner/auth/login/mfa/verify",
            body={"sessionId": session_id, "mfaMethod": method, "otp": otp},
        )

    def login(self, method: int = MFA_EMAIL) -> str:
        """Log in fully; keep and return the access token."""
        session_id = self.initiate()
        assert self.send_otp(session_id, method).status_code == 200
        if method == MFA_TOTP:
            otp = pyotp.TOTP(DEMO_TOTP_SECRET).at(self.server_time())
        else:
            otp = self.sandbox.state.latest_otp(session_id) or ""
        answer = self.verify(session_id, otp, method)
        assert answer.status_code == 200, answer.text
        self.token = str(answer.json()["data"]["accessToken"])
        return self.token

    def dataset(self, name: str, query: str = "", **kwargs: Any) -> httpx.Response:
        """GET a dataset (with an optional `?query`)."""
        path = f"/api/v1/partner/constants/{name}" + (f"?{query}" if query else "")
        return self.request("GET", path, **kwargs)


def call_control(base_url: str, name: str, payload: dict[str, Any] | None = None) -> Any:
    """Call the sandbox's control surface `/_sandbox/NAME` (POST with a payload, GET without)."""
    url = f"{base_url}/_sandbox/{name}"
    with httpx.Client(timeout=10) as http:
        response = http.post(url, json=payload) if payload is not None else http.get(url)
    response.raise_for_status()
    return response.json()


def assert_error(answer: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """Check a failure envelope and return it."""
    assert answer.status_code == status, answer.text
    assert "date" in answer.headers
    envelope: dict[str, Any] = answer.json()
    assert envelope["version"] == "2.0.0"
    assert envelope["success"] is False
    assert envelope["code"] == code
    assert envelope["data"] is None
    assert isinstance(envelope["message"], str)
    return envelope


def now() -> float:
    """Local wall-clock time."""
    return time.time()
