"""Fixtures of the reliability tests, and a summary of the figures they measured."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.postgres import throwaway_schema
from tests.reliability.support import FIGURES, FULL


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A throwaway schema in the test database (dropped afterwards), as a URL."""
    with throwaway_schema("rel") as url:
        yield url


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Print what the reliability tests measured (runs, faults, kill points, ...)."""
    if not FIGURES:
        return
    size = "full" if FULL else "CI"
    terminalreporter.section(f"reliability figures ({size} size)")
    for name, value in sorted(FIGURES.items()):
        terminalreporter.write_line(f"{name}: {value}")
