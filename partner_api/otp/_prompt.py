"""The `prompt` OTP source: the person at the terminal types the code."""

from __future__ import annotations

import getpass
from collections.abc import Callable

from .._errors import OtpError
from ._base import OTP_PATTERN, BaseOtpSource, OtpChallenge


class PromptOtpSource(BaseOtpSource):
    """Asks the person at the terminal, with hidden input."""

    name = "prompt"
    asks_again = True

    def __init__(self, ask: Callable[[str], str] = getpass.getpass) -> None:
        self._ask = ask

    def get_code(self, challenge: OtpChallenge) -> str:
        """Prompt until a 6-digit code is typed (the login session bounds the wait)."""
        where = f" sent to {challenge.destination}" if challenge.destination else ""
        if challenge.method == "TOTP":
            where = " from your authenticator app"
        prefix = "Wrong code. " if challenge.previous_error else ""
        while True:
            left = int(challenge.seconds_left())
            try:
                typed = self._ask(f"{prefix}One-time code{where} ({left} s left): ").strip()
            except (EOFError, KeyboardInterrupt) as exc:
                raise OtpError(
                    "no one-time code was typed (no terminal?); set PARTNER_OTP_SOURCE to "
                    "command, totp or prefect for unattended runs"
                ) from exc
            if OTP_PATTERN.match(typed):
                return typed
            prefix = "A code is 6 digits. "
