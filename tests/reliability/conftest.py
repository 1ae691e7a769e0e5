"""Fixtures of the reliability tests, and a summary of the figures they measured."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.reliability.support import CI, FIGURES, FULL, Size
from tests.support.postgres import throwaway_schema

#: Sizes measured in this session, for the summary's title.
_SIZES_RUN: set[str] = set()


@pytest.fixture(
    scope="module",
    params=[pytest.param(CI, id="ci"), pytest.param(FULL, id="full", marks=pytest.mark.slow)],
)
def size(request: pytest.FixtureRequest) -> Size:
    """The run size: each sized test is a small `ci` case and a `full` case marked `slow`."""
    chosen: Size = request.param
    _SIZES_RUN.add(chosen.name)
    return chosen


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A throwaway schema in the test database (dropped afterwards), as a URL."""
    with throwaway_schema("rel") as url:
        yield url


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Print what the reliability tests measured (runs, faults, kill points, ...)."""
    if not FIGURES:
        return
    sizes = " and ".join(sorted(_SIZES_RUN)) or "fixed"
    terminalreporter.section(f"reliability figures ({sizes} size)")
    for name, value in sorted(FIGURES.items()):
        terminalreporter.write_line(f"{name}: {value}")
