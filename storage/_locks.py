"""The per-dataset write lock a sync holds for its whole transaction.

SQLite has one writer at a time: the lock is the database write lock, taken up front by
`BEGIN IMMEDIATE`, and waited for through `PRAGMA busy_timeout`. PostgreSQL gets a
transaction-level advisory lock on a stable hash of the schema and dataset name, waited
for at most `lock_timeout` (PostgreSQL's own `lock_timeout` applies to advisory locks).
Either way the lock goes away with the transaction, so a crashed sync cannot leave it held.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Connection, RootTransaction, text
from sqlalchemy.exc import OperationalError

from .db import advisory_key, set_begin_mode
from .errors import SyncLockedError

#: PostgreSQL's SQLSTATE for a lock not granted within `lock_timeout`.
LOCK_NOT_AVAILABLE = "55P03"

__all__ = ["begin_locked", "begin_write"]


def _locked(dataset: str, lock_timeout: float, *, sqlite_lock: bool = False) -> SyncLockedError:
    # SQLite's lock covers the whole database: the holder may be any writer.
    holder = (
        " (or another write to the SQLite database)"
        if sqlite_lock
        else " (it holds the dataset's PostgreSQL advisory lock)"
    )
    return SyncLockedError(
        f"another sync of {dataset!r} is running{holder}; gave up waiting for it after "
        f"{lock_timeout:g} s (the lock timeout); try again when it finishes",
        dataset=dataset,
    )


@contextmanager
def _sqlite_busy_timeout(conn: Connection, seconds: float) -> Iterator[None]:
    """Wait up to `seconds` for the write lock, then restore the connection's own timeout."""
    # On the driver connection: through SQLAlchemy the PRAGMA would autobegin a transaction.
    raw = conn.connection.driver_connection
    assert raw is not None
    previous = raw.execute("PRAGMA busy_timeout").fetchone()[0]
    raw.execute(f"PRAGMA busy_timeout = {min(max(0, int(seconds * 1000)), 2**31 - 1)}")
    try:
        yield
    finally:
        raw.execute(f"PRAGMA busy_timeout = {int(previous)}")


def begin_locked(conn: Connection, dataset: str, lock_timeout: float) -> RootTransaction:
    """Begin the sync transaction of `dataset` on `conn` holding its write lock.

    Waits at most `lock_timeout` seconds; raises `SyncLockedError` (with nothing begun)
    if another sync of the dataset keeps the lock longer.
    """
    if conn.dialect.name == "sqlite":
        return _begin_sqlite(conn, dataset, lock_timeout)
    return _begin_postgresql(conn, dataset, lock_timeout)


def _begin_sqlite(conn: Connection, dataset: str, lock_timeout: float) -> RootTransaction:
    set_begin_mode(conn, "IMMEDIATE")
    with _sqlite_busy_timeout(conn, lock_timeout):
        try:
            return conn.begin()
        except OperationalError as exc:
            if getattr(exc.orig, "sqlite_errorcode", None) in (
                sqlite3.SQLITE_BUSY,
                sqlite3.SQLITE_LOCKED,
            ):
                raise _locked(dataset, lock_timeout, sqlite_lock=True) from None
            raise
        finally:
            # Later transactions on this pooled connection go back to plain BEGIN.
            set_begin_mode(conn, "DEFERRED")


def _begin_postgresql(conn: Connection, dataset: str, lock_timeout: float) -> RootTransaction:
    transaction = conn.begin()
    try:
        previous = conn.execute(text("SELECT current_setting('lock_timeout')")).scalar_one()
        conn.execute(
            text("SELECT set_config('lock_timeout', :value, true)"),
            # 0 would mean "wait forever" to PostgreSQL; its maximum is INT_MAX ms.
            {"value": f"{min(max(1, int(lock_timeout * 1000)), 2**31 - 1)}ms"},
        )
        conn.execute(
            text("SELECT pg_advisory_xact_lock(:key)"), {"key": advisory_key(conn, dataset)}
        )
        # The rest of the sync waits for row locks as the server is configured to.
        conn.execute(text("SELECT set_config('lock_timeout', :value, true)"), {"value": previous})
    except OperationalError as exc:
        transaction.rollback()
        # SQLSTATE 55P03 is lock_not_available (by code: psycopg's error classes cost
        # ~160 ms to import, which a SQLite sync should not pay).
        if getattr(exc.orig, "sqlstate", None) == LOCK_NOT_AVAILABLE:
            raise _locked(dataset, lock_timeout) from None
        raise
    except BaseException:
        transaction.rollback()
        raise
    return transaction


def begin_write(conn: Connection, timeout: float) -> RootTransaction:
    """Begin a short write transaction (run bookkeeping), waiting at most `timeout` on SQLite.

    PostgreSQL needs no lock for it: rows of `sync_runs` are only touched by their own
    sync, and row locks there are never held for long.
    """
    if conn.dialect.name != "sqlite":
        return conn.begin()
    set_begin_mode(conn, "IMMEDIATE")
    try:
        with _sqlite_busy_timeout(conn, timeout):
            return conn.begin()
    finally:
        set_begin_mode(conn, "DEFERRED")
