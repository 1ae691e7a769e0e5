"""Where the one-time code of the MFA step comes from: every OTP source, one module each.

`OtpSource` is the protocol the login asks (`prepare`, `get_code`, `confirm`);
`BaseOtpSource` gives the no-op parts. The sources: `PromptOtpSource` (a person at the
terminal), `CommandOtpSource` (a program prints it), `TotpOtpSource` (computed from the
authenticator's secret), `ImapOtpSource` (read from a mailbox) and `SandboxOtpSource` (the
sandbox's outbox, for demos and tests).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._base import OTP_PATTERN, BaseOtpSource, OtpChallenge, OtpSource, extract_code
from ._command import CommandOtpSource
from ._prompt import PromptOtpSource
from ._sandbox import SandboxOtpSource
from ._totp import TotpOtpSource

if TYPE_CHECKING:
    from ._imap import ImapOtpSource


def __getattr__(name: str) -> Any:
    # The IMAP source pulls in imap-tools and its TLS set-up; a run that reads its codes
    # elsewhere (most runs: the session is kept) should not pay for them at start-up.
    if name == "ImapOtpSource":
        from ._imap import ImapOtpSource

        return ImapOtpSource
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "OTP_PATTERN",
    "BaseOtpSource",
    "CommandOtpSource",
    "ImapOtpSource",
    "OtpChallenge",
    "OtpSource",
    "PromptOtpSource",
    "SandboxOtpSource",
    "TotpOtpSource",
    "extract_code",
]
