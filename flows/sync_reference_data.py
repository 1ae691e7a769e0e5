"""The Prefect flow: the core's run loop with each dataset as a task, and the run's artifacts.

A thin shell over `partner_sync.core.run.run_sync`: the flow supplies the per-dataset
runner (a Prefect task, no retries: the client retries), the Prefect session store and,
for `PARTNER_OTP_SOURCE=prefect`, the OTP source that pauses this run; it publishes the
report as a table artifact (`partner-sync-datasets`) and a markdown report
(`partner-sync-report`, with any error and the 403 diagnosis), and ends Failed exactly
when the CLI would exit non-zero (`RunReport.ok`).

Run it as a plain script (`python flows/sync_reference_data.py [dataset ...]`), from the
CLI (`partner-sync sync`), or from a deployment (`partner-sync serve`, `deployments/prefect.yaml`).
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
from prefect.exceptions import Abort
from prefect.states import Cancelled
from sqlalchemy import Engine

from flows._prefect_runtime import quick_flow_settings
from flows._run_lock import run_lock
from flows._secret_blocks import fill_from_blocks
from flows._session_prefect import run_session_store
from flows.otp_prefect import PrefectOtpSource
from partner_api import DatasetName, PartnerClient
from partner_sync.core.dataset import resolve_datasets, sync_one
from partner_sync.core.progress import LogProgress
from partner_sync.core.redact import install_mask_filter, remember_settings_secrets
from partner_sync.core.report import TABLE_COLUMNS, DatasetOutcome, RunReport, report_markdown
from partner_sync.core.run import run_sync
from partner_sync.core.settings import Settings, load_settings

#: Artifact keys (Prefect allows lowercase letters, digits and dashes).
TABLE_ARTIFACT_KEY = "partner-sync-datasets"
REPORT_ARTIFACT_KEY = "partner-sync-report"


class RunLockHeld(Abort):
    """Carried by the Cancelled state of a run that found the run lock taken.

    A flow that returns a plain Cancelled state makes Prefect's engine raise `CancelledRun`
    for it afterwards, which a deployment run logs as an ERROR with a traceback ("Engine
    execution exited with unexpected exception"). Prefect treats an `Abort` as the
    orchestrator's decision: the run ends Cancelled and the process exits 0, quietly.
    """


class SyncFailedError(RuntimeError):
    """Raised at the end of a run in which a dataset failed or was skipped: the run ends Failed."""

    def __init__(self, report: RunReport) -> None:
        super().__init__(report.failure_summary())
        #: The whole run's report, failed datasets and all (for the CLI's table).
        self.report = report

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.report,))


@task(
    name="sync-dataset",
    task_run_name="sync-{dataset}",
    cache_policy=NO_CACHE,  # the client and engine are live objects, never hashed or stored
    retries=0,  # retry lives in one layer: the client's tenacity policy
)
def sync_dataset_task(
    client: PartnerClient,
    engine: Engine,
    settings: Settings,
    dataset: str,
    allow_mass_delete: bool = False,
    full_refresh: bool = False,
) -> DatasetOutcome:
    """Read one dataset from the partner and write it in one transaction."""
    return sync_one(
        client,
        engine,
        settings,
        dataset,
        allow_mass_delete=allow_mass_delete,
        full_refresh=full_refresh,
        progress=LogProgress(get_run_logger()),
    )


def load_run_settings() -> Settings:
    """Settings from the environment, credentials left empty there from Secret blocks."""
    settings = load_settings()
    filled = fill_from_blocks(settings)
    remember_settings_secrets(settings)
    if filled:
        get_run_logger().info("credentials from Prefect Secret blocks: %s", ", ".join(filled))
    return settings


def publish_artifacts(report: RunReport) -> None:
    """The table artifact (one row per dataset) and the markdown report."""
    create_table_artifact(
        key=TABLE_ARTIFACT_KEY,
        table=[{c: row[c] for c in TABLE_COLUMNS} for row in report.rows()],
        description="partner-sync: one row per dataset",
    )
    create_markdown_artifact(
        key=REPORT_ARTIFACT_KEY,
        markdown=report_markdown(report),
        description="partner-sync: errors and diagnosis",
    )


@flow(name="sync-reference-data", log_prints=False)
def sync_reference_data(
    datasets: list[DatasetName] | None = None,
    full_refresh: bool = False,
    allow_mass_delete: bool = False,
) -> Any:
    """Sync the partner's reference datasets (default: all) into the database.

    Credentials come from the environment, `.env` or Prefect Secret blocks, never from
    parameters. The session is the kept one while it lasts; otherwise the run logs in and
    may pause for the one-time code. The run fails if any dataset failed or was skipped;
    the others are still written. While another run is in progress the run ends
    Cancelled at once. Returns the `RunReport`.
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
            return Cancelled(message=message, data=RunLockHeld(message))
        # The login runs here, in the flow body, not in a task: the `prefect` OTP source
        # pauses this flow run.
        report = run_sync(
            settings,
            names,
            allow_mass_delete=allow_mass_delete,
            full_refresh=full_refresh,
            run_dataset=sync_dataset_task,
            store=run_session_store(settings),
            otp_source=PrefectOtpSource() if settings.otp_source == "prefect" else None,
            progress=LogProgress(get_run_logger()),
        )
    publish_artifacts(report)
    if not report.ok:
        raise SyncFailedError(report)
    return report


if __name__ == "__main__":
    with quick_flow_settings():
        final: Any = sync_reference_data(
            datasets=[DatasetName(name) for name in sys.argv[1:]] or None, return_state=True
        )
    # One line and exit 1 unless Completed (a Cancelled run, too, did nothing).
    sys.exit(
        None if final.is_completed() else f"sync-reference-data ended {final.name}: {final.message}"
    )
