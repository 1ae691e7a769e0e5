"""A client for the partner's HMAC-SHA256-signed Partner API, with its MFA login.

`PartnerClient` signs every request afresh, retries under one policy (`RetryPolicy`), parses
the contract's envelope into data or a typed error, and reads datasets page by page with
ETags. `login` yields a `SessionToken`; an OTP source from `partner_api.otp` supplies the
one-time code. The datasets come from one registry (`DATASETS`, `get_dataset`).

The modules underneath, bottom to top: `_constants`, `_errors`, `_clock`, `_auth`,
`_diagnosis`, `_response`, `_retry`, `_token`, `_transport`, then the resources `_login` and
`_dataset`, and the façade `_client`. Lower modules never import higher ones.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from . import _errors
from ._client import PartnerClient
from ._errors import *  # noqa: F403  (every error class is public: `_errors.__all__`)
from ._retry import RetryPolicy
from ._token import SessionToken
from .datasets import DATASETS, Dataset, DatasetName, get_dataset
from .otp import (
    BaseOtpSource,
    CommandOtpSource,
    OtpChallenge,
    OtpSource,
    PromptOtpSource,
    SandboxOtpSource,
    TotpOtpSource,
)

if TYPE_CHECKING:
    from .otp import ImapOtpSource


def __getattr__(name: str) -> Any:
    # `partner_api.otp` loads the IMAP source (imap-tools) only when it is asked for.
    if name == "ImapOtpSource":
        from . import otp

        return otp.ImapOtpSource
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "DATASETS",
    "BaseOtpSource",
    "CommandOtpSource",
    "Dataset",
    "DatasetName",
    "ImapOtpSource",
    "OtpChallenge",
    "OtpSource",
    "PartnerClient",
    "PromptOtpSource",
    "RetryPolicy",
    "SandboxOtpSource",
    "SessionToken",
    "TotpOtpSource",
    "get_dataset",
    *_errors.__all__,
]
