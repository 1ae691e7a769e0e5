"""The OTP sources that need no server: command and TOTP (the login tests drive them too)."""

from __future__ import annotations

import sys
import time

import pyotp
import pytest

from partner_api import CommandOtpSource, ConfigurationError, OtpChallenge, OtpError, TotpOtpSource
from partner_api.otp import extract_code
from sandbox import DEMO_TOTP_SECRET


def test_command_source_errors_name_the_problem_not_the_output() -> None:
    challenge = OtpChallenge("s", "EMAIL", None, deadline=time.monotonic() + 30)
    with pytest.raises(OtpError, match="exited 3"):
        CommandOtpSource(
            f"{sys.executable} -c \"import sys; print('123456'); sys.exit(3)\""
        ).get_code(challenge)
    with pytest.raises(OtpError, match="no 6-digit code"):
        CommandOtpSource(f"{sys.executable} -c \"print('12345')\"").get_code(challenge)
    with pytest.raises(OtpError, match="not found"):
        CommandOtpSource("/nonexistent/otp-helper").get_code(challenge)


def test_totp_source_refuses_a_bad_secret() -> None:
    with pytest.raises(ConfigurationError, match="base32"):
        TotpOtpSource("not base32 !!")
    assert TotpOtpSource(DEMO_TOTP_SECRET, clock=lambda: 59).get_code(
        OtpChallenge("s", "TOTP", None, 0)
    ) == pyotp.TOTP(DEMO_TOTP_SECRET).at(59)


def test_extract_code_takes_the_first_standalone_six_digits() -> None:
    assert extract_code("ref 1234567, code 654321 then 111111") == "654321"
    assert extract_code("12345 and 1234567") is None
