"""Fixtures of the fault tests: the sync's environment and a prepared `Scenario`."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from sandbox import SandboxHandle
from tests.faults.support import SEEN_LINES, Scenario


@pytest.fixture
def fault_env(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The sandbox settings, no kept session, and short waits: a fault shows in seconds."""
    values = {
        "PARTNER_LOCK_TIMEOUT": "1",
        "PARTNER_SESSION_STORE": "none",
        "PARTNER_MAX_ATTEMPTS": "2",
        "PARTNER_TIMEOUT": "5",
    }
    for key, value in values.items():
        monkeypatch.setenv(key, value)
    return {**env, **values}


@pytest.fixture
def prepare(
    fault_env: dict[str, str],
    sandbox: SandboxHandle,
    sandbox_control: Callable[..., Any],  # restores data version 1 afterwards
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Callable[..., Scenario]]:
    """`prepare(database_url=None)`: a good sync of version 1 there, the source at version 2."""
    made: list[Scenario] = []

    def make(database_url: str | None = None) -> Scenario:
        if database_url is not None:
            monkeypatch.setenv("DATABASE_URL", database_url)
        scenario = Scenario.prepared(
            os.environ["DATABASE_URL"], sandbox.config, sandbox.state.set_data_version
        )
        made.append(scenario)
        return scenario

    yield make
    for scenario in made:
        scenario.engine.dispose()


def pytest_configure(config: pytest.Config) -> None:
    """Register the marker of the PostgreSQL restart test."""
    config.addinivalue_line(
        "markers",
        "pg_restart: restarts the PostgreSQL server; runs only with PARTNER_SYNC_PG_RESTART=1",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Deselect (not skip: a skip fails this suite) the restart test unless it is allowed.

    Restarting the server breaks every other test using it at that moment, so only a run
    that owns the server (`.ci/run` exports PARTNER_SYNC_PG_RESTART=1) includes it.
    """
    if os.environ.get("PARTNER_SYNC_PG_RESTART") == "1":
        return
    kept = [item for item in items if item.get_closest_marker("pg_restart") is None]
    if len(kept) != len(items):
        config.hook.pytest_deselected(items=[i for i in items if i not in kept])
        items[:] = kept


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Print the one line each fault ended in (the README's fault table quotes them)."""
    if SEEN_LINES:
        terminalreporter.section("what the user saw, per fault")
        for test, line in SEEN_LINES.items():
            terminalreporter.write_line(f"{test}: partner-sync: error: {line}")
