"""Fixtures for the storage tests: every test runs on a SQLite file and on PostgreSQL.

PostgreSQL is the server on 127.0.0.1:5432 (user `postgres`, database `test`, trust auth).
Each test gets its own schema (`t_<uuid>`, reached through `search_path` in the URL),
dropped afterwards (`tests.support.postgres`). If the server does not answer, the PostgreSQL
cases fail in one line naming `make provision`; they never skip. `-m "not postgres"` leaves
them out on purpose.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from storage.db import make_engine, upgrade_database
from tests.support.postgres import throwaway_schema


@pytest.fixture(
    params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)],
)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A URL of an empty database: a SQLite file, or a fresh PostgreSQL schema."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'partner-sync.db'}"
        return
    with throwaway_schema("t") as url:
        yield url


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    """An engine on a migrated, empty database."""
    engine = make_engine(db_url)
    upgrade_database(engine)
    yield engine
    engine.dispose()
