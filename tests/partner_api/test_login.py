"""The MFA login against the real sandbox, with every OTP source but a real terminal."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import pytest

from partner_api import (
    CommandOtpSource,
    ConfigurationError,
    InvalidCredentialsError,
    InvalidOtpError,
    OtpChallenge,
    PartnerClient,
    PromptOtpSource,
    SandboxOtpSource,
    TotpOtpSource,
)
from sandbox import DEMO_EMAIL, DEMO_PASSWORD, DEMO_TOTP_SECRET, SandboxHandle


def test_email_login_with_the_sandbox_outbox(
    sandbox: SandboxHandle, make_client: Callable[..., PartnerClient]
) -> None:
    client = make_client()
    session = client.login(DEMO_EMAIL, DEMO_PASSWORD, SandboxOtpSource(sandbox.base_url))
    assert "partner:constants:read" in session.scopes
    assert not session.expires_within(3000)
    assert session.token.get_secret_value() not in repr(session)
    assert list(client.read_dataset("currencies"))


def test_totp_login_uses_the_server_clock(
    sandbox: SandboxHandle,
    make_client: Callable[..., PartnerClient],
    sandbox_control: Callable[..., Any],
) -> None:
    # The server runs 20 minutes ahead: a code from the local clock would be 40 steps stale.
    sandbox_control("config", {"clockSkew": 1200})
    client = make_client()
    source = TotpOtpSource(DEMO_TOTP_SECRET, clock=client.clock.now)
    session = client.login(DEMO_EMAIL, DEMO_PASSWORD, source, mfa_method="TOTP")
    assert session.scopes


def test_command_source_reads_the_code_from_stdout(
    make_client: Callable[..., PartnerClient],
) -> None:
    script = (
        "import os, pyotp; "
        f"assert os.environ['PARTNER_MFA_METHOD'] == 'TOTP'; "
        f"print('your code:', pyotp.TOTP('{DEMO_TOTP_SECRET}').now())"
    )
    source = CommandOtpSource(f'{sys.executable} -c "{script}"')
    client = make_client()
    assert client.login(DEMO_EMAIL, DEMO_PASSWORD, source, mfa_method="TOTP").scopes


def test_prompt_source_asks_again_after_a_wrong_code(
    sandbox: SandboxHandle, make_client: Callable[..., PartnerClient]
) -> None:
    outbox = SandboxOtpSource(sandbox.base_url)
    prompts: list[str] = []
    pending: list[OtpChallenge] = []

    class Recording(PromptOtpSource):
        def get_code(self, challenge: OtpChallenge) -> str:
            pending.append(challenge)
            return super().get_code(challenge)

    def ask(prompt: str) -> str:
        prompts.append(prompt)
        if len(prompts) == 1:
            return "000000" if outbox.get_code(pending[-1]) != "000000" else "111111"
        return outbox.get_code(pending[-1])

    client = make_client()
    assert client.login(DEMO_EMAIL, DEMO_PASSWORD, Recording(ask=ask)).scopes
    assert len(prompts) == 2
    assert prompts[1].startswith("Wrong code.")
    assert "p***@example.com" in prompts[0]


def test_wrong_code_from_a_non_interactive_source_fails_at_once(
    sandbox: SandboxHandle, make_client: Callable[..., PartnerClient]
) -> None:
    client = make_client()
    source = CommandOtpSource(f"{sys.executable} -c \"print('000000')\"")
    with pytest.raises(InvalidOtpError, match="4012"):
        client.login(DEMO_EMAIL, DEMO_PASSWORD, source)


def test_wrong_password_is_one_clear_line_without_the_password(
    sandbox: SandboxHandle, make_client: Callable[..., PartnerClient]
) -> None:
    client = make_client()
    with pytest.raises(InvalidCredentialsError) as caught:
        client.login(DEMO_EMAIL, "not-the-password", SandboxOtpSource(sandbox.base_url))
    message = str(caught.value)
    assert "4011" in message and "PARTNER_PASSWORD" in message
    assert "not-the-password" not in message and "\n" not in message
    assert client.sends == 1  # no retry


def test_an_mfa_method_the_account_lacks_is_a_configuration_error(
    sandbox: SandboxHandle, make_client: Callable[..., PartnerClient]
) -> None:
    with pytest.raises(ConfigurationError, match="PARTNER_MFA_METHOD"):
        make_client().login(DEMO_EMAIL, DEMO_PASSWORD, PromptOtpSource(), mfa_method="SMS")
