"""The `totp` OTP source: RFC 6238 codes computed from the authenticator's secret."""

from __future__ import annotations

import time
from collections.abc import Callable

import pyotp

from .._errors import ConfigurationError
from ._base import BaseOtpSource, OtpChallenge


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
