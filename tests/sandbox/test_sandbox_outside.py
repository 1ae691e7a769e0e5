"""The sandbox seen from outside Python: the quickstart's shell recipe, Maildir delivery, the CLI."""

from __future__ import annotations

import email
import email.policy
import mailbox
import os
import re
import shutil
import signal
import subprocess
import sys
import uuid
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from sandbox import (
    AUTH_ONLY_API_KEY,
    DEMO_API_KEY,
    DEMO_API_SECRET,
    DEMO_EMAIL,
    DEMO_PASSWORD,
    DEMO_TOTP_SECRET,
    SANDBOX_MAIL_FROM,
    SandboxConfig,
    SandboxHandle,
    main,
    running_sandbox,
)
from tests.support.caller import Caller
from tests.support.processes import start_process, stop_process

# The quickstart's recipe, with its PATH variable renamed (assigning PATH breaks the shell).
QUICKSTART_SCRIPT = r"""
set -eu
TIMESTAMP=$(date +%s)
METHOD="POST"
API_PATH="/api/v1/partner/auth/login/initiate"
BODY='{"email":"partner@example.com","password":"Str0ngP@ss!"}'
STRING_TO_SIGN="${METHOD}\n${API_PATH}\n${TIMESTAMP}\n${NONCE}\n${BODY}"
SIGNATURE=$(echo -ne "$STRING_TO_SIGN" | openssl dgst -sha256 -hmac "$API_SECRET" -binary | base64)
curl -s -X POST "${BASE}${API_PATH}" \
  -H "Authorization: HMAC-SHA256 ${SIGNATURE}" \
  -H "X-Api-Key: ${API_KEY}" \
  -H "X-Timestamp: ${TIMESTAMP}" \
  -H "X-Nonce: ${NONCE}" \
  -H "Content-Type: application/json" \
  -d "$BODY"
"""


# The Debian package that provides each tool the quickstart's recipe runs.
QUICKSTART_TOOLS = {"bash": "bash", "openssl": "openssl", "base64": "coreutils", "curl": "curl"}


def require_tools(tools: dict[str, str]) -> None:
    """Fail (never skip) with one line naming the packages to install when a tool is missing."""
    missing = sorted({package for tool, package in tools.items() if shutil.which(tool) is None})
    if missing:
        pytest.fail(f"missing tools: run `apt-get install {' '.join(missing)}`", pytrace=False)


def test_the_quickstart_shell_recipe_is_accepted(raw_sandbox: SandboxHandle) -> None:
    require_tools(QUICKSTART_TOOLS)
    env = {
        **os.environ,
        "BASE": raw_sandbox.base_url,
        "API_KEY": DEMO_API_KEY,
        "API_SECRET": DEMO_API_SECRET,
        "NONCE": str(uuid.uuid4()),
    }
    done = subprocess.run(
        ["bash", "-c", QUICKSTART_SCRIPT], env=env, capture_output=True, text=True, timeout=20
    )
    assert done.returncode == 0, done.stderr
    assert '"code":"2000"' in done.stdout
    assert '"sessionId"' in done.stdout


def test_email_otp_is_delivered_to_the_maildir(
    tmp_path: Path, make_caller: Callable[..., Caller]
) -> None:
    maildir = tmp_path / "Maildir"
    with running_sandbox(SandboxConfig(cities=10, maildir=maildir)) as handle:
        caller = make_caller(on=handle)
        session_id = caller.initiate()
        caller.send_otp(session_id)
        otp = handle.state.latest_otp(session_id)
    box = mailbox.Maildir(maildir, create=False)
    keys = box.keys()
    assert len(keys) == 1
    assert list((maildir / "new").iterdir())  # delivered, not left in tmp
    raw = box.get_bytes(keys[0])
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert SANDBOX_MAIL_FROM in message["From"]
    assert message["To"] == DEMO_EMAIL
    assert "sign-in code" in message["Subject"]
    assert message["Date"] and message["Message-ID"]
    plain = message.get_body(preferencelist=("plain",))
    html = message.get_body(preferencelist=("html",))
    assert plain is not None and html is not None
    assert otp and otp in plain.get_content()
    assert otp in html.get_content()


def test_cli_prints_the_base_url_and_credentials_then_serves(tmp_path: Path) -> None:
    process = start_process(
        [
            *[sys.executable, "-m", "sandbox", "--port", "0", "--cities", "20"],
            *["--latency", "40", "--latency-jitter", "5", "--drift-type", "cities"],
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    try:
        assert process.stdout is not None
        lines = []
        for line in process.stdout:
            lines.append(line)
            if "Ctrl-C" in line:
                break
        banner = "".join(lines)
        found = re.search(r"http://127\.0\.0\.1:(\d+)/prometheus", banner)
        assert found, banner
        for secret in (DEMO_API_KEY, DEMO_API_SECRET, AUTH_ONLY_API_KEY, DEMO_EMAIL):
            assert secret in banner
        assert DEMO_PASSWORD in banner and DEMO_TOTP_SECRET in banner
        health = httpx.get(found.group(0) + "/actuator/health", timeout=10)
        assert health.json() == {"status": "UP"}
        config = httpx.get(found.group(0) + "/_sandbox/config", timeout=10).json()
        assert (config["latencyMs"], config["latencyJitterMs"]) == (40, 5)
        assert config["driftType"] == ["cities"] and config["driftNewField"] == []
    finally:
        stop_process(process, sig=signal.SIGINT, timeout=15)
    assert process.returncode == 0


def test_cli_refuses_a_non_loopback_host(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--host", "0.0.0.0", "--port", "0"])
    assert exited.value.code == 2
    assert "--allow-remote" in capsys.readouterr().err
