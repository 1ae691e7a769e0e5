"""Fixtures for the storage tests: every test runs on a SQLite file and on PostgreSQL.

PostgreSQL is the server on 127.0.0.1:5432 (user `postgres`, database `test`, trust auth).
Each test gets its own schema (`t_<uuid>`, reached through `search_path` in the URL),
dropped afterwards. If the server does not answer, the PostgreSQL cases fail: CI has it.
`PARTNER_SYNC_SKIP_POSTGRES=1` is the one way to skip them (say, on a laptop without it).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text

from storage.db import make_engine, upgrade_database

#: The test server; the database `test` exists and `postgres` may create schemas in it.
POSTGRES_URL = os.environ.get(
    "PARTNER_SYNC_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


@pytest.fixture(scope="session")
def postgres_admin() -> Iterator[Engine]:
    """An engine on the test database's default schema, to create and drop test schemas."""
    engine = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    yield engine
    engine.dispose()


@pytest.fixture(
    params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)],
)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A URL of an empty database: a SQLite file, or a fresh PostgreSQL schema."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'partner-sync.db'}"
        return
    if os.environ.get("PARTNER_SYNC_SKIP_POSTGRES") == "1":
        pytest.skip("PARTNER_SYNC_SKIP_POSTGRES=1")
    admin: Engine = request.getfixturevalue("postgres_admin")
    schema = f"t_{uuid.uuid4().hex[:16]}"
    with admin.connect() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    try:
        yield f"{POSTGRES_URL}?options=-csearch_path%3D{schema}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    """An engine on a migrated, empty database."""
    engine = make_engine(db_url)
    upgrade_database(engine)
    yield engine
    engine.dispose()
