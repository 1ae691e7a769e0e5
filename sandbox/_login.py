"""The login endpoints: initiate, MFA send and verify, logout (docs/partner-api.md §2.3)."""

from __future__ import annotations

import hmac
import math
import time
from typing import Any

import pyotp
from starlette.requests import Request
from starlette.responses import Response

from sandbox._config import (
    DEMO_TOTP_SECRET,
    MFA_EMAIL,
    MFA_TOTP,
    SCOPE_AUTH,
)
from sandbox._partner import PartnerRoute, verified_of
from sandbox._responses import Reject, json_object, ok, ok_data
from sandbox._state import SandboxState

LOGIN_PREFIX = "/api/v1/partner/auth"
_MFA_METHODS = [{"code": "EMAIL", "value": MFA_EMAIL}, {"code": "TOTP", "value": MFA_TOTP}]


def login_routes(state: SandboxState) -> list[PartnerRoute]:
    """The login endpoints of one sandbox."""

    async def initiate(request: Request) -> Response:
        payload = json_object(await request.body())
        email = _field(payload, "email")
        password = _field(payload, "password")
        # Both compared in constant time (as UTF-8 bytes), and both always compared.
        account = state.config
        good = hmac.compare_digest(
            email.strip().lower().encode("utf-8"), account.email.lower().encode("utf-8")
        )
        good &= hmac.compare_digest(password.encode("utf-8"), account.password.encode("utf-8"))
        if not good:
            raise Reject("4011", "wrong email or password")
        session = state.start_login(account.email)
        return ok_data(
            state,
            {
                "sessionId": session.session_id,
                "mfaMethods": _MFA_METHODS,
                "expiresIn": state.config.login_expires_in,
            },
        )

    async def mfa_send(request: Request) -> Response:
        payload = json_object(await request.body())
        session_id = _field(payload, "sessionId")
        method = _mfa_method(payload)
        session = state.live_login(session_id)
        if session is None:
            raise Reject("4013", "login session expired or used up")
        remaining = max(0, math.ceil(session.expires_at - time.monotonic()))
        if method == MFA_TOTP:
            # Nothing to send: the code comes from the user's authenticator.
            return ok_data(
                state, {"sent": False, "destination": "authenticator app", "expiresIn": remaining}
            )
        state.send_email_otp(session)
        return ok_data(
            state, {"sent": True, "destination": _mask(session.email), "expiresIn": remaining}
        )

    async def mfa_verify(request: Request) -> Response:
        payload = json_object(await request.body())
        session_id = _field(payload, "sessionId")
        method = _mfa_method(payload)
        otp_value = payload.get("otp")
        if isinstance(otp_value, int) and not isinstance(otp_value, bool):
            otp_value = f"{otp_value:06d}"
        if not isinstance(otp_value, str):
            raise Reject("4000", "otp must be a string of 6 digits")
        session = state.live_login(session_id)
        if session is None:
            raise Reject("4013", "login session expired or used up")
        if method == MFA_EMAIL:
            good = session.otp is not None and hmac.compare_digest(
                otp_value.encode(), session.otp.encode()
            )
        else:
            # The server clock is the truth: verify against the sandbox clock, skew included.
            good = pyotp.TOTP(DEMO_TOTP_SECRET).verify(
                otp_value, for_time=int(state.now()), valid_window=1
            )
        if not good:
            used = state.fail_otp(session)
            raise Reject(
                "4012", f"wrong OTP ({used} of {state.config.max_otp_attempts} attempts used)"
            )
        scopes = verified_of(request).scopes
        token = state.finish_login(session, scopes)
        return ok_data(
            state,
            {
                "accessToken": token,
                "tokenType": "Bearer",
                "expiresIn": state.config.token_expires_in,
                "scopes": list(scopes),
            },
        )

    async def logout(request: Request) -> Response:
        token = verified_of(request).token
        assert token is not None  # the route needs a token: the checks made sure of it
        state.revoke_token(token)
        return ok(state, b'{"loggedOut":true}')

    def post(path: str, endpoint: Any, *, needs_token: bool = False) -> PartnerRoute:
        return PartnerRoute(
            LOGIN_PREFIX + path,
            endpoint,
            method="POST",
            scope_required=SCOPE_AUTH,
            needs_token=needs_token,
        )

    return [
        post("/login/initiate", initiate),
        post("/login/mfa/send", mfa_send),
        post("/login/mfa/verify", mfa_verify),
        post("/logout", logout, needs_token=True),
    ]


def _field(payload: dict[str, Any], name: str) -> str:
    value = payload.get(name)
    if not isinstance(value, str) or not value:
        raise Reject("4000", f"{name} must be a non-empty string")
    return value


def _mfa_method(payload: dict[str, Any]) -> int:
    value = payload.get("mfaMethod")
    if value in ("EMAIL", "TOTP"):
        return MFA_EMAIL if value == "EMAIL" else MFA_TOTP
    if isinstance(value, bool) or value not in (MFA_EMAIL, MFA_TOTP):
        raise Reject("4000", f"mfaMethod must be {MFA_EMAIL} (EMAIL) or {MFA_TOTP} (TOTP)")
    return int(value)


def _mask(email: str) -> str:
    local, _, domain = email.partition("@")
    return f"{local[:1]}***@{domain}"
