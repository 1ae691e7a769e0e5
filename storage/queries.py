"""Reads for callers and the `status` command: ETags, row counts, recent runs."""

from __future__ import annotations

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
