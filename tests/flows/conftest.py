"""Fixtures for the flows: settings pointing at the session sandbox, a fresh SQLite file, and
one temporary Prefect API for the whole session."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from flows._settings import Settings
from sandbox import (
    DEMO_API_KEY,
    DEMO_API_SECRET,
    DEMO_EMAIL,
    DEMO_PASSWORD,
    SandboxHandle,
)


@pytest.fixture(scope="session")
def prefect_api() -> Iterator[None]:
    """One temporary Prefect server for the session (it takes ~10 s to start)."""
    from prefect.testing.utilities import prefect_test_harness

    # The temporary server would try to send telemetry, and log a traceback when offline.
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    with prefect_test_harness(server_startup_timeout=90):
        yield


def sandbox_env(sandbox: SandboxHandle, database_url: str) -> dict[str, str]:
    """The environment a user would export to sync from the sandbox.

    The session is kept in a file under the test's own state directory (`XDG_STATE_HOME`
    is set by `env`), so no test reuses another's token unless it means to.
    """
    return {
        "PARTNER_BASE_URL": sandbox.base_url,
        "PARTNER_API_KEY": DEMO_API_KEY,
        "PARTNER_API_SECRET": DEMO_API_SECRET,
        "PARTNER_EMAIL": DEMO_EMAIL,
        "PARTNER_PASSWORD": DEMO_PASSWORD,
        "PARTNER_OTP_SOURCE": "sandbox",
        "DATABASE_URL": database_url,
        "PARTNER_SESSION_STORE": "file",
    }


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    """A fresh SQLite file for one test."""
    return f"sqlite:///{tmp_path / 'partner_sync.db'}"


@pytest.fixture
def env(
    sandbox: SandboxHandle, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[dict[str, str]]:
    """Export the sandbox settings for the test (and nothing from the developer's .env)."""
    values = sandbox_env(sandbox, database_url)
    monkeypatch.chdir(Path(database_url.removeprefix("sqlite:///")).parent)
    values["XDG_STATE_HOME"] = str(Path(database_url.removeprefix("sqlite:///")).parent / "state")
    for key, value in values.items():
        monkeypatch.setenv(key, value)
    yield values


@pytest.fixture
def settings(env: dict[str, str]) -> Settings:
    """Settings loaded from that environment."""
    return Settings()
