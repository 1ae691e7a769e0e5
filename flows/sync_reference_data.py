"""The Prefect flow: one session (kept or fresh), then one task per dataset. A thin wrapper over `flows._sync`.

Run it as a plain script (`python flows/sync_reference_data.py [dataset ...]`), from the
CLI (`partner-sync sync`), or from a deployment (`partner-sync serve`, `deployments/prefect.yaml`).
Every run leaves a table artifact (`partner-sync-datasets`) and a markdown report
(`partner-sync-report`, with any error and the 403 diagnosis).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make the project importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE
from prefect.states import Cancelled

from flows._redact import install_mask_filter, mask, remember_settings_secrets
from flows._run_lock import run_lock
from flows._secret_blocks import fill_from_blocks
from flows._session import session_store
from flows._session_prefect import prefect_api_configured
from flows._settings import Settings, load_settings
from flows._sync import (
    Dataset,
    DatasetOutcome,
    LogProgress,
    build_client,
    is_fatal,
    one_line,
    resolve_datasets,
    start_session,
    sync_one,
)
from partner_api import PartnerClient

#: Artifact keys (Prefect allows lowercase letters, digits and dashes).
TABLE_ARTIFACT_KEY = "partner-sync-datasets"
REPORT_ARTIFACT_KEY = "partner-sync-report"
TABLE_COLUMNS = ("dataset", "status", "inserted", "updated", "unchanged", "deleted", "seconds")


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


def load_run_settings() -> Settings:
    """Settings from the environment, credentials left empty there from Secret blocks."""
    settings = load_settings()
    filled = fill_from_blocks(settings)
    remember_settings_secrets(settings)
    if filled:
        get_run_logger().info("credentials from Prefect Secret blocks: %s", ", ".join(filled))
    return settings


def report_markdown(
    rows: list[dict[str, Any]], session_note: str, problems: list[tuple[str, str, str]]
) -> str:
    """The run's report: a summary line, how the session was had, each error and diagnosis."""
    counts: dict[str, int] = {}
    for row in rows:
        counts[row["status"]] = counts.get(row["status"], 0) + 1
    summary = ", ".join(f"{n} {status}" for status, n in counts.items()) or "nothing ran"
    lines = [f"# partner-sync: {summary}", "", f"Session: {session_note}", ""]
    if not problems:
        lines.append("No errors.")
    for where, error, diagnosis in problems:
        lines += [f"## {where} failed", "", f"    {error}", ""]
        if diagnosis:
            lines += ["**403 diagnosis**", "", diagnosis, ""]
    return mask("\n".join(lines))


def publish_artifacts(
    rows: list[dict[str, Any]], session_note: str, problems: list[tuple[str, str, str]]
) -> None:
    """The table artifact (one row per dataset) and the markdown report."""
    create_table_artifact(
        key=TABLE_ARTIFACT_KEY,
        table=[{c: row[c] for c in TABLE_COLUMNS} for row in rows],
        description="partner-sync: one row per dataset",
    )
    create_markdown_artifact(
        key=REPORT_ARTIFACT_KEY,
        markdown=report_markdown(rows, session_note, problems),
        description="partner-sync: errors and diagnosis",
    )


@flow(name="sync-reference-data", log_prints=False)
def sync_reference_data(
    datasets: list[Dataset] | None = None,
    full_refresh: bool = False,
    allow_mass_delete: bool = False,
) -> Any:
    """Sync the partner's reference datasets (default: all) into the database.

    Credentials come from the environment, `.env` or Prefect Secret blocks, never from
    parameters. The session is the kept one while it lasts; otherwise the run logs in and
    may pause for the one-time code. The run fails if any dataset failed; the others are
    still written. While another run is in progress the run ends Cancelled at once.
    """
    install_mask_filter()
    settings = load_run_settings()
    names = resolve_datasets(datasets)
    with run_lock(settings.run_lock) as held:
        if not held:
            message = (
                f"another partner-sync run holds the lock {settings.run_lock!r} "
                "(it may be paused for its one-time code); this run does nothing"
            )
            get_run_logger().warning(message)
            return Cancelled(message=message)
        return _sync_all(settings, names, full_refresh, allow_mass_delete)


def _sync_all(
    settings: Settings, names: list[str], full_refresh: bool, allow_mass_delete: bool
) -> list[dict[str, Any]]:
    from storage.db import make_engine, upgrade_database

    logger = get_run_logger()
    rows: list[dict[str, Any]] = []
    problems: list[tuple[str, str, str]] = []
    session_note = "not started"
    engine = make_engine(settings.database_url)
    try:
        upgrade_database(engine)
        with build_client(settings) as client:
            store = session_store(settings, prefect_api=prefect_api_configured())
            try:
                # In the flow body, not a task: the `prefect` OTP source pauses this flow run.
                logged_in = start_session(client, settings, store)
            except Exception as exc:
                rows = [DatasetOutcome(n, "skipped", error="no session").as_row() for n in names]
                problems.append(("login", one_line(exc), getattr(exc, "diagnosis", "")))
                publish_artifacts(rows, "login failed", problems)
                raise
            session_note = (
                f"logged in through the {settings.otp_source} OTP source; kept in {store.where}"
                if logged_in
                else f"the kept session from {store.where}"
            )
            logger.info("session ready; syncing %s", ", ".join(names))
            for index, name in enumerate(names):
                try:
                    rows.append(
                        sync_dataset_task(
                            client, engine, settings, name, allow_mass_delete, full_refresh
                        )
                    )
                except Exception as exc:
                    rows.append(DatasetOutcome(name, "failed", error=one_line(exc)).as_row())
                    problems.append((name, one_line(exc), getattr(exc, "diagnosis", "")))
                    if is_fatal(exc):
                        rows.extend(
                            DatasetOutcome(r, "skipped", error="not attempted").as_row()
                            for r in names[index + 1 :]
                        )
                        break
    finally:
        engine.dispose()
    publish_artifacts(rows, session_note, problems)
    failed = [r for r in rows if r["status"] in ("failed", "skipped")]
    if failed:
        raise SyncFailedError(
            "; ".join(f"{r['dataset']}: {r['error']}" for r in failed if r["status"] == "failed"),
            rows,
        )
    return rows


if __name__ == "__main__":
    from flows._prefect_runtime import quick_flow_settings, quiet_prefect_defaults

    quiet_prefect_defaults()
    with quick_flow_settings():
        sync_reference_data(datasets=sys.argv[1:] or None)  # type: ignore[arg-type]
