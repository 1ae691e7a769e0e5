"""Credentials with spaces, both quotes, backslashes and non-ASCII letters, each through the
real component: the partner (the sandbox, signing and comparing as UTF-8), the mailbox (a
real Dovecot, user and password in its `passwd-file`) and the CLI reading them from the
environment. A wrong one fails in one line that holds no part of any secret."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from sandbox import DEMO_API_KEY, SANDBOX_MAIL_FROM, SandboxConfig, SandboxHandle, running_sandbox
from tests.support.dovecot import DovecotServer, running_dovecot
from tests.support.odd_credentials import (
    ODD_API_SECRET,
    ODD_EMAIL,
    ODD_IMAP_PASSWORD,
    ODD_IMAP_USER,
    ODD_PASSWORD,
    assert_no_fragment,
    fragments,
)

CLI = [sys.executable, "-c", "import sys; from partner_sync.cli import main; sys.exit(main())"]


def run_cli(env: dict[str, str], cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("PARTNER_", "PREFECT_"))}
    return subprocess.run(
        [*CLI, *args],
        capture_output=True,
        text=True,
        env={**base, **env},
        cwd=cwd,
        timeout=240,
        check=False,
    )


@pytest.fixture(scope="module")
def odd_dovecot() -> Iterator[DovecotServer]:
    """A real Dovecot whose one user has an odd name and an odd password."""
    with running_dovecot(user=ODD_IMAP_USER, password=ODD_IMAP_PASSWORD) as server:
        yield server


@pytest.fixture(scope="module")
def odd_partner(odd_dovecot: DovecotServer) -> Iterator[SandboxHandle]:
    """The sandbox with an odd API secret, email and password, mailing codes to Dovecot."""
    config = SandboxConfig(
        cities=10,
        api_secret=ODD_API_SECRET,
        email=ODD_EMAIL,
        password=ODD_PASSWORD,
        maildir=odd_dovecot.maildir,
    )
    with running_sandbox(config) as handle:
        yield handle


def partner_env(partner: SandboxHandle, tmp: Path, **changes: str) -> dict[str, str]:
    return {
        "PARTNER_BASE_URL": partner.base_url,
        "PARTNER_API_KEY": DEMO_API_KEY,
        "PARTNER_API_SECRET": ODD_API_SECRET,
        "PARTNER_EMAIL": ODD_EMAIL,
        "PARTNER_PASSWORD": ODD_PASSWORD,
        "PARTNER_OTP_SOURCE": "sandbox",
        "PARTNER_SESSION_STORE": "none",
        "DATABASE_URL": f"sqlite:///{tmp / 'partner_sync.db'}",
        **changes,
    }


def test_an_odd_api_secret_password_and_email_sync_through_the_cli(
    odd_partner: SandboxHandle, tmp_path: Path
) -> None:
    done = run_cli(partner_env(odd_partner, tmp_path), tmp_path, "-vv", "sync", "--no-prefect")

    assert done.returncode == 0, done.stderr[-3000:]
    assert "succeeded" in done.stdout
    assert_no_fragment(done.stdout + done.stderr)


@pytest.mark.parametrize(
    ("variable", "wrong", "expected"),
    [
        ("PARTNER_API_SECRET", ODD_API_SECRET[:-1], "4030"),
        ("PARTNER_PASSWORD", ODD_PASSWORD.replace("ä", "a"), "4011"),
        ("PARTNER_EMAIL", ODD_EMAIL.replace("ü", "u"), "4011"),
    ],
)
def test_a_wrong_odd_credential_fails_in_one_line_without_a_piece_of_any_secret(
    odd_partner: SandboxHandle, tmp_path: Path, variable: str, wrong: str, expected: str
) -> None:
    env = partner_env(odd_partner, tmp_path, **{variable: wrong})

    done = run_cli(env, tmp_path, "-vv", "sync", "--no-prefect", "--dataset", "countries")

    assert done.returncode == 1, done.stdout + done.stderr
    errors = [line for line in done.stderr.splitlines() if "partner-sync: error:" in line]
    assert len(errors) == 1 and expected in errors[0], done.stderr[-3000:]
    assert_no_fragment(done.stdout + done.stderr)
    for piece in fragments(wrong):
        assert piece not in done.stdout + done.stderr or piece in ODD_EMAIL


def test_an_odd_mailbox_user_and_password_read_the_code_from_dovecot(
    odd_partner: SandboxHandle, odd_dovecot: DovecotServer, tmp_path: Path
) -> None:
    env = partner_env(
        odd_partner,
        tmp_path,
        PARTNER_OTP_SOURCE="imap",
        PARTNER_IMAP_HOST=odd_dovecot.host,
        PARTNER_IMAP_PORT=str(odd_dovecot.port),
        PARTNER_IMAP_SECURITY="none",
        PARTNER_IMAP_USER=ODD_IMAP_USER,
        PARTNER_IMAP_PASSWORD=ODD_IMAP_PASSWORD,
        PARTNER_IMAP_SENDER=SANDBOX_MAIL_FROM,
        PARTNER_IMAP_WAIT="30",
    )

    done = run_cli(env, tmp_path, "-vv", "sync", "--no-prefect", "--dataset", "currencies")

    assert done.returncode == 0, done.stderr[-3000:]
    assert "succeeded" in done.stdout
    assert_no_fragment(done.stdout + done.stderr)


def test_a_wrong_odd_mailbox_password_fails_in_one_line_without_a_piece_of_it(
    odd_partner: SandboxHandle, odd_dovecot: DovecotServer, tmp_path: Path
) -> None:
    env = partner_env(
        odd_partner,
        tmp_path,
        PARTNER_OTP_SOURCE="imap",
        PARTNER_IMAP_HOST=odd_dovecot.host,
        PARTNER_IMAP_PORT=str(odd_dovecot.port),
        PARTNER_IMAP_SECURITY="none",
        PARTNER_IMAP_USER=ODD_IMAP_USER,
        PARTNER_IMAP_PASSWORD="wröng " + ODD_IMAP_PASSWORD,
        PARTNER_IMAP_SENDER=SANDBOX_MAIL_FROM,
    )

    done = run_cli(env, tmp_path, "-vv", "sync", "--no-prefect", "--dataset", "currencies")

    assert done.returncode == 1, done.stdout + done.stderr
    errors = [line for line in done.stderr.splitlines() if "partner-sync: error:" in line]
    assert len(errors) == 1, done.stderr[-3000:]
    assert (
        "IMAP login" in errors[0] and "check PARTNER_IMAP_USER/PARTNER_IMAP_PASSWORD" in errors[0]
    )
    assert_no_fragment(done.stdout + done.stderr)
    assert "wröng" not in done.stdout + done.stderr
