"""Where the one-time code of the MFA step comes from: every OTP source, one module each.

`OtpSource` is the protocol the login asks (`prepare`, `get_code`, `confirm`);
`BaseOtpSource` gives the no-op parts. The sources: `PromptOtpSource` (a person at the
terminal), `CommandOtpSource` (a program prints it), `TotpOtpSource` (computed from the
authenticator's secret), `ImapOtpSource` (read from a mailbox) and `SandboxOtpSource` (the
sandbox's outbox, for demos and tests).
"""

from __future__ import annotations

from ._base import OTP_PATTERN, BaseOtpSource, OtpChallenge, OtpSource, extract_code
from ._command import CommandOtpSource
from ._imap import ImapOtpSource
from ._prompt import PromptOtpSource
from ._sandbox import SandboxOtpSource
from ._totp import TotpOtpSource

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
