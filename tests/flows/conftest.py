"""Fixtures for the flows: one temporary Prefect API for the whole session (the sandbox
settings, `env` and `settings`, live in `tests/conftest.py`)."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest


@pytest.fixture(scope="session")
def prefect_api() -> Iterator[None]:
    """One temporary Prefect server for the session (it takes ~10 s to start)."""
    from prefect.testing.utilities import prefect_test_harness

    # The temporary server would try to send telemetry, and log a traceback when offline.
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    with prefect_test_harness(server_startup_timeout=90):
        yield
