"""A client for the partner's HMAC-SHA256-signed Partner API, with its MFA login.

`PartnerClient` signs every request afresh, retries under one policy, parses the
contract's envelope and reads datasets page by page with ETags. The sandbox server that
implements the same contract lives in `sandbox`.
"""

from __future__ import annotations

from ._auth import HmacAuth, compute_signature, signing_path, string_to_sign
from ._client import Answer, PartnerClient, check_base_url, is_loopback, parse_retry_after
from ._clock import ServerClock, parse_http_date
from ._dataset import DatasetRead, etag_key
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
    ServerError,
    SessionExpiredError,
    SignatureError,
    WebPathError,
)
from ._login import Session, perform_login
from ._otp import (
    BaseOtpSource,
    CommandOtpSource,
    OtpChallenge,
    OtpSource,
    PromptOtpSource,
    SandboxOtpSource,
    TotpOtpSource,
    extract_code,
)
from ._otp_imap import ImapOtpSource
from ._retry import RetryMode, RetryPolicy
from .datasets import DATASETS, Dataset, DatasetName, get_dataset

__all__ = [
    "DATASETS",
    "APIStatusError",
    "Answer",
    "AuthenticationError",
    "BadRequestError",
    "BaseOtpSource",
    "ClockDriftError",
    "CommandOtpSource",
    "ConfigurationError",
    "Dataset",
    "DatasetChangedError",
    "DatasetName",
    "DatasetRead",
    "ForbiddenError",
    "HmacAuth",
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
    "RetryMode",
    "RetryPolicy",
    "SandboxOtpSource",
    "ServerClock",
    "ServerError",
    "Session",
    "SessionExpiredError",
    "SignatureError",
    "TotpOtpSource",
    "WebPathError",
    "check_base_url",
    "compute_signature",
    "etag_key",
    "extract_code",
    "get_dataset",
    "is_loopback",
    "parse_http_date",
    "parse_retry_after",
    "perform_login",
    "signing_path",
    "string_to_sign",
]
