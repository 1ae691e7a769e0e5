"""Syncing a dataset into its table: `sync_dataset`, and the small reads around it.

One sync is one transaction per dataset, holding the dataset's write lock (see
`storage._locks`). Pages are written as they arrive, in batches, so memory stays flat
whatever the size of the dataset:

1. every key of the batch goes into a temporary "seen" table whose primary key is the
   key, which also catches a key delivered twice in one read (a key repeated within
   the batch is caught before, in Python);
2. one SELECT fetches the stored `content_hash` and `deleted_at` of the batch's keys;
3. new rows, changed rows and rows coming back after a delete are written with one
   bulk `INSERT ... ON CONFLICT (key) DO UPDATE`, executemany of parameter tuples
   (see `storage._rows`); unchanged rows are not written at all.

An initial load (the table has no row at all) skips the seen table: any stored row a
batch's SELECT finds was written by this very read, so it is a duplicate, and there is
nothing to sweep.

After the last page the sweep marks `deleted_at` on live rows the read did not deliver
(never removing a row), unless that would touch more than `max_delete_fraction` of the
live rows or the read was empty: then `MassDeleteRefusedError` and nothing changes. The
ETags and `dataset_state` are saved, and the run row finished, in the same transaction.

Run rows (`sync_runs`): on PostgreSQL the `running` row is committed in a short side
transaction as soon as the lock is held, so `status` shows a sync in progress and a
crashed process leaves a `running` row behind (the next sync of the dataset marks it
`failed`, "interrupted"). SQLite allows one writer at a time and the sync holds that
lock, so there the run row is written inside the data transaction and vanishes with it
on a crash. Either way the final status is written in the data transaction, so a
`succeeded` row exists exactly when the data committed; on failure the data transaction
rolls back and a short transaction afterwards records `failed` with a one-line error.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from typing import Any, Protocol

from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    Engine,
    Integer,
    MetaData,
    Table,
    Text,
    and_,
    any_,
    bindparam,
    case,
    cast,
    exists,
    func,
    insert,
    literal,
    select,
    text,
    update,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql.expression import Executable
from sqlmodel import Session, col
from sqlmodel import select as sm_select

from ._locks import begin_locked, begin_write
from ._rows import RowBuilder, _encode_batch, positional_dialect
from .errors import MassDeleteRefusedError, StorageError
from .tables import DATASETS, DatasetSpec, DatasetState, RunStatus, SyncRun

__all__ = [
    "DEFAULT_BATCH_SIZE",
    "PageSource",
    "SyncResult",
    "dataset_counts",
    "load_etags",
    "recent_runs",
    "sync_dataset",
]

logger = logging.getLogger("storage.upsert")

#: Items per write batch: big enough to amortise each statement, small enough for memory.
DEFAULT_BATCH_SIZE = 2000

#: Longest error text kept in `sync_runs.error`.
_MAX_ERROR_CHARS = 500

_RUNS = SyncRun.__table__  # type: ignore[attr-defined]
_STATE = DatasetState.__table__  # type: ignore[attr-defined]


class PageSource(Protocol):
    """What `sync_dataset` reads: pages of wire items, then what the read learned.

    Any iterable of `list[dict]` works; `not_modified` and `etags` are read with
    `getattr` after the iteration, so a plain list of pages counts as a modified
    dataset without ETags. `partner_api.DatasetRead` is one.
    """

    not_modified: bool
    etags: dict[str, str]

    def __iter__(self) -> Iterator[list[dict[str, Any]]]:
        """Yield the pages in order."""
        ...


@dataclass(frozen=True)
class SyncResult:
    """What one `sync_dataset` call did.

    `status` is `succeeded` or `not_modified` (a failed sync raises instead; `error` is
    there for callers that build a result for a failure themselves). The counts are rows:
    `inserted` new, `updated` changed or back after a delete, `unchanged` delivered
    but not written, `deleted` newly marked deleted. `run_id` is the `sync_runs` row.
    """

    dataset: str
    status: str
    inserted: int
    updated: int
    unchanged: int
    deleted: int
    run_id: int | None
    seconds: float
    error: str | None = None


def sync_dataset(
    engine: Engine,
    dataset: str,
    pages: PageSource | Iterable[list[dict[str, Any]]],
    *,
    max_delete_fraction: float = 0.5,
    allow_mass_delete: bool = False,
    lock_timeout: float = 30.0,
    batch_size: int = DEFAULT_BATCH_SIZE,
    now: datetime | None = None,
) -> SyncResult:
    """Make the table of `dataset` equal to what `pages` delivers, in one transaction.

    Inserts new rows, updates changed ones (and ones that come back after a delete),
    leaves unchanged rows unwritten and marks rows the source no longer has as deleted.
    Waits up to `lock_timeout` seconds for another sync of the dataset
    (`SyncLockedError`). Refuses to mark more than `max_delete_fraction` of the live rows
    deleted, or any when the read is empty, unless `allow_mass_delete`
    (`MassDeleteRefusedError`). On any error the transaction rolls back completely, a
    `failed` run is recorded, and the error is re-raised. `now` fixes the timestamps
    (tests); by default it is the current UTC time.
    """
    spec = _spec_of(dataset)
    if not 0.0 <= max_delete_fraction <= 1.0:
        raise ValueError(f"max_delete_fraction must be within 0..1, not {max_delete_fraction}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, not {batch_size}")
    if now is not None and now.tzinfo is None:
        raise ValueError("now must be timezone-aware (UTC)")
    stamp = now or datetime.now(UTC)
    started = time.perf_counter()
    run_id: int | None = None
    with engine.connect() as conn:
        transaction = begin_locked(conn, dataset, lock_timeout)
        try:
            with transaction:
                run_id = _start_run(engine, conn, dataset, stamp)
                writer = _Writer(conn, spec, run_id=run_id, now=stamp, batch_size=batch_size)
                counts = writer.write(pages)
                not_modified = bool(getattr(pages, "not_modified", False))
                if not_modified:
                    if counts.seen:
                        raise StorageError(
                            f"the {dataset} read says not modified but delivered "
                            f"{counts.seen} items; nothing was changed, read it again"
                        )
                    status = RunStatus.NOT_MODIFIED
                else:
                    counts.deleted = writer.sweep(
                        max_delete_fraction=max_delete_fraction,
                        allow_mass_delete=allow_mass_delete,
                    )
                    status = RunStatus.SUCCEEDED
                writer.drop_seen()
                etags = None if not_modified else dict(getattr(pages, "etags", None) or {})
                _save_state(conn, dataset, run_id=run_id, at=stamp, etags=etags)
                _finish_run(conn, run_id, status, counts, finished=now or datetime.now(UTC))
        except BaseException as exc:
            _record_failure(engine, dataset, run_id, stamp, exc, lock_timeout, now)
            raise
    seconds = time.perf_counter() - started
    logger.info(
        "%s: %s in %.2fs (inserted %d, updated %d, unchanged %d, deleted %d, run %s)",
        dataset,
        status.value,
        seconds,
        counts.inserted,
        counts.updated,
        counts.unchanged,
        counts.deleted,
        run_id,
    )
    return SyncResult(
        dataset=dataset,
        status=status.value,
        inserted=counts.inserted,
        updated=counts.updated,
        unchanged=counts.unchanged,
        deleted=counts.deleted,
        run_id=run_id,
        seconds=seconds,
    )


def _spec_of(dataset: str) -> DatasetSpec:
    try:
        return DATASETS[dataset]
    except KeyError:
        known = ", ".join(sorted(DATASETS))
        raise ValueError(f"unknown dataset {dataset!r}; known datasets: {known}") from None


@dataclass
class _Counts:
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    deleted: int = 0

    @property
    def seen(self) -> int:
        return self.inserted + self.updated + self.unchanged


# --- the data transaction ---------------------------------------------------------------


@cache
def _seen_table(dataset: str) -> Table:
    """The temporary table of the keys one read delivered (key, batch number)."""
    spec = DATASETS[dataset]
    key_type = BigInteger().with_variant(Integer(), "sqlite") if spec.key_type is int else Text()
    return Table(
        f"partner_sync_seen_{spec.name}",
        MetaData(),
        # SQLite: INTEGER PRIMARY KEY makes the key the rowid, the cheapest index it has.
        Column("key", key_type, primary_key=True, autoincrement=False),
        Column("batch", Integer, nullable=False),
        prefixes=["TEMPORARY"],
        postgresql_on_commit="DROP",
    )


@dataclass(frozen=True)
class _Statements:
    """Every statement one dataset's sync runs, built once per dataset and dialect."""

    record_seen: Executable
    find_duplicates: Executable
    existing: str
    any_row: Executable
    count_live_and_gone: Executable
    mark_gone: Executable


@cache
def _statements(dataset: str, dialect: str) -> _Statements:
    spec = DATASETS[dataset]
    table = spec.core
    seen = _seen_table(dataset)
    key = table.c[spec.key]
    key_sql_type = BigInteger() if spec.key_type is int else Text()
    if dialect == "postgresql":
        # One array parameter per batch: a single round trip, and a rowcount we can trust.
        keys_param: Any = cast(bindparam("keys"), postgresql.ARRAY(key_sql_type))
        record_seen: Executable = text(
            f"INSERT INTO {seen.name} (key, batch) "
            f"SELECT k, :batch FROM unnest(CAST(:keys AS {key_sql_type}[])) AS k "
            "ON CONFLICT DO NOTHING"
        )
        batch_keys = select(func.unnest(keys_param))
        in_batch: Any = key == any_(keys_param)
    else:
        # SQLite has no arrays: the batch's keys travel as one JSON array.
        record_seen = text(
            f"INSERT INTO {seen.name} (key, batch) SELECT value, :batch FROM json_each(:keys) "
            "WHERE true ON CONFLICT DO NOTHING"
        )
        each = func.json_each(bindparam("keys")).table_valued("value")
        batch_keys = select(each.c.value)
        in_batch = key.in_(batch_keys)
    find_duplicates = select(seen.c.key).where(
        seen.c.key.in_(batch_keys), seen.c.batch < bindparam("batch")
    )
    # Run as driver SQL: a batch returns thousands of rows, and they need no conversion.
    existing = select(key, table.c.content_hash, table.c.deleted_at.is_not(None)).where(in_batch)
    existing_sql = str(existing.compile(dialect=positional_dialect(dialect)))
    live = table.c.deleted_at.is_(None)
    gone = and_(live, ~exists().where(seen.c.key == key))
    return _Statements(
        record_seen=record_seen,
        find_duplicates=find_duplicates,
        existing=existing_sql,
        any_row=select(literal(1)).select_from(table).limit(1),
        # One scan for both numbers the safety valve needs.
        count_live_and_gone=select(
            func.count(), func.coalesce(func.sum(case((gone, 1), else_=0)), 0)
        )
        .select_from(table)
        .where(live),
        mark_gone=update(table)
        .where(gone)
        .values(deleted_at=bindparam("now"), updated_at=bindparam("now")),
    )


class _Writer:
    """Writes one read of one dataset inside the caller's transaction."""

    def __init__(
        self, conn: Connection, spec: DatasetSpec, *, run_id: int, now: datetime, batch_size: int
    ) -> None:
        self.conn = conn
        self.spec = spec
        self.run_id = run_id
        self.now = now
        self.batch_size = batch_size
        self.dialect = conn.dialect.name
        self.sql = _statements(spec.name, self.dialect)
        self.rows = RowBuilder(spec, conn.dialect)
        self.seen = _seen_table(spec.name)
        self.counts = _Counts()
        self._batches = 0
        # An initial load (the table has no row at all, not even a deleted one) needs no
        # seen table: every row found by a batch's SELECT was written by this read, so
        # it is a duplicate, and there is nothing to sweep afterwards.
        self.initial_load = False

    def write(self, pages: Iterable[list[dict[str, Any]]]) -> _Counts:
        """Write every page; return what happened to the rows."""
        self.initial_load = self.conn.execute(self.sql.any_row).first() is None
        if not self.initial_load:
            if self.dialect == "sqlite":
                # A leftover from a connection that died mid-sync would make CREATE fail.
                self.seen.drop(self.conn, checkfirst=True)
            self.seen.create(self.conn)
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

    def _keys_param(self, keys: list[Any]) -> Any:
        return keys if self.dialect == "postgresql" else json.dumps(keys)

    def _flush(self, items: list[dict[str, Any]]) -> None:
        conn = self.conn
        sql = self.sql
        batch = self.rows.index(items)
        keys = list(batch)
        keys_param = self._keys_param(keys)
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
        if new or changed:
            rows = self.rows.rows(new + changed, now=self.now, run_id=self.run_id)
            conn.exec_driver_sql(self.rows.upsert_sql, rows)

    def _raise_duplicate(self, keys: list[int | str], keys_param: Any) -> None:
        found = set(
            self.conn.execute(
                self.sql.find_duplicates, {"keys": keys_param, "batch": self._batches}
            ).scalars()
        )
        first = next((k for k in keys if k in found), keys[0])
        raise self.rows.duplicate(first)

    def sweep(self, *, max_delete_fraction: float, allow_mass_delete: bool) -> int:
        """Mark live rows the read did not deliver as deleted; return how many."""
        if self.initial_load:
            return 0  # every row in the table came from this read
        conn = self.conn
        dataset = self.spec.name
        if self.dialect == "postgresql":
            # Temporary tables are never auto-analysed; without statistics the planner
            # may not pick a hashed anti-join for a million keys.
            conn.execute(text(f"ANALYZE {self.seen.name}"))
        live, gone = conn.execute(self.sql.count_live_and_gone).one()
        if gone == 0:
            return 0
        if not allow_mass_delete:
            if self.counts.seen == 0:
                raise MassDeleteRefusedError(
                    f"the {dataset} read returned no items: refusing to mark all {live} live "
                    f"rows deleted; rerun with --allow-mass-delete if the source really "
                    "dropped them",
                    would_delete=gone,
                    live=live,
                    limit=max_delete_fraction,
                )
            if gone > max_delete_fraction * live:
                raise MassDeleteRefusedError(
                    f"refusing to mark {gone} of {live} live {dataset} rows deleted "
                    f"({gone / live:.1%}, limit {max_delete_fraction:.0%}); rerun with "
                    "--allow-mass-delete if the source really dropped them",
                    would_delete=gone,
                    live=live,
                    limit=max_delete_fraction,
                )
        marked = conn.execute(self.sql.mark_gone, {"now": self.now}).rowcount
        return int(marked)

    def drop_seen(self) -> None:
        """Drop the seen table (PostgreSQL drops it at commit by itself)."""
        if self.dialect == "sqlite" and not self.initial_load:
            self.seen.drop(self.conn)


# --- run rows and dataset state -------------------------------------------------------------


def _start_run(engine: Engine, conn: Connection, dataset: str, started: datetime) -> int:
    """Insert the `running` row (see the module docstring for where); return its id."""
    if conn.dialect.name == "postgresql":
        with engine.begin() as side:
            return _insert_running(side, dataset, started)
    return _insert_running(conn, dataset, started)


def _insert_running(conn: Connection, dataset: str, started: datetime) -> int:
    # The caller holds the dataset's lock, so any other `running` row of the dataset
    # belongs to a sync that died without recording its end.
    conn.execute(
        update(_RUNS)
        .where(_RUNS.c.dataset == dataset, _RUNS.c.status == RunStatus.RUNNING.value)
        .values(
            status=RunStatus.FAILED.value,
            finished_at=started,
            error="interrupted: the process stopped before the sync finished",
        )
    )
    result = conn.execute(
        insert(_RUNS).values(
            dataset=dataset,
            started_at=started,
            status=RunStatus.RUNNING.value,
            inserted=0,
            updated=0,
            unchanged=0,
            deleted=0,
        )
    )
    key = result.inserted_primary_key
    if key is None:  # pragma: no cover  (both databases return the new id)
        raise StorageError("the database did not return the id of the new sync run")
    return int(key[0])


def _finish_run(
    conn: Connection, run_id: int, status: RunStatus, counts: _Counts, *, finished: datetime
) -> None:
    conn.execute(
        update(_RUNS)
        .where(_RUNS.c.id == run_id)
        .values(
            status=status.value,
            finished_at=finished,
            inserted=counts.inserted,
            updated=counts.updated,
            unchanged=counts.unchanged,
            deleted=counts.deleted,
            error=None,
        )
    )


def _save_state(
    conn: Connection, dataset: str, *, run_id: int, at: datetime, etags: dict[str, str] | None
) -> None:
    """Upsert `dataset_state`; `etags=None` keeps the stored ETags (not modified)."""
    values: dict[str, Any] = {"last_success_run_id": run_id, "last_success_at": at}
    if etags is not None:
        values["etags"] = etags
    changed = conn.execute(
        update(_STATE).where(_STATE.c.dataset == dataset).values(**values)
    ).rowcount
    if changed == 0:
        conn.execute(insert(_STATE).values({"dataset": dataset, "etags": etags or {}, **values}))


def _error_line(exc: BaseException) -> str:
    """One line naming the error, without the SQL and parameters SQLAlchemy appends."""
    source: BaseException = exc
    if isinstance(exc, DBAPIError) and exc.orig is not None:
        source = exc.orig
    message = " ".join(str(source).split())
    line = f"{type(source).__name__}: {message}" if message else type(source).__name__
    return line[:_MAX_ERROR_CHARS]


def _record_failure(
    engine: Engine,
    dataset: str,
    run_id: int | None,
    started: datetime,
    exc: BaseException,
    lock_timeout: float,
    now: datetime | None,
) -> None:
    """Record a `failed` run after the data transaction rolled back; never raise."""
    error = _error_line(exc)
    finished = now or datetime.now(UTC)
    values = {"status": RunStatus.FAILED.value, "finished_at": finished, "error": error}
    try:
        with engine.connect() as conn, begin_write(conn, lock_timeout):
            updated = 0
            if run_id is not None:
                updated = conn.execute(
                    update(_RUNS).where(_RUNS.c.id == run_id).values(**values)
                ).rowcount
            if updated == 0:
                # SQLite: the run row went away with the rolled back transaction.
                conn.execute(
                    insert(_RUNS).values(
                        dataset=dataset,
                        started_at=started,
                        inserted=0,
                        updated=0,
                        unchanged=0,
                        deleted=0,
                        **values,
                    )
                )
    except Exception as record_exc:  # the sync's own error matters more: re-raised by the caller
        logger.warning(
            "%s: could not record the failed run (%s); the sync failed with: %s",
            dataset,
            _error_line(record_exc),
            error,
        )
    else:
        logger.warning("%s: sync failed and was rolled back: %s", dataset, error)


# --- reads for callers and the `status` command ---------------------------------------------


def load_etags(engine: Engine, dataset: str) -> dict[str, str]:
    """The ETags stored by the last successful sync of `dataset` (`{}` when none)."""
    _spec_of(dataset)
    with Session(engine) as session:
        state = session.get(DatasetState, dataset)
        return dict(state.etags) if state is not None else {}


def dataset_counts(engine: Engine) -> dict[str, tuple[int, int]]:
    """For every dataset, `(live rows, rows marked deleted)`."""
    counts: dict[str, tuple[int, int]] = {}
    with engine.connect() as conn:
        for name, spec in DATASETS.items():
            table = spec.core
            total, deleted = conn.execute(
                select(func.count(), func.count(table.c.deleted_at)).select_from(table)
            ).one()
            counts[name] = (int(total) - int(deleted), int(deleted))
    return counts


def recent_runs(engine: Engine, limit: int = 20, dataset: str | None = None) -> list[SyncRun]:
    """The latest `limit` sync runs, newest first (of one `dataset` if given)."""
    statement = sm_select(SyncRun).order_by(col(SyncRun.id).desc()).limit(limit)
    if dataset is not None:
        statement = statement.where(SyncRun.dataset == dataset)
    with Session(engine, expire_on_commit=False) as session:
        return list(session.exec(statement).all())
