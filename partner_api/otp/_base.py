"""What every OTP source is: the `OtpSource` protocol, its no-op base and the challenge.

A source is asked for a code after `mfa/send`; it may look at the world before the send
(`prepare`, e.g. to remember which mails were already there) and learn that its code was
accepted (`confirm`). Sources outside this package (Prefect's pause) implement the same
protocol.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

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
