"""Fixtures shared by every test package: a real sandbox over real HTTP on a free port.

Nothing here skips: the machine's tools are checked once when the session starts (a missing
one stops it with one line naming `make provision`), and a test that skips anyway is
reported as failed with its reason.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Generator, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings as hypothesis_settings

from partner_api import PartnerClient, SandboxOtpSource
from partner_sync.core.settings import Settings
from sandbox import (
    DEMO_API_KEY,
    DEMO_API_SECRET,
    DEMO_EMAIL,
    DEMO_PASSWORD,
    SandboxConfig,
    SandboxHandle,
    running_sandbox,
)
from tests.support.caller import call_control
from tests.support.dovecot import DovecotServer, DovecotUnavailable, find_dovecot, running_dovecot
from tests.support.settings import demo_env

# Every property test tries the same examples on every run, so a red run reproduces and a
# run is never red by the luck of the draw; `HYPOTHESIS_PROFILE=explore` draws new ones
# (add what it finds as an `@example`).
hypothesis_settings.register_profile("repeatable", derandomize=True, database=None)
hypothesis_settings.register_profile("explore", derandomize=False, database=None)
hypothesis_settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "repeatable"))

#: Cities in the sandbox that mails its codes to Dovecot (`mail_sandbox`).
MAIL_SANDBOX_CITIES = 100

#: Small enough to be quick, large enough for several pages of cities at page size 1000.
TEST_CITIES = 2_500

#: The Debian tools the suite drives, as (command or path, package); `make provision`
#: installs the missing ones.
REQUIRED_TOOLS = (
    ("/usr/sbin/dovecot", "dovecot-imapd"),
    ("/usr/bin/chromium", "chromium"),
    ("curl", "curl"),
    ("openssl", "openssl"),
)


def missing_packages() -> list[str]:
    """The packages of `REQUIRED_TOOLS` whose command is not on this machine."""
    return [
        package
        for tool, package in REQUIRED_TOOLS
        if not (os.access(tool, os.X_OK) if tool.startswith("/") else shutil.which(tool))
    ]


def pytest_sessionstart(session: pytest.Session) -> None:
    """Stop at once, in one line, when the machine lacks a tool the tests drive."""
    missing = missing_packages()
    if missing:
        pytest.exit(
            f"missing {', '.join(missing)}: run `make provision` (or `make test`, which does)",
            returncode=pytest.ExitCode.USAGE_ERROR,
        )


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, Any, None]:
    """A skip is a failure here: every test must run on a provisioned machine."""
    outcome = yield
    report: pytest.TestReport = outcome.get_result()
    if report.skipped and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr
        report.outcome = "failed"
        report.longrepr = f"skipped, but nothing in this suite may skip: {reason}"


@pytest.fixture(scope="session", autouse=True)
def isolated_state(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Keep kept sessions (token files) in a throwaway directory, never the developer's."""
    import os

    previous = os.environ.get("XDG_STATE_HOME")
    os.environ["XDG_STATE_HOME"] = str(tmp_path_factory.mktemp("state"))
    yield
    if previous is None:
        os.environ.pop("XDG_STATE_HOME", None)
    else:
        os.environ["XDG_STATE_HOME"] = previous


@pytest.fixture(scope="session")
def sandbox() -> Iterator[SandboxHandle]:
    """One sandbox for the whole session; `sandbox_control` resets what a test changed."""
    with running_sandbox(SandboxConfig(cities=TEST_CITIES)) as handle:
        yield handle


@pytest.fixture
def sandbox_control(sandbox: SandboxHandle) -> Iterator[Callable[..., Any]]:
    """`control(name, payload)` bound to the session sandbox; restores its defaults afterwards."""
    yield lambda name, payload=None: call_control(sandbox.base_url, name, payload)
    call_control(
        sandbox.base_url,
        "config",
        {
            "clockSkew": 0,
            "faultRate": 0,
            "faultKinds": None,
            "rateLimit": None,
            "retryAfter": 1,
            "signQuery": True,
        },
    )
    call_control(sandbox.base_url, "data-version", {"version": 1})


@pytest.fixture
def make_client(sandbox: SandboxHandle) -> Iterator[Callable[..., PartnerClient]]:
    """A factory of demo-key clients to the session sandbox, closed after the test."""
    clients: list[PartnerClient] = []

    def make(**kwargs: Any) -> PartnerClient:
        kwargs.setdefault("api_key", DEMO_API_KEY)
        kwargs.setdefault("api_secret", DEMO_API_SECRET)
        client = PartnerClient(sandbox.base_url, **kwargs)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


@pytest.fixture
def logged_in(sandbox: SandboxHandle, make_client: Callable[..., PartnerClient]) -> PartnerClient:
    """A demo client logged in through EMAIL MFA with the sandbox outbox."""
    client = make_client()
    client.login(DEMO_EMAIL, DEMO_PASSWORD, SandboxOtpSource(sandbox.base_url))
    return client


@pytest.fixture(scope="module")
def dovecot() -> Iterator[DovecotServer]:
    """A real Dovecot for the module; a missing Dovecot fails the tests (it must not skip)."""
    missing = None
    try:
        find_dovecot()
    except DovecotUnavailable as exc:
        missing = str(exc)
    if missing:
        pytest.fail(missing, pytrace=False)
    with running_dovecot() as server:
        yield server


@pytest.fixture(scope="module")
def mail_sandbox(dovecot: DovecotServer) -> Iterator[SandboxHandle]:
    """A sandbox that delivers each EMAIL OTP into Dovecot's Maildir."""
    config = SandboxConfig(cities=MAIL_SANDBOX_CITIES, maildir=dovecot.maildir)
    with running_sandbox(config) as handle:
        yield handle


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    """A fresh SQLite file for one test."""
    return f"sqlite:///{tmp_path / 'partner_sync.db'}"


@pytest.fixture
def env(
    sandbox: SandboxHandle, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[dict[str, str]]:
    """Export the demo settings for the session sandbox (and nothing from the developer's .env).

    The session is kept in a file under the test's own state directory, so no test reuses
    another's token unless it means to.
    """
    directory = Path(database_url.removeprefix("sqlite:///")).parent
    values = demo_env(sandbox.base_url, database_url, session_store="file")
    values["XDG_STATE_HOME"] = str(directory / "state")
    monkeypatch.chdir(directory)
    for key, value in values.items():
        monkeypatch.setenv(key, value)
    yield values


@pytest.fixture
def settings(env: dict[str, str]) -> Settings:
    """Settings loaded from that environment."""
    return Settings()
