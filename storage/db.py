"""Engines and migrations: `make_engine(url)` and `upgrade_database(url_or_engine)`.

SQLite (the default) and PostgreSQL (`postgresql+psycopg://...`) are supported.

SQLite connections get:

* `PRAGMA busy_timeout`, so a second writer waits for the lock instead of failing at once;
* `PRAGMA foreign_keys = ON`;
* `PRAGMA journal_mode = WAL` for file databases: readers (a `status` command, a report)
  keep reading the last committed state while a long sync writes, and a sync never waits
  for readers; `journal_size_limit` truncates the WAL file after a big sync. `synchronous` stays at SQLite's default (FULL): a sync commits once per
  dataset, so the extra fsync costs nothing that matters and a committed sync survives a
  power cut.
* SQLAlchemy, not the `sqlite3` module, emits `BEGIN` (the pysqlite recipe from the
  SQLAlchemy docs: `isolation_level = None` plus a `begin` event). That makes DDL
  transactional and lets a connection ask for `BEGIN IMMEDIATE` (see `set_begin_mode`),
  which takes the write lock up front instead of failing half-way when a second writer
  shows up.

The database schema is created and upgraded by the alembic migrations in
`storage/migrations/`, configured in code so no `alembic.ini` is needed.
"""

from __future__ import annotations

import functools
import hashlib
import re
import sqlite3
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from sqlalchemy import Connection, Engine, create_engine, event, inspect, make_url, text
from sqlalchemy.engine import URL
from sqlalchemy.exc import OperationalError

from .errors import DatabaseLockedError, DatabaseReadOnlyError

if TYPE_CHECKING:
    from alembic.config import Config

__all__ = [
    "DEFAULT_BUSY_TIMEOUT",
    "MIGRATIONS_DIR",
    "advisory_key",
    "alembic_config",
    "make_engine",
    "set_begin_mode",
    "upgrade_database",
]

#: How long (seconds) a SQLite connection waits for a lock before "database is locked".
DEFAULT_BUSY_TIMEOUT = 30.0

#: The alembic script directory, inside the installed package.
MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"

#: Bytes of WAL file SQLite keeps after a checkpoint (the rest is truncated).
_WAL_SIZE_LIMIT = 64 * 1024 * 1024

#: Connection execution option read by the SQLite `begin` hook.
_BEGIN_OPTION = "partner_sync_begin"

BeginMode = Literal["DEFERRED", "IMMEDIATE", "EXCLUSIVE"]


def _normalise_url(url: str | URL) -> URL:
    """Parse `url`; plain `postgresql://` and `postgres://` mean psycopg 3, the driver we ship."""
    parsed = make_url(url) if isinstance(url, str) else url
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


def _is_memory_sqlite(url: URL) -> bool:
    database = url.database or ""
    return database in ("", ":memory:") or url.query.get("mode") == "memory"


def make_engine(url: str | URL, *, busy_timeout: float = DEFAULT_BUSY_TIMEOUT) -> Engine:
    """Create an engine for `url` (SQLite or PostgreSQL) set up for safe syncs.

    `busy_timeout` (seconds) is how long a SQLite connection waits for another writer;
    `sync_dataset` sets its own `lock_timeout` per sync. Plain `postgresql://` URLs use
    psycopg 3.
    """
    parsed = _normalise_url(url)
    if parsed.get_backend_name() == "sqlite":
        return _make_sqlite_engine(parsed, busy_timeout)
    if parsed.get_backend_name() == "postgresql":
        return create_engine(parsed, pool_pre_ping=True)
    raise ValueError(
        f"unsupported database {parsed.get_backend_name()!r}: use sqlite:///path.db "
        "or postgresql+psycopg://user@host/db"
    )


def _make_sqlite_engine(url: URL, busy_timeout: float) -> Engine:
    engine = create_engine(url, connect_args={"timeout": busy_timeout})
    wal = not _is_memory_sqlite(url)
    busy_ms = int(busy_timeout * 1000)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, connection_record: Any) -> None:
        # Take BEGIN away from the sqlite3 module: it would skip it for SELECT and DDL.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout = {busy_ms}")
            cursor.execute("PRAGMA foreign_keys = ON")
            if wal:
                _enable_wal(cursor, busy_timeout)
                # A million-row sync grows the WAL to hundreds of MB; give the disk back
                # once it has been checkpointed.
                cursor.execute(f"PRAGMA journal_size_limit = {_WAL_SIZE_LIMIT}")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        mode = conn.get_execution_options().get(_BEGIN_OPTION, "DEFERRED")
        conn.exec_driver_sql(f"BEGIN {mode}")

    return engine


def _enable_wal(cursor: Any, timeout: float) -> None:
    """Switch the file to WAL, waiting while another connection holds the lock.

    Changing the journal mode needs an exclusive lock and SQLite answers "database is
    locked" at once, without its busy handler, when several connections open a new file
    together (two `partner-sync` processes starting at once): so retry until `timeout`.
    """
    deadline = time.monotonic() + timeout
    while True:
        try:
            cursor.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() >= deadline:
                raise
            time.sleep(0.02)


def set_begin_mode(conn: Connection, mode: BeginMode) -> Connection:
    """Make the next transactions of `conn` start with `BEGIN {mode}` on SQLite.

    `IMMEDIATE` takes the write lock when the transaction starts (waiting up to the busy
    timeout), so a writer never fails half-way because another writer got there first.
    A no-op on other databases. Call it before `conn.begin()`.
    """
    if mode not in ("DEFERRED", "IMMEDIATE", "EXCLUSIVE"):
        raise ValueError(f"unknown SQLite begin mode {mode!r}")
    if conn.dialect.name == "sqlite":
        conn.execution_options(**{_BEGIN_OPTION: mode})
    return conn


def advisory_key(conn: Connection, name: str) -> int:
    """A stable signed 64-bit key for a PostgreSQL advisory lock named `name`.

    The current schema is part of the key, so two copies of partner-sync in two schemas
    of one database (or two test schemas) do not block each other.
    """
    schema = conn.execute(text("SELECT current_schema()")).scalar_one()
    digest = hashlib.sha256(f"partner-sync:{schema}:{name}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def _connect(engine: Engine) -> Connection:
    """`engine.connect()`, a SQLite file that cannot be opened for writing named as such."""
    try:
        return engine.connect()
    except OperationalError as exc:
        raise _sqlite_error(engine, exc) from None


#: SQLite's primary result codes that mean the file cannot be written where it is.
_SQLITE_UNWRITABLE = (sqlite3.SQLITE_READONLY, sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_PERM)


def _sqlite_error(
    engine: Engine, exc: OperationalError, conn: Connection | None = None
) -> Exception:
    """A one-line storage error for SQLite failing to open or lock the file, else `exc`.

    `DatabaseReadOnlyError` when the file, its directory or its disk cannot be written (a
    WAL database also needs its `-wal` and `-shm` files beside it); `DatabaseLockedError`
    when another process kept the write lock past the engine's busy timeout.
    """
    code = getattr(exc.orig, "sqlite_errorcode", None)
    if engine.dialect.name != "sqlite" or code is None:
        return exc
    path = engine.url.database
    if code & 0xFF in _SQLITE_UNWRITABLE:
        return DatabaseReadOnlyError(
            f"the SQLite database {path} cannot be opened for writing ({exc.orig}): check "
            "that the file and its directory are writable and the disk is not read-only"
        )
    if code & 0xFF in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
        raw = conn.connection.driver_connection if conn is not None else None
        waited = raw.execute("PRAGMA busy_timeout").fetchone()[0] / 1000 if raw else 0
        return DatabaseLockedError(
            f"the SQLite database {path} is locked by another process (gave up after "
            f"waiting {waited:g} s for its write lock); try again when that process finishes"
        )
    return exc


def alembic_config() -> Config:
    """An alembic `Config` pointing at the packaged migrations, without an ini file."""
    from alembic.config import Config  # see `upgrade_database`: only when migrating

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


_REVISION_LINE = re.compile(r"^(down_revision|revision)\b[^=\n]*=\s*['\"]?([\w-]+)", re.MULTILINE)


@functools.cache
def head_revision() -> str | None:
    """The newest migration's revision, read from the files (None if there is not one head).

    Read as text so that a database already at head is recognised without importing
    alembic; `tests/storage/test_migrations.py` checks it against alembic's own answer.
    """
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in (MIGRATIONS_DIR / "versions").glob("*.py"):
        found = {m[1]: m[2] for m in _REVISION_LINE.finditer(path.read_text("utf-8"))}
        if "revision" in found:
            revisions.add(found["revision"])
            parents.add(found.get("down_revision", "None"))
    heads = revisions - parents
    return heads.pop() if len(heads) == 1 else None


def _current_revision(conn: Connection) -> str | None:
    """The revision alembic recorded in this database, or None (a new database)."""
    if not inspect(conn).has_table("alembic_version"):
        return None
    value = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
    return None if value is None else str(value)


def upgrade_database(url_or_engine: str | URL | Engine, revision: str = "head") -> None:
    """Create or upgrade the database schema with the alembic migrations (`head` by default).

    The whole upgrade runs in one transaction holding the write lock (SQLite
    `BEGIN IMMEDIATE`, a PostgreSQL advisory lock), so two processes starting at once do
    not both try to create the tables, and a failed migration leaves nothing behind.
    """
    engine = url_or_engine if isinstance(url_or_engine, Engine) else make_engine(url_or_engine)
    try:
        with _connect(engine) as conn:
            set_begin_mode(conn, "IMMEDIATE")
            try:
                transaction = conn.begin()
            except OperationalError as exc:
                raise _sqlite_error(conn.engine, exc, conn) from None
            with transaction:
                if conn.dialect.name == "postgresql":
                    key = advisory_key(conn, "migrations")
                    conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})
                if revision == "head" and _current_revision(conn) == head_revision():
                    return  # the usual case: nothing to migrate
                # alembic costs ~160 ms to import: paid only when there is something to do.
                from alembic import command

                config = alembic_config()
                config.attributes["connection"] = conn
                command.upgrade(config, revision)
    finally:
        if engine is not url_or_engine:
            engine.dispose()
