"""Writing one read of one dataset in batches, inside the caller's transaction.

Pages are written as they arrive, in batches, so memory stays flat whatever the size of
the dataset. Per batch:

1. every key of the batch goes into a temporary "seen" table whose primary key is the
   key, which also catches a key delivered twice in one read (a key repeated within
   the batch is caught before, in Python);
2. one SELECT fetches the stored `content_hash` and `deleted_at` of the batch's keys;
3. new rows, changed rows and rows coming back after a delete are written with one
   bulk upsert (`storage.statements`): on SQLite an executemany of parameter tuples (see
   `storage._rows`), on PostgreSQL the same tuples streamed by `COPY` into a temporary
   stage and merged by one `INSERT ... SELECT ... ON CONFLICT`; unchanged rows are not
   written at all;
4. with change tracking on, before that upsert, the change log (`storage.changes`) reads
   the old values of the changed keys only and records every new and changed key.

An initial load (the table has no row at all) skips the seen table: any stored row a
batch's SELECT finds was written by this very read, so it is a duplicate, and there is
nothing to sweep.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError

from ._canonical import _encode_batch
from ._rows import RowBuilder
from .changes import ChangeLog
from .changes import keys_param as keys_param_of
from .dataset_tables import DatasetTable
from .statements import seen_table, stage_table, statements

#: Items per write batch: big enough to amortise each statement, small enough for memory.
DEFAULT_BATCH_SIZE = 2000


@dataclass
class Counts:
    """What a sync did to the rows: the numbers its `sync_runs` row records."""

    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    deleted: int = 0

    @property
    def seen(self) -> int:
        """How many items the read delivered."""
        return self.inserted + self.updated + self.unchanged


class BatchWriter:
    """Writes one read of one dataset inside the caller's transaction.

    `write(pages)` first, then the sync may sweep (`initial_load`, `seen` and `sql` tell
    it how), then `finish()`. With `track_changes`, `changes` is the run's `ChangeLog`
    (the writer records inserts, updates and restores; the sweep the deletes).
    """

    def __init__(
        self,
        conn: Connection,
        spec: DatasetTable,
        *,
        run_id: int,
        now: datetime,
        batch_size: int,
        track_changes: bool = True,
    ) -> None:
        self.conn = conn
        self.spec = spec
        self.run_id = run_id
        self.now = now
        self.batch_size = batch_size
        self.dialect = conn.dialect.name
        self.sql = statements(spec, self.dialect)
        self.rows = RowBuilder(spec, conn.dialect)
        self.seen = seen_table(spec)
        self.counts = Counts()
        self.changes = ChangeLog(conn, spec, run_id=run_id) if track_changes else None
        self._batches = 0
        # An initial load (the table has no row at all, not even a deleted one) needs no
        # seen table: every row found by a batch's SELECT was written by this read, so
        # it is a duplicate, and there is nothing to sweep afterwards.
        self.initial_load = False

    def write(self, pages: Iterable[list[dict[str, Any]]]) -> Counts:
        """Write every page; return what happened to the rows."""
        self.initial_load = self.conn.execute(self.sql.any_row).first() is None
        if not self.initial_load:
            if self.dialect == "sqlite":
                # A leftover from a connection that died mid-sync would make CREATE fail.
                self.seen.drop(self.conn, checkfirst=True)
            self.seen.create(self.conn)
        if self.sql.copy_stage is not None:
            stage = stage_table(self.spec)
            # Dropped at commit; a rolled-back sync leaves nothing either.
            stage.drop(self.conn, checkfirst=True)
            stage.create(self.conn)
        size = self.batch_size
        pending: list[dict[str, Any]] = []
        for page in pages:
            pending.extend(page)
            while len(pending) >= size:
                self._flush(pending[:size])
                del pending[:size]
        if pending:
            self._flush(pending)
        return self.counts

    def _flush(self, items: list[dict[str, Any]]) -> None:
        conn = self.conn
        sql = self.sql
        batch = self.rows.index(items)
        keys = list(batch)
        keys_param = keys_param_of(keys, self.dialect)
        self._batches += 1
        if not self.initial_load:
            seen = conn.execute(sql.record_seen, {"keys": keys_param, "batch": self._batches})
            if seen.rowcount != len(keys):
                self._raise_duplicate(keys, keys_param)
        # On the DBAPI cursor: SQLAlchemy's `Row` objects cost ~1 µs each, and an unchanged
        # re-sync reads back every row.
        cursor = conn.connection.cursor()
        try:
            cursor.execute(sql.existing, (keys_param,))
            existing = {row[0]: (row[1], row[2]) for row in cursor.fetchall()}
        finally:
            cursor.close()
        if existing and self.initial_load:
            raise self.rows.duplicate(next(k for k in keys if k in existing))
        existing_get = existing.get
        sha256 = hashlib.sha256
        new: list[tuple[Any, str, dict[str, Any]]] = []
        changed: list[tuple[Any, str, dict[str, Any]]] = []
        encoded = _encode_batch(list(batch.values()))
        for (key, item), data in zip(batch.items(), encoded, strict=True):
            digest = sha256(data).hexdigest()
            old = existing_get(key)
            if old is None:
                new.append((key, digest, item))
            elif old[1] or old[0] != digest:
                changed.append((key, digest, item))
        counts = self.counts
        counts.inserted += len(new)
        counts.updated += len(changed)
        counts.unchanged += len(batch) - len(new) - len(changed)
        if self.changes is not None and not self.initial_load and (new or changed):
            # Before the upsert: the change log reads the old values it replaces. A first
            # load records one entry for the whole table instead (`sync_dataset`).
            restored = frozenset(key for key, _, _ in changed if existing[key][1])
            self.changes.record_batch(new, changed, restored)
        if new or changed:
            rows = self.rows.rows(new + changed, now=self.now, run_id=self.run_id)
            if sql.copy_stage is None:
                conn.exec_driver_sql(sql.upsert, rows)
            else:
                self._merge_staged(rows)

    def _merge_staged(self, rows: list[tuple[Any, ...]]) -> None:
        # PostgreSQL: COPY streams the batch in one round trip (psycopg's `Copy`) where an
        # executemany binds every row as a statement of its own (benchmarks/README.md).
        sql = self.sql
        assert sql.copy_stage and sql.merge_stage and sql.clear_stage
        conn = self.conn
        dialect = conn.dialect
        cursor = conn.connection.cursor()
        try:
            with cursor.copy(sql.copy_stage) as copy:
                write_row = copy.write_row
                for row in rows:
                    write_row(row)
        except dialect.loaded_dbapi.Error as exc:
            # As SQLAlchemy raises a driver's error everywhere else (`DBAPIError` and its
            # subclasses), and with the connection invalidated when the server is gone.
            gone = dialect.is_disconnect(exc, conn.connection.dbapi_connection, cursor)
            if gone:
                conn.invalidate(exc)
            raise DBAPIError.instance(
                sql.copy_stage,
                None,
                exc,
                dialect.loaded_dbapi.Error,
                connection_invalidated=gone,
                dialect=dialect,
            ) from exc
        finally:
            cursor.close()
        conn.exec_driver_sql(sql.merge_stage)
        conn.exec_driver_sql(sql.clear_stage)

    def _raise_duplicate(self, keys: list[int | str], keys_param: Any) -> None:
        found = set(
            self.conn.execute(
                self.sql.find_duplicates, {"keys": keys_param, "batch": self._batches}
            ).scalars()
        )
        first = next((k for k in keys if k in found), keys[0])
        raise self.rows.duplicate(first)

    def finish(self) -> None:
        """Drop the seen table (PostgreSQL drops it at commit by itself)."""
        if self.dialect == "sqlite" and not self.initial_load:
            self.seen.drop(self.conn)
