"""`make_engine`: the settings a safe sync relies on, per database."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import StatementError

from storage import City, recent_runs, sync_dataset
from storage.db import make_engine, set_begin_mode

from .data import CITIES, cities


def test_sqlite_connections_are_set_up_for_safe_writes(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'x.db'}", busy_timeout=7)
    try:
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 7000
            assert conn.exec_driver_sql("PRAGMA journal_size_limit").scalar() == 64 * 1024**2
    finally:
        engine.dispose()


def test_sqlite_begin_immediate_takes_the_write_lock_up_front(tmp_path: Path) -> None:
    path = tmp_path / "x.db"
    engine = make_engine(f"sqlite:///{path}")
    other = sqlite3.connect(path, timeout=0, isolation_level=None)
    try:
        with engine.connect() as conn:
            set_begin_mode(conn, "IMMEDIATE")
            with conn.begin():
                # Nothing written yet, and still no one else may start writing.
                with pytest.raises(sqlite3.OperationalError, match="locked"):
                    other.execute("BEGIN IMMEDIATE")
                # Readers are not blocked (WAL).
                assert other.execute("SELECT 1").fetchone() == (1,)
        other.execute("BEGIN IMMEDIATE")
        other.execute("ROLLBACK")
    finally:
        other.close()
        engine.dispose()


def test_sqlite_ddl_is_transactional(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'x.db'}")
    try:
        with engine.connect() as conn:
            with conn.begin() as transaction:
                conn.execute(text("CREATE TABLE t (x INTEGER)"))
                transaction.rollback()
            tables = conn.exec_driver_sql("SELECT name FROM sqlite_master").scalars().all()
        assert "t" not in tables
    finally:
        engine.dispose()


def test_plain_postgresql_urls_use_psycopg() -> None:
    engine = make_engine("postgresql://postgres@127.0.0.1:5432/test")
    try:
        assert engine.dialect.driver == "psycopg"
    finally:
        engine.dispose()


def test_unsupported_databases_are_refused() -> None:
    with pytest.raises(ValueError, match="unsupported database 'mysql'"):
        make_engine("mysql://localhost/x")


def test_timestamps_come_back_aware_utc(engine: Engine) -> None:
    sync_dataset(engine, CITIES, [cities(1)], now=datetime(2026, 5, 1, 14, 0, tzinfo=UTC))
    (run,) = recent_runs(engine)
    assert run.started_at == datetime(2026, 5, 1, 14, 0, tzinfo=UTC)
    assert run.started_at.utcoffset() == timedelta(0)


def test_other_zones_are_stored_as_utc(engine: Engine) -> None:
    plus_two = timezone(timedelta(hours=2))
    sync_dataset(engine, CITIES, [cities(1)], now=datetime(2026, 5, 1, 16, 0, tzinfo=plus_two))
    (run,) = recent_runs(engine)
    assert run.started_at == datetime(2026, 5, 1, 14, 0, tzinfo=UTC)
    assert run.started_at.tzinfo == UTC


def test_naive_timestamps_are_refused(engine: Engine) -> None:
    naive = datetime(2026, 5, 1, 14, 0)  # noqa: DTZ001  (the point of the test)
    with engine.begin() as conn, pytest.raises(StatementError, match="naive datetime"):
        conn.execute(
            City.__table__.insert().values(  # type: ignore[attr-defined]
                id=1,
                name="x",
                country_code="DE",
                population=1,
                latitude=0.0,
                longitude=0.0,
                timezone="UTC",
                extra={},
                first_seen_at=naive,
                updated_at=naive,
                content_hash="0" * 64,
            )
        )
