"""The test PostgreSQL (127.0.0.1:5432, user `postgres`, database `test`, trust auth).

Each test gets its own schema, reached through `search_path` in the URL and dropped
afterwards. If the server does not answer, the PostgreSQL cases fail (CI has it);
`PARTNER_SYNC_SKIP_POSTGRES=1` is the one way to skip them, say on a laptop without it.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import create_engine, text

#: The test server; the database `test` exists and `postgres` may create schemas in it.
POSTGRES_URL = os.environ.get(
    "PARTNER_SYNC_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


@contextmanager
def throwaway_schema(prefix: str = "t") -> Iterator[str]:
    """A URL whose `search_path` is a fresh schema, dropped when the block ends."""
    if os.environ.get("PARTNER_SYNC_SKIP_POSTGRES") == "1":
        pytest.skip("PARTNER_SYNC_SKIP_POSTGRES=1")
    admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    schema = f"{prefix}_{uuid.uuid4().hex[:16]}"
    try:
        with admin.connect() as conn:
            conn.execute(text(f"CREATE SCHEMA {schema}"))
        try:
            yield f"{POSTGRES_URL}?options=-csearch_path%3D{schema}"
        finally:
            with admin.connect() as conn:
                conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
    finally:
        admin.dispose()
