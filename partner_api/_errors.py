"""Errors raised by the Partner API client.

The tree::

    PartnerError
    ├── ConfigurationError          a setting or argument that cannot work (caught before sending)
    ├── PartnerConnectionError      no usable HTTP exchange (connect, timeout, broken body)
    │   └── UntrustedCertificateError  the partner's TLS certificate is not trusted (not retried)
    ├── InvalidResponseError        an answer that breaks the contract (not JSON, bad envelope, too big)
    │   └── DatasetChangedError     the dataset changed between pages; read it again
    ├── OtpError                    the OTP source could not produce a code
    └── APIStatusError              the server answered with a failure envelope or status
        ├── BadRequestError         400 / 4000
        ├── AuthenticationError     401
        │   ├── SessionExpiredError       4010
        │   ├── InvalidCredentialsError   4011
        │   ├── InvalidOtpError           4012
        │   └── LoginSessionExpiredError  4013
        ├── ForbiddenError          403 (carries a diagnosis of the published causes)
        │   ├── SignatureError            4030
        │   ├── ClockDriftError           4031
        │   ├── NonceReusedError          4032
        │   ├── MissingScopeError         4033
        │   └── WebPathError              4034
        ├── NotFoundError           404 / 4040
        ├── RateLimitedError        429 / 4290
        │   └── RetryAfterTooLongError    asks to wait longer than `PARTNER_MAX_RETRY_AFTER`
        └── ServerError             5xx

Every message is one line that says what happened and what to do; none carries a secret.
`partner_api._response.error_class_for` is the one place that maps status and code to a class.
"""

from __future__ import annotations

from typing import ClassVar

#: Every error class is public: callers catch them.
__all__ = [
    "APIStatusError",
    "AuthenticationError",
    "BadRequestError",
    "ClockDriftError",
    "ConfigurationError",
    "DatasetChangedError",
    "ForbiddenError",
    "InvalidCredentialsError",
    "InvalidOtpError",
    "InvalidResponseError",
    "LoginSessionExpiredError",
    "MissingScopeError",
    "NonceReusedError",
    "NotFoundError",
    "OtpError",
    "PartnerConnectionError",
    "PartnerError",
    "RateLimitedError",
    "RetryAfterTooLongError",
    "ServerError",
    "SessionExpiredError",
    "SignatureError",
    "UntrustedCertificateError",
    "WebPathError",
]


class PartnerError(Exception):
    """Base class of every error this client raises."""


class ConfigurationError(PartnerError):
    """A setting or argument that cannot work; nothing was sent."""


class PartnerConnectionError(PartnerError):
    """The request got no usable HTTP answer (connect failure, timeout, truncated body)."""

    def __init__(self, message: str, *, sent: bool = True) -> None:
        super().__init__(message)
        #: False when the request certainly never reached the server (safe to repeat anything).
        self.sent = sent


class UntrustedCertificateError(PartnerConnectionError):
    """The partner's TLS certificate did not verify: a setting to fix, not a fault to retry."""

    def __init__(self, message: str) -> None:
        super().__init__(message, sent=False)


class InvalidResponseError(PartnerError):
    """The server's answer breaks the contract: not JSON, a bad envelope, bad items, too large."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class DatasetChangedError(InvalidResponseError):
    """The dataset changed between pages of one read; the caller should read it again."""


class OtpError(PartnerError):
    """The OTP source could not produce a code (command failed, no mail, timed out)."""


class APIStatusError(PartnerError):
    """The server answered a failure: carries the HTTP status, envelope code and message."""

    #: What a user should do about this kind of failure, appended to the message.
    hint: ClassVar[str] = ""

    def __init__(
        self,
        message: str,
        *,
        status: int,
        code: str | None = None,
        server_message: str | None = None,
        path: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.server_message = server_message
        self.path = path


class BadRequestError(APIStatusError):
    """400 `4000`: the server rejected the request as malformed."""


class AuthenticationError(APIStatusError):
    """401: a login or session problem."""


class SessionExpiredError(AuthenticationError):
    """401 `4010`: the session token is missing, unknown or expired."""


class InvalidCredentialsError(AuthenticationError):
    """401 `4011`: wrong email or password."""

    hint = "check PARTNER_EMAIL and PARTNER_PASSWORD"


class InvalidOtpError(AuthenticationError):
    """401 `4012`: the one-time code was wrong."""

    hint = "check the code and try again"


class LoginSessionExpiredError(AuthenticationError):
    """401 `4013`: the login session expired or was used up; start the login again."""

    hint = "start the login again"


class ForbiddenError(APIStatusError):
    """403: the partner chain refused the request; `diagnosis` walks the published causes."""

    def __init__(self, message: str, *, diagnosis: str = "", **kwargs: object) -> None:
        super().__init__(message, **kwargs)  # type: ignore[arg-type]
        self.diagnosis = diagnosis


class SignatureError(ForbiddenError):
    """403 `4030`: bad signature, missing header or unknown API key."""

    hint = "check PARTNER_API_KEY and PARTNER_API_SECRET (a configuration error, not retried)"


class ClockDriftError(ForbiddenError):
    """403 `4031`: the timestamp was outside the server's window."""


class NonceReusedError(ForbiddenError):
    """403 `4032`: the nonce was used before (replay protection)."""


class MissingScopeError(ForbiddenError):
    """403 `4033`: the API key lacks the scope the endpoint needs."""

    hint = "ask the partner to grant the scope to this API key, or use a key that has it"


class WebPathError(ForbiddenError):
    """403 `4034`: a `/web/v1/**` portal path was sent on the partner chain."""


class NotFoundError(APIStatusError):
    """404 `4040`: unknown endpoint or dataset."""


class RateLimitedError(APIStatusError):
    """429 `4290`: rate limited; `retry_after` is the server's wait in seconds, if it said."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: object) -> None:
        super().__init__(message, **kwargs)  # type: ignore[arg-type]
        self.retry_after = retry_after


class RetryAfterTooLongError(RateLimitedError):
    """429 whose `Retry-After` exceeds `PARTNER_MAX_RETRY_AFTER`: not worth waiting in-process."""


class ServerError(APIStatusError):
    """5xx: the server failed or is unavailable."""
