"""The Prefect flow: log in once, then one task per dataset. A thin wrapper over `flows._sync`.

Run it as a plain script (`python flows/sync_reference_data.py [dataset ...]`), from the
CLI (`partner-sync sync`), or from a deployment (`partner-sync serve`).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make the project importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE

from flows._settings import Settings, load_settings
from flows._sync import (
    DatasetOutcome,
    LogProgress,
    build_client,
    is_fatal,
    log_in,
    one_line,
    resolve_datasets,
    sync_one,
)
from partner_api import PartnerClient


class SyncFailedError(RuntimeError):
    """Raised at the end of a run in which some dataset failed, so the run ends Failed."""

    def __init__(self, message: str, rows: list[dict[str, Any]]) -> None:
        super().__init__(message)
        #: Every dataset's outcome, failed or not (for the CLI's table).
        self.rows = rows


@task(
    name="sync-dataset",
    task_run_name="sync-{dataset}",
    cache_policy=NO_CACHE,  # the client and engine are live objects, never hashed or stored
    retries=0,  # retry lives in one layer: the client's tenacity policy
)
def sync_dataset_task(
    client: PartnerClient,
    engine: Any,
    settings: Settings,
    dataset: str,
    allow_mass_delete: bool = False,
    full_refresh: bool = False,
) -> dict[str, Any]:
    """Read one dataset from the partner and write it in one transaction."""
    progress = LogProgress(get_run_logger())
    outcome = sync_one(
        client,
        engine,
        dataset,
        settings,
        allow_mass_delete=allow_mass_delete,
        full_refresh=full_refresh,
        progress=progress,
    )
    return outcome.as_row()


@flow(name="sync-reference-data", log_prints=False)
def sync_reference_data(
    datasets: list[str] | None = None,
    full_refresh: bool = False,
    allow_mass_delete: bool = False,
) -> list[dict[str, Any]]:
    """Sync the partner's reference datasets (default: all) into the database.

    Credentials come from the environment, `.env` or Prefect Secret blocks, never from
    parameters. The run fails if any dataset failed; the others are still written.
    """
    from storage.db import make_engine, upgrade_database

    logger = get_run_logger()
    settings = load_settings()
    names = resolve_datasets(datasets)
    engine = make_engine(settings.database_url)
    rows: list[dict[str, Any]] = []
    try:
        upgrade_database(engine)
        with build_client(settings) as client:
            log_in(client, settings)
            logger.info("logged in; syncing %s", ", ".join(names))
            for index, name in enumerate(names):
                try:
                    rows.append(
                        sync_dataset_task(
                            client, engine, settings, name, allow_mass_delete, full_refresh
                        )
                    )
                except Exception as exc:
                    rows.append(DatasetOutcome(name, "failed", error=one_line(exc)).as_row())
                    if is_fatal(exc):
                        rows.extend(
                            DatasetOutcome(r, "skipped", error="not attempted").as_row()
                            for r in names[index + 1 :]
                        )
                        break
    finally:
        engine.dispose()
    failed = [r for r in rows if r["status"] in ("failed", "skipped")]
    if failed:
        raise SyncFailedError(
            "; ".join(f"{r['dataset']}: {r['error']}" for r in failed if r["status"] == "failed"),
            rows,
        )
    return rows


if __name__ == "__main__":
    sync_reference_data(datasets=sys.argv[1:] or None)
