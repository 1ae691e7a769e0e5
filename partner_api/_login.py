"""The login with its MFA handoff (docs/partner-api.md §2.3): initiate → send → OTP → verify → token."""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime, timedelta
from typing import TypeVar

from pydantic import SecretStr, ValidationError

from ._constants import (
    LOGIN_INITIATE_PATH,
    MFA_METHOD_VALUES,
    MFA_SEND_PATH,
    MFA_VERIFY_PATH,
)
from ._errors import (
    ConfigurationError,
    InvalidOtpError,
    InvalidResponseError,
    LoginSessionExpiredError,
    OtpError,
    PartnerConnectionError,
    ServerError,
    UntrustedCertificateError,
)
from ._retry import RetryMode
from ._token import SessionToken
from ._transport import Transport
from .models import LoginInitiated, MfaSent, MfaVerified
from .otp._base import OTP_PATTERN, OtpChallenge, OtpSource

logger = logging.getLogger("partner_api.login")

M = TypeVar("M", LoginInitiated, MfaSent, MfaVerified)

#: The contract allows at most 5 OTP attempts per login session.
MAX_OTP_ATTEMPTS = 5


def perform_login(
    transport: Transport,
    email: str,
    password: str,
    otp_source: OtpSource,
    *,
    mfa_method: str = "EMAIL",
    restarts: int = 1,
) -> SessionToken:
    """Log in through the MFA handoff and return the session token.

    A login that fails ambiguously at `mfa/verify` (server error, broken connection) or
    whose login session expired is started again from `initiate`, at most `restarts` times:
    the code is never resubmitted blindly, a new one is asked for.
    """
    method = mfa_method.upper()
    if method not in MFA_METHOD_VALUES:
        raise ConfigurationError(
            f"PARTNER_MFA_METHOD {mfa_method!r} is not one of {', '.join(MFA_METHOD_VALUES)}"
        )
    if not email:
        raise ConfigurationError("PARTNER_EMAIL is empty; set it to the partner account's email")
    if not password:
        raise ConfigurationError(
            "PARTNER_PASSWORD is empty; set it to the partner account's password"
        )
    for round_ in range(restarts + 1):
        try:
            return _login_once(transport, email, password, otp_source, method)
        except (LoginSessionExpiredError, ServerError, PartnerConnectionError) as exc:
            if round_ >= restarts or isinstance(exc, UntrustedCertificateError):
                raise  # an untrusted certificate is a setting to fix, not a fault to outlast
            logger.warning("login did not complete (%s); starting it again", type(exc).__name__)
    raise AssertionError("unreachable")  # pragma: no cover


def _login_once(
    transport: Transport, email: str, password: str, otp_source: OtpSource, method: str
) -> SessionToken:
    initiated = _model(
        LoginInitiated,
        transport.call(
            "POST",
            LOGIN_INITIATE_PATH,
            json={"email": email, "password": password},
            mode=RetryMode.LOGIN,
        ).data,
        "login/initiate",
    )
    offered = {m.code.upper(): m.value for m in initiated.mfa_methods}
    if method not in offered:
        raise ConfigurationError(
            f"the account does not offer MFA method {method}; it offers "
            f"{', '.join(offered) or 'none'}: set PARTNER_MFA_METHOD to one of them"
        )
    value = offered[method]
    deadline = time.monotonic() + initiated.expires_in
    otp_source.prepare(method)
    sent = _model(
        MfaSent,
        transport.call(
            "POST",
            MFA_SEND_PATH,
            json={"sessionId": initiated.session_id, "mfaMethod": value},
            mode=RetryMode.LOGIN,
        ).data,
        "login/mfa/send",
    )
    if sent.expires_in is not None:
        deadline = min(deadline, time.monotonic() + sent.expires_in)
    logger.info(
        "MFA %s: code %s; waiting for it from the %s source",
        method,
        f"sent to {sent.destination}" if sent.destination else "from the authenticator",
        otp_source.name,
    )
    previous_error: str | None = None
    for attempt in range(1, MAX_OTP_ATTEMPTS + 1):
        challenge = OtpChallenge(
            session_id=initiated.session_id,
            method=method,
            destination=sent.destination,
            deadline=deadline,
            attempt=attempt,
            previous_error=previous_error,
        )
        code = otp_source.get_code(challenge).strip()
        if not OTP_PATTERN.match(code):
            raise OtpError(f"the {otp_source.name} OTP source gave something that is not 6 digits")
        try:
            answer = transport.call(
                "POST",
                MFA_VERIFY_PATH,
                json={"sessionId": initiated.session_id, "mfaMethod": value, "otp": code},
                mode=RetryMode.ONCE,
            )
        except InvalidOtpError as exc:
            if not otp_source.asks_again or attempt == MAX_OTP_ATTEMPTS:
                raise
            previous_error = f"the code was not accepted ({exc.code or exc.status})"
            logger.info("the server rejected the code (attempt %d); asking again", attempt)
            continue
        verified = _model(MfaVerified, answer.data, "login/mfa/verify")
        otp_source.confirm()
        session = SessionToken(
            token=SecretStr(verified.access_token),
            expires_at=datetime.now(UTC) + timedelta(seconds=verified.expires_in),
            scopes=tuple(verified.scopes),
        )
        logger.info(
            "logged in; session valid for %d s with scopes %s",
            verified.expires_in,
            ", ".join(session.scopes) or "(none listed)",
        )
        return session
    raise AssertionError("unreachable")  # pragma: no cover


def _model(cls: type[M], data: object, what: str) -> M:
    try:
        return cls.model_validate(data)
    except ValidationError as exc:
        fields = ", ".join(".".join(map(str, e["loc"])) for e in exc.errors()[:3])
        raise InvalidResponseError(
            f"{what} answered data that breaks the contract (fields: {fields})"
        ) from None
