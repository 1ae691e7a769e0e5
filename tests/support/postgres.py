"""The test PostgreSQL (127.0.0.1:5432, user `postgres`, database `test`, trust auth).

Each test gets its own schema, reached through `search_path` in the URL and dropped
afterwards. `make provision` starts the server and creates the `test` database; when the
server does not answer, the PostgreSQL cases fail with one line saying so (they never skip).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import create_engine, text
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
    admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    schema = f"{prefix}_{uuid.uuid4().hex[:16]}"
    try:
        try:
            with admin.connect() as conn:
                conn.execute(text(f"CREATE SCHEMA {schema}"))
        except OperationalError as exc:
            first = str(exc.orig or exc).strip().splitlines()[0]
            url = admin.url.render_as_string(hide_password=True)
            pytest.fail(MISSING_HINT.format(url=url, error=first), pytrace=False)
        try:
            yield f"{POSTGRES_URL}?options=-csearch_path%3D{schema}"
        finally:
            with admin.connect() as conn:
                conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
    finally:
        admin.dispose()


#: The maintenance database `CREATE DATABASE` and `DROP DATABASE` are issued from.
ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


@contextmanager
def throwaway_database(prefix: str = "t") -> Iterator[str]:
    """A new, empty PostgreSQL database (its name) for the block, dropped afterwards.

    For what a schema cannot stand in for: a Prefect server's own database, or the
    application database a walk-through creates with `createdb`.
    """
    import psycopg

    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    try:
        with psycopg.connect(ADMIN_URL, autocommit=True, connect_timeout=5) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
    except psycopg.OperationalError as exc:
        error = " ".join(str(exc).split())
        pytest.fail(MISSING_HINT.format(url=ADMIN_URL, error=error), pytrace=False)
    try:
        yield name
    finally:
        with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
