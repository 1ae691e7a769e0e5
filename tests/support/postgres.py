"""The test PostgreSQL (127.0.0.1:5432, user `postgres`, database `test`, trust auth).

Each test gets its own schema, reached through `search_path` in the URL and dropped
afterwards (`throwaway_schema`); a Prefect server, which wants a database of its own, gets a
fresh database (`throwaway_database`). `make provision` starts the server and creates the `test` database; when the
server does not answer, the PostgreSQL cases fail with one line saying so (they never skip).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import Engine, create_engine, make_url, text
from sqlalchemy.exc import OperationalError

#: The test server; the database `test` exists and `postgres` may create schemas in it.
POSTGRES_URL = os.environ.get(
    "PARTNER_SYNC_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
#: The one line a test prints when the server is not there.
MISSING_HINT = (
    "PostgreSQL does not answer at {url} ({error}): run `make provision` "
    "(starts the server, creates the `test` database)"
)


@contextmanager
def throwaway_schema(prefix: str = "t") -> Iterator[str]:
    """A URL whose `search_path` is a fresh schema, dropped when the block ends."""
    # pre-ping: a server restarted during the test (tests/faults) must not fail the DROP.
    admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT", pool_pre_ping=True)
    schema = f"{prefix}_{uuid.uuid4().hex[:16]}"
    try:
        _execute_or_fail(admin, f"CREATE SCHEMA {schema}")
        try:
            yield f"{POSTGRES_URL}?options=-csearch_path%3D{schema}"
        finally:
            with admin.connect() as conn:
                conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
    finally:
        admin.dispose()


@contextmanager
def throwaway_database(prefix: str = "t", driver: str = "postgresql+asyncpg") -> Iterator[str]:
    """A URL (through `driver`) of a fresh database on the test server, dropped afterwards."""
    admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    name = f"{prefix}_{uuid.uuid4().hex[:16]}"
    try:
        _execute_or_fail(admin, f'CREATE DATABASE "{name}"')
        try:
            url = make_url(POSTGRES_URL).set(drivername=driver, database=name, query={})
            yield url.render_as_string(hide_password=False)
        finally:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


def _execute_or_fail(admin: Engine, statement: str) -> None:
    """Run `statement`; a server that does not answer fails the test in one line."""
    try:
        with admin.connect() as conn:
            conn.execute(text(statement))
    except OperationalError as exc:
        first = str(exc.orig or exc).strip().splitlines()[0]
        url = admin.url.render_as_string(hide_password=True)
        pytest.fail(MISSING_HINT.format(url=url, error=first), pytrace=False)
