"""A partner served over HTTPS with a self-signed certificate: one clear line until
`PARTNER_CA_BUNDLE` names a bundle that trusts it, then the sync works."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from partner_api import PartnerClient, UntrustedCertificateError
from sandbox import (
    DEMO_API_KEY,
    DEMO_API_SECRET,
    DEMO_EMAIL,
    DEMO_PASSWORD,
    SandboxConfig,
    SandboxHandle,
    running_sandbox,
)
from tests.support.tls import self_signed_certificate

CLI = [sys.executable, "-c", "import sys; from partner_sync.cli import main; sys.exit(main())"]


@pytest.fixture(scope="module")
def tls_sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[SandboxHandle, Path]]:
    """The sandbox over HTTPS on loopback, and its (self-signed) certificate."""
    cert, key = self_signed_certificate(tmp_path_factory.mktemp("tls"))
    config = SandboxConfig(cities=10, tls_certfile=cert, tls_keyfile=key)
    with running_sandbox(config) as handle:
        yield handle, cert


def sync(handle: SandboxHandle, tmp: Path, **extra: str) -> subprocess.CompletedProcess[str]:
    """`partner-sync sync --no-prefect` against the HTTPS sandbox, as a user runs it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PARTNER_", "PREFECT_"))}
    env.update(
        PARTNER_BASE_URL=handle.base_url,
        PARTNER_API_KEY=DEMO_API_KEY,
        PARTNER_API_SECRET=DEMO_API_SECRET,
        PARTNER_EMAIL=DEMO_EMAIL,
        PARTNER_PASSWORD=DEMO_PASSWORD,
        PARTNER_OTP_SOURCE="sandbox",
        PARTNER_SESSION_STORE="none",
        DATABASE_URL=f"sqlite:///{tmp / 'partner_sync.db'}",
        **extra,
    )
    return subprocess.run(
        [*CLI, "sync", "--no-prefect", "--dataset", "countries"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp,
        timeout=240,
        check=False,
    )


def test_the_sandbox_serves_https(tls_sandbox: tuple[SandboxHandle, Path]) -> None:
    handle, _ = tls_sandbox
    assert handle.base_url.startswith("https://127.0.0.1:")


def test_an_untrusted_partner_certificate_is_one_line_naming_the_setting(
    tls_sandbox: tuple[SandboxHandle, Path], tmp_path: Path
) -> None:
    handle, _ = tls_sandbox
    started = time.monotonic()

    done = sync(handle, tmp_path)

    assert done.returncode == 1, done.stdout + done.stderr
    assert "starting it again" not in done.stderr  # no login restart either
    errors = [line for line in done.stderr.splitlines() if "partner-sync: error:" in line]
    assert len(errors) == 1, done.stderr
    assert "TLS certificate" in errors[0] and "is not trusted" in errors[0]
    assert "self-signed certificate" in errors[0]
    assert "set PARTNER_CA_BUNDLE" in errors[0]
    assert time.monotonic() - started < 60  # not retried for PARTNER_MAX_RETRY_SECONDS
    for secret in (DEMO_API_SECRET, DEMO_PASSWORD):
        assert secret not in done.stdout + done.stderr


def test_with_partner_ca_bundle_naming_the_certificate_the_sync_works(
    tls_sandbox: tuple[SandboxHandle, Path], tmp_path: Path
) -> None:
    handle, cert = tls_sandbox

    done = sync(handle, tmp_path, PARTNER_CA_BUNDLE=str(cert))

    assert done.returncode == 0, done.stdout + done.stderr
    assert "countries" in done.stdout and "succeeded" in done.stdout


def test_a_ca_bundle_that_cannot_be_read_is_a_settings_error(
    tls_sandbox: tuple[SandboxHandle, Path], tmp_path: Path
) -> None:
    handle, _ = tls_sandbox

    done = sync(handle, tmp_path, PARTNER_CA_BUNDLE=str(tmp_path / "missing.pem"))

    assert done.returncode == 2, done.stdout + done.stderr
    assert "PARTNER_CA_BUNDLE" in done.stderr and "missing.pem" in done.stderr


def test_an_untrusted_certificate_is_not_retried(tls_sandbox: tuple[SandboxHandle, Path]) -> None:
    handle, _ = tls_sandbox
    slept: list[float] = []
    with (
        PartnerClient(handle.base_url, DEMO_API_KEY, DEMO_API_SECRET, sleep=slept.append) as client,
        pytest.raises(UntrustedCertificateError) as caught,
    ):
        list(client.read_dataset("countries"))
    assert "\n" not in str(caught.value)
    assert caught.value.sent is False
    assert slept == []  # the same certificate fails the same way: no backoff, no retry
