"""The run log: a `sync_runs` row per sync, and `dataset_state` (ETags, last success).

On PostgreSQL the `running` row is committed in a short side transaction as soon as the
lock is held, so `status` shows a sync in progress and a crashed process leaves a
`running` row behind (the next sync of the dataset marks it `failed`, "interrupted").
SQLite allows one writer at a time and the sync holds that lock, so there the run row is
written inside the data transaction and vanishes with it on a crash. Either way the final
status is written in the data transaction, so a `succeeded` row exists exactly when the
data committed; on failure the data transaction rolls back and a short transaction
afterwards records `failed` with a one-line error.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine, insert, update
from sqlalchemy.exc import DBAPIError

from ._locks import begin_write
from .dataset_tables import DatasetTable
from .errors import StorageError
from .tables import DatasetState, RunStatus, SyncRun
from .writer import Counts

logger = logging.getLogger("storage.runlog")

#: Longest error text kept in `sync_runs.error`.
_MAX_ERROR_CHARS = 500

_RUNS = SyncRun.__table__  # type: ignore[attr-defined]
_STATE = DatasetState.__table__  # type: ignore[attr-defined]

#: A run row before it has counted anything.
_NO_COUNTS = {"inserted": 0, "updated": 0, "unchanged": 0, "deleted": 0}


def start_run(engine: Engine, conn: Connection, spec: DatasetTable, started: datetime) -> int:
    """Insert the `running` row (see the module docstring for where); return its id."""
    if conn.dialect.name == "postgresql":
        with engine.begin() as side:
            return _insert_running(side, spec.name, started)
    return _insert_running(conn, spec.name, started)


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
            dataset=dataset, started_at=started, status=RunStatus.RUNNING.value, **_NO_COUNTS
        )
    )
    key = result.inserted_primary_key
    if key is None:  # pragma: no cover  (both databases return the new id)
        raise StorageError("the database did not return the id of the new sync run")
    return int(key[0])


def finish_run(
    conn: Connection, run_id: int, status: RunStatus, counts: Counts, *, finished: datetime
) -> None:
    """Record how the run ended and what it changed, in the data transaction."""
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


def save_state(
    conn: Connection,
    spec: DatasetTable,
    *,
    run_id: int,
    at: datetime,
    etags: dict[str, str] | None,
) -> None:
    """Upsert `dataset_state`; `etags=None` keeps the stored ETags (not modified)."""
    values: dict[str, Any] = {"last_success_run_id": run_id, "last_success_at": at}
    if etags is not None:
        values["etags"] = etags
    changed = conn.execute(
        update(_STATE).where(_STATE.c.dataset == spec.name).values(**values)
    ).rowcount
    if changed == 0:
        conn.execute(insert(_STATE).values({"dataset": spec.name, "etags": etags or {}, **values}))


def error_line(exc: BaseException) -> str:
    """One line naming the error, without the SQL and parameters SQLAlchemy appends."""
    source: BaseException = exc
    if isinstance(exc, DBAPIError) and exc.orig is not None:
        source = exc.orig
    message = " ".join(str(source).split())
    line = f"{type(source).__name__}: {message}" if message else type(source).__name__
    return line[:_MAX_ERROR_CHARS]


def record_failure(
    engine: Engine,
    spec: DatasetTable,
    run_id: int | None,
    started: datetime,
    exc: BaseException,
    *,
    lock_timeout: float,
    now: datetime | None,
) -> None:
    """Record a `failed` run after the data transaction rolled back; never raise."""
    error = error_line(exc)
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
                        dataset=spec.name, started_at=started, **_NO_COUNTS, **values
                    )
                )
    except Exception as record_exc:  # the sync's own error matters more: re-raised by the caller
        logger.warning(
            "%s: could not record the failed run (%s); the sync failed with: %s",
            spec.name,
            error_line(record_exc),
            error,
        )
    else:
        logger.warning("%s: sync failed and was rolled back: %s", spec.name, error)
