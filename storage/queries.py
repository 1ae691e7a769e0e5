"""Reads for callers and the `status` and `check` commands: ETags, row counts, recent runs,
how fresh each dataset is."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, func, select
from sqlmodel import Session, col
from sqlmodel import select as sm_select

from .dataset_tables import DATASET_TABLES, DatasetTable
from .tables import DatasetState, SyncRun


def load_etags(engine: Engine, spec: DatasetTable) -> dict[str, str]:
    """The ETags stored by the last successful sync of the dataset (`{}` when none)."""
    with Session(engine) as session:
        state = session.get(DatasetState, spec.name)
        return dict(state.etags) if state is not None else {}


def dataset_counts(engine: Engine) -> dict[str, tuple[int, int]]:
    """For every dataset, by name: `(live rows, rows marked deleted)`."""
    counts: dict[str, tuple[int, int]] = {}
    with engine.connect() as conn:
        for name, spec in DATASET_TABLES.items():
            table = spec.core
            total, deleted = conn.execute(
                select(func.count(), func.count(table.c.deleted_at)).select_from(table)
            ).one()
            counts[name] = (int(total) - int(deleted), int(deleted))
    return counts


def recent_runs(
    engine: Engine, limit: int = 20, dataset: DatasetTable | None = None
) -> list[SyncRun]:
    """The latest `limit` sync runs, newest first (of one `dataset` if given)."""
    statement = sm_select(SyncRun).order_by(col(SyncRun.id).desc()).limit(limit)
    if dataset is not None:
        statement = statement.where(SyncRun.dataset == dataset.name)
    with Session(engine, expire_on_commit=False) as session:
        return list(session.exec(statement).all())


@dataclass(frozen=True)
class DatasetFreshness:
    """How fresh one dataset's copy is: its last success and its last run, as stored."""

    dataset: str
    #: When the last `succeeded` or `not_modified` sync committed (None: never).
    last_success_at: datetime | None
    #: The newest `sync_runs` row's status (`running`, `succeeded`, ...; None: no run yet).
    last_status: str | None
    #: That row's one-line error, if it failed.
    last_error: str | None
    #: When that row's sync started.
    last_run_at: datetime | None


def dataset_freshness(
    engine: Engine, datasets: Iterable[DatasetTable] | None = None
) -> list[DatasetFreshness]:
    """For each dataset (default: all, in registry order): last success and last run.

    One query: `dataset_state.last_success_at` and the newest `sync_runs` row per dataset
    (the highest id, as ids grow with time).
    """
    specs = list(DATASET_TABLES.values()) if datasets is None else list(datasets)
    names = [spec.name for spec in specs]
    runs, state = SyncRun.__table__, DatasetState.__table__  # type: ignore[attr-defined]
    newest = (
        select(runs.c.dataset, func.max(runs.c.id).label("run_id"))
        .where(runs.c.dataset.in_(names))
        .group_by(runs.c.dataset)
        .subquery()
    )
    last_runs = select(newest.c.dataset, runs.c.status, runs.c.error, runs.c.started_at).join(
        runs, runs.c.id == newest.c.run_id
    )
    successes = select(state.c.dataset, state.c.last_success_at).where(state.c.dataset.in_(names))
    with engine.connect() as conn:
        by_run = {row.dataset: row for row in conn.execute(last_runs)}
        by_state = {row.dataset: row.last_success_at for row in conn.execute(successes)}
    return [
        DatasetFreshness(
            dataset=name,
            last_success_at=by_state.get(name),
            last_status=by_run[name].status if name in by_run else None,
            last_error=by_run[name].error if name in by_run else None,
            last_run_at=by_run[name].started_at if name in by_run else None,
        )
        for name in names
    ]
