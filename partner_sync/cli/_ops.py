"""`partner-sync status`, `db upgrade`, `serve` and `secrets push`: operating the sync."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.table import Table

from partner_api import DATASETS
from partner_sync.core.freshness import format_age
from partner_sync.core.report import EXIT_OK
from partner_sync.core.settings import load_settings
from storage import (
    dataset_counts,
    dataset_freshness,
    make_engine,
    recent_runs,
    schema_drift,
    upgrade_database,
)

from ._output import EXIT_USAGE, console, fail
from ._settings import prefect_api_missing


def status(
    limit: Annotated[int, typer.Option(help="How many of the last runs to list.")] = 10,
) -> int:
    """Print the rows per table, the age of each copy, the last runs and new fields."""
    settings = load_settings()
    engine = make_engine(settings.database_url)
    try:
        upgrade_database(engine)
        counts = dataset_counts(engine)
        fresh = {state.dataset: state for state in dataset_freshness(engine)}
        runs = recent_runs(engine, limit=limit)
        drift = schema_drift(engine)
    finally:
        engine.dispose()
    now = datetime.now(UTC)
    rows_table = Table(title="rows")
    for column in ("dataset", "live", "deleted", "last success", "age"):
        rows_table.add_column(column)
    for name in DATASETS:
        live, deleted = counts.get(name, (0, 0))
        success = fresh[name].last_success_at if name in fresh else None
        rows_table.add_row(
            name,
            str(live),
            str(deleted),
            f"{success:%Y-%m-%d %H:%M:%S}" if success else "never",
            format_age(now - success) if success else "",
        )
    runs_table = Table(title=f"last {limit} runs")
    for column in ("id", "dataset", "started", "status", "ins", "upd", "same", "del", "error"):
        runs_table.add_column(column)
    for run in runs:
        runs_table.add_row(
            str(run.id),
            run.dataset,
            run.started_at.strftime("%Y-%m-%d %H:%M:%S") if run.started_at else "",
            run.status,
            str(run.inserted),
            str(run.updated),
            str(run.unchanged),
            str(run.deleted),
            (run.error or "")[:80],
        )
    out = console()
    out.print(rows_table)
    out.print(runs_table)
    if drift:
        drift_table = Table(title="schema drift: fields not in the contract, kept in extra")
        for column in ("dataset", "field", "first run", "first seen", "sample key"):
            drift_table.add_column(column)
        for seen in drift:
            drift_table.add_row(
                seen.dataset,
                seen.field,
                str(seen.first_run_id),
                seen.first_seen_at.strftime("%Y-%m-%d %H:%M:%S"),
                seen.sample_key,
            )
        out.print(drift_table)
    return EXIT_OK


def db_upgrade() -> int:
    """Bring the database schema to the newest migration."""
    upgrade_database(load_settings().database_url)
    print("database is at the newest schema")
    return EXIT_OK


def serve(
    name: Annotated[str | None, typer.Option(help="Deployment name (default: daily).")] = None,
    cron: Annotated[
        str | None, typer.Option(help="Schedule, cron in UTC (default: PARTNER_SYNC_CRON).")
    ] = None,
) -> int:
    """Serve the Prefect deployment on this host until interrupted."""
    # Lazy: importing Prefect costs ~1.5 s, which the commands without it must not pay.
    from deployments.serve import serve_deployment
    from flows.notify import NotifySetupError

    try:
        serve_deployment(load_settings(), name=name, cron=cron, announce=print)
    except NotifySetupError as exc:
        return fail(str(exc), EXIT_USAGE)
    return EXIT_OK


def secrets_push() -> int:
    """Create (or overwrite) Prefect Secret blocks from the current credentials."""
    refused = prefect_api_missing("the runs read the blocks from")
    if refused is not None:
        return refused
    # Lazy: importing Prefect costs ~1.8 s, which the commands without it must not pay.
    from flows._secret_blocks import push_secrets

    pushed = push_secrets(load_settings())
    if not pushed:
        return fail("no credential is set: nothing to push", EXIT_USAGE)
    print("Secret blocks written: " + ", ".join(pushed))
    print("runs now read these when the environment leaves them empty")
    return EXIT_OK
