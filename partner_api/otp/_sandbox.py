"""The `sandbox` OTP source: the code from the sandbox's outbox, for demos and tests."""

from __future__ import annotations

import time
from pathlib import Path

import httpx

from .._errors import OtpError
from .._urls import tls_context
from ._base import BaseOtpSource, OtpChallenge


class SandboxOtpSource(BaseOtpSource):
    """Reads the EMAIL code from the sandbox's outbox (`/_sandbox/outbox`): demos and tests only."""

    name = "sandbox"
    asks_again = False

    def __init__(
        self,
        base_url: str,
        *,
        poll_interval: float = 0.05,
        timeout: float = 10.0,
        ca_bundle: str | Path | None = None,
    ) -> None:
        self._base_url = base_url.rstrip("/")
        self._verify = tls_context(ca_bundle)
        self._poll_interval = poll_interval
        self._timeout = timeout

    def get_code(self, challenge: OtpChallenge) -> str:
        """Poll the outbox for the newest code sent to this login session."""
        deadline = time.monotonic() + min(self._timeout, max(challenge.seconds_left(), 0.1))
        url = f"{self._base_url}/_sandbox/outbox"
        with httpx.Client(timeout=5.0, verify=self._verify) as http:
            while True:
                try:
                    response = http.get(url, params={"sessionId": challenge.session_id})
                    messages = response.json().get("messages", []) if response.is_success else []
                except (httpx.HTTPError, ValueError) as exc:
                    raise OtpError(
                        f"cannot read the sandbox outbox at {url}: {type(exc).__name__}; is "
                        "PARTNER_BASE_URL the sandbox? (PARTNER_OTP_SOURCE=sandbox works only there)"
                    ) from exc
                if messages:
                    return str(messages[-1]["otp"])
                if time.monotonic() >= deadline:
                    raise OtpError(
                        "the sandbox outbox has no code for this login; is PARTNER_BASE_URL the sandbox?"
                    )
                time.sleep(self._poll_interval)
