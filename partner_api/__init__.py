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

from ._client import PartnerClient
from ._errors import (
    APIStatusError,
    AuthenticationError,
    BadRequestError,
    ClockDriftError,
    ConfigurationError,
    DatasetChangedError,
    ForbiddenError,
    InvalidCredentialsError,
    InvalidOtpError,
    InvalidResponseError,
    LoginSessionExpiredError,
    MissingScopeError,
    NonceReusedError,
    NotFoundError,
    OtpError,
    PartnerConnectionError,
    PartnerError,
    RateLimitedError,
    RetryAfterTooLongError,
    ServerError,
    SessionExpiredError,
    SignatureError,
    WebPathError,
)
from ._retry import RetryPolicy
from ._token import SessionToken
from .datasets import DATASETS, Dataset, DatasetName, get_dataset
from .otp import (
    BaseOtpSource,
    CommandOtpSource,
    ImapOtpSource,
    OtpChallenge,
    OtpSource,
    PromptOtpSource,
    SandboxOtpSource,
    TotpOtpSource,
)

__all__ = [
    "DATASETS",
    "APIStatusError",
    "AuthenticationError",
    "BadRequestError",
    "BaseOtpSource",
    "ClockDriftError",
    "CommandOtpSource",
    "ConfigurationError",
    "Dataset",
    "DatasetChangedError",
    "DatasetName",
    "ForbiddenError",
    "ImapOtpSource",
    "InvalidCredentialsError",
    "InvalidOtpError",
    "InvalidResponseError",
    "LoginSessionExpiredError",
    "MissingScopeError",
    "NonceReusedError",
    "NotFoundError",
    "OtpChallenge",
    "OtpError",
    "OtpSource",
    "PartnerClient",
    "PartnerConnectionError",
    "PartnerError",
    "PromptOtpSource",
    "RateLimitedError",
    "RetryAfterTooLongError",
    "RetryPolicy",
    "SandboxOtpSource",
    "ServerError",
    "SessionExpiredError",
    "SessionToken",
    "SignatureError",
    "TotpOtpSource",
    "WebPathError",
    "get_dataset",
]
