"""Fixtures of the reliability tests, and a summary of the figures they measured."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine, text

from tests.reliability.support import FIGURES, FULL

POSTGRES_URL = os.environ.get(
    "PARTNER_SYNC_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A throwaway schema in the test database (dropped afterwards), as a URL."""
    if os.environ.get("PARTNER_SYNC_SKIP_POSTGRES") == "1":
        pytest.skip("PARTNER_SYNC_SKIP_POSTGRES=1")
    admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    schema = f"rel_{uuid.uuid4().hex[:12]}"
    with admin.connect() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    try:
        yield f"{POSTGRES_URL}?options=-csearch_path%3D{schema}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Print what the reliability tests measured (runs, faults, kill points, ...)."""
    if not FIGURES:
        return
    size = "full" if FULL else "CI"
    terminalreporter.section(f"reliability figures ({size} size)")
    for name, value in sorted(FIGURES.items()):
        terminalreporter.write_line(f"{name}: {value}")
