"""Where the one-time code comes from: the OTP sources of the MFA step.

A source is asked for a code after `mfa/send`; it may look at the world before the send
(`prepare`, e.g. to remember which mails were already there) and learn that its code was
accepted (`confirm`). Sources that need Prefect or a mailbox live elsewhere and implement
the same `OtpSource` protocol.
"""

from __future__ import annotations

import getpass
import os
import re
import shlex
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import httpx
import pyotp

from ._errors import ConfigurationError, OtpError

OTP_PATTERN = re.compile(r"^\d{6}$")
_FIRST_CODE = re.compile(r"(?<!\d)(\d{6})(?!\d)")


@dataclass(frozen=True)
class OtpChallenge:
    """What a source knows when asked for a code. Holds no secret."""

    session_id: str
    method: str
    destination: str | None
    deadline: float
    attempt: int = 1
    previous_error: str | None = None

    def seconds_left(self) -> float:
        """Seconds until the login session expires (by the local monotonic clock)."""
        return max(0.0, self.deadline - time.monotonic())


@runtime_checkable
class OtpSource(Protocol):
    """Produces the one-time code for a login."""

    #: A short name for messages (`prompt`, `command`, `totp`, ...).
    name: str
    #: Whether asking again after a wrong code can give a different answer (a human can).
    asks_again: bool

    def prepare(self, method: str) -> None:
        """Called before `mfa/send`."""

    def get_code(self, challenge: OtpChallenge) -> str:
        """Return the 6-digit code for `challenge`, or raise `OtpError`."""
        ...

    def confirm(self) -> None:
        """Called after the server accepted the code."""


class BaseOtpSource:
    """No-op `prepare` and `confirm` for sources that need neither."""

    name = "base"
    asks_again = False

    def prepare(self, method: str) -> None:
        """Nothing to note before the send."""

    def confirm(self) -> None:
        """Nothing to clean up after a successful verify."""


def extract_code(text: str) -> str | None:
    """The first standalone 6-digit number in `text`, or None."""
    match = _FIRST_CODE.search(text)
    return match.group(1) if match else None


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


class CommandOtpSource(BaseOtpSource):
    """Runs `PARTNER_OTP_COMMAND` and reads the code from its stdout, like a credential helper.

    The command is split with `shlex` and run without a shell (wrap it in `sh -c '…'` for
    pipes). It learns the context from `PARTNER_MFA_METHOD`, `PARTNER_OTP_DESTINATION` and
    `PARTNER_OTP_ATTEMPT` in its environment.
    """

    name = "command"
    asks_again = False

    def __init__(self, command: str) -> None:
        if not command.strip():
            raise ConfigurationError(
                "PARTNER_OTP_SOURCE=command needs PARTNER_OTP_COMMAND, the command that prints the code"
            )
        self._argv = shlex.split(command)

    def get_code(self, challenge: OtpChallenge) -> str:
        """Run the command (bounded by the login session's life) and parse its stdout."""
        env = dict(os.environ)
        env.update(
            PARTNER_MFA_METHOD=challenge.method,
            PARTNER_OTP_DESTINATION=challenge.destination or "",
            PARTNER_OTP_ATTEMPT=str(challenge.attempt),
        )
        program = self._argv[0]
        try:
            done = subprocess.run(
                self._argv,
                capture_output=True,
                text=True,
                timeout=max(1.0, challenge.seconds_left()),
                env=env,
                check=False,
            )
        except FileNotFoundError as exc:
            raise OtpError(
                f"PARTNER_OTP_COMMAND: program {program!r} not found; check the command"
            ) from exc
        except subprocess.TimeoutExpired as exc:
            raise OtpError(
                f"PARTNER_OTP_COMMAND {program!r} printed no code before the login expired"
            ) from exc
        if done.returncode != 0:
            # stderr's last line may say why; stdout is never echoed (it may hold a code).
            last = (done.stderr.strip().splitlines() or [""])[-1][:200]
            raise OtpError(
                f"PARTNER_OTP_COMMAND {program!r} exited {done.returncode}"
                + (f": {last}" if last else "")
            )
        code = extract_code(done.stdout)
        if code is None:
            raise OtpError(f"PARTNER_OTP_COMMAND {program!r} printed no 6-digit code on stdout")
        return code


class TotpOtpSource(BaseOtpSource):
    """RFC 6238 codes (SHA-1, 6 digits, 30 s) from `PARTNER_TOTP_SECRET`, on the server's clock."""

    name = "totp"
    asks_again = False

    def __init__(self, secret: str, clock: Callable[[], float] = time.time) -> None:
        if not secret:
            raise ConfigurationError(
                "PARTNER_OTP_SOURCE=totp needs PARTNER_TOTP_SECRET, the authenticator's base32 secret"
            )
        try:
            self._totp = pyotp.TOTP(secret)
            self._totp.at(0)
        except Exception as exc:
            raise ConfigurationError("PARTNER_TOTP_SECRET is not a valid base32 secret") from exc
        self._clock = clock

    def get_code(self, challenge: OtpChallenge) -> str:
        """The code for the current 30-second step of the (server-corrected) clock."""
        return str(self._totp.at(self._clock()))


class SandboxOtpSource(BaseOtpSource):
    """Reads the EMAIL code from the sandbox's outbox (`/_sandbox/outbox`): demos and tests only."""

    name = "sandbox"
    asks_again = False

    def __init__(
        self, base_url: str, *, poll_interval: float = 0.05, timeout: float = 10.0
    ) -> None:
        self._base_url = base_url.rstrip("/")
        self._poll_interval = poll_interval
        self._timeout = timeout

    def get_code(self, challenge: OtpChallenge) -> str:
        """Poll the outbox for the newest code sent to this login session."""
        deadline = time.monotonic() + min(self._timeout, max(challenge.seconds_left(), 0.1))
        url = f"{self._base_url}/_sandbox/outbox"
        with httpx.Client(timeout=5.0) as http:
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
