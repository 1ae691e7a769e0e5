"""Reads for callers and the `status`, `check` and `changes` commands: ETags, row counts,
recent runs, how fresh each dataset is, the change log and the schema drift seen."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, func, select
from sqlmodel import Session, col
from sqlmodel import select as sm_select

from .changes import Change, ChangeKind
from .dataset_tables import DATASET_TABLES, DatasetTable
from .tables import DatasetState, SchemaDrift, SyncChange, SyncRun

_CHANGES = SyncChange.__table__  # type: ignore[attr-defined]
_RUNS = SyncRun.__table__  # type: ignore[attr-defined]


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


def load_changes(
    engine: Engine,
    *,
    dataset: DatasetTable | None = None,
    run_id: int | None = None,
    since: datetime | None = None,
    limit: int | None = None,
) -> list[Change]:
    """Change log entries, oldest first: of run `run_id`, of the runs started at or after
    `since`, or (neither given) of each dataset's latest run that changed something.

    `dataset` narrows to one dataset; `limit` caps the number of entries. Each entry
    carries when its run started, and a `loaded` entry how many rows the first load wrote.
    """
    if run_id is not None and since is not None:
        raise ValueError("give run_id or since, not both")
    if since is not None and since.tzinfo is None:
        raise ValueError("since must be timezone-aware")
    changes, runs = _CHANGES, _RUNS
    statement = (
        select(
            changes.c.run_id,
            changes.c.dataset,
            changes.c.kind,
            changes.c.key,
            changes.c.fields,
            runs.c.started_at,
            runs.c.inserted,
        )
        .join(runs, runs.c.id == changes.c.run_id)
        .order_by(changes.c.run_id, changes.c.id)
    )
    if dataset is not None:
        statement = statement.where(changes.c.dataset == dataset.name)
    if run_id is not None:
        statement = statement.where(changes.c.run_id == run_id)
    elif since is not None:
        statement = statement.where(runs.c.started_at >= since)
    else:
        latest = select(func.max(changes.c.run_id)).group_by(changes.c.dataset)
        if dataset is not None:
            latest = latest.where(changes.c.dataset == dataset.name)
        statement = statement.where(changes.c.run_id.in_(latest))
    if limit is not None:
        statement = statement.limit(limit)
    with engine.connect() as conn:
        rows = conn.execute(statement).all()
    return [
        Change(
            run_id=row.run_id,
            dataset=row.dataset,
            kind=row.kind,
            key=row.key,
            fields=row.fields,
            at=row.started_at,
            rows=row.inserted if row.kind == ChangeKind.LOADED else None,
        )
        for row in rows
    ]


def schema_drift(engine: Engine) -> list[SchemaDrift]:
    """Every field a dataset's partner sent that its table lacks, by dataset and field."""
    statement = sm_select(SchemaDrift).order_by(col(SchemaDrift.dataset), col(SchemaDrift.field))
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
