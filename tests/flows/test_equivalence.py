"""One scenario through both shells: the CLI's plain path and the Prefect flow agree.

The scenario: `currencies` was synced before, the partner's data then changed so that
some currencies are gone, and `PARTNER_MAX_DELETE_FRACTION=0` makes storage refuse to
mark them deleted; the other three datasets load for the first time (nothing to delete).
So `currencies` fails and the others succeed, deterministically, through either shell.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from flows.sync_reference_data import TABLE_ARTIFACT_KEY, SyncFailedError, sync_reference_data
from partner_api import DATASETS
from partner_sync.core.report import TABLE_COLUMNS
from partner_sync.core.run import run_sync
from partner_sync.core.settings import Settings
from tests.partner_sync.cli.test_cli import run_cli

EXPECTED = {
    "countries": "succeeded",
    "currencies": "failed",
    "languages": "succeeded",
    "cities": "succeeded",
}


def seeded_database(path: Path) -> str:
    """A database in which `currencies` holds the partner's version-1 rows."""
    url = f"sqlite:///{path}"
    assert run_sync(Settings(database_url=url), ["currencies"]).ok
    return url


def statuses_in_table(stdout: str) -> dict[str, str]:
    """dataset -> status, read from the table the CLI printed."""
    statuses = {}
    for line in stdout.splitlines():
        cells = [cell.strip() for cell in line.split("│")[1:-1]]
        if len(cells) == len(TABLE_COLUMNS) and cells[0] in DATASETS:
            statuses[cells[0]] = cells[1]
    return statuses


def table_artifact(flow_run_id: Any) -> list[dict[str, Any]]:
    """The rows of the run's table artifact."""
    from prefect import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

    with get_client(sync_client=True) as client:
        found = client.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id]))
        )
    (table,) = [a for a in found if a.key == TABLE_ARTIFACT_KEY]
    data = table.data
    return json.loads(data) if isinstance(data, str) else list(data or [])


def test_the_cli_plain_path_and_the_flow_give_the_same_outcomes_and_verdict(
    prefect_api: None,
    env: dict[str, str],
    tmp_path: Path,
    sandbox_control: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    plain_db = seeded_database(tmp_path / "plain.db")
    flow_db = seeded_database(tmp_path / "flow.db")
    sandbox_control("data-version", {"version": 2})

    done = run_cli(
        "sync",
        "--no-prefect",
        env={**env, "DATABASE_URL": plain_db, "PARTNER_MAX_DELETE_FRACTION": "0"},
    )
    assert statuses_in_table(done.stdout) == EXPECTED, done.stdout + done.stderr
    assert done.returncode == 1
    assert "currencies" in done.stderr.strip().splitlines()[-1]

    monkeypatch.setenv("DATABASE_URL", flow_db)
    monkeypatch.setenv("PARTNER_MAX_DELETE_FRACTION", "0")
    state = sync_reference_data(return_state=True)
    assert state.is_failed()
    failure = state.result(raise_on_failure=False)
    assert isinstance(failure, SyncFailedError)
    assert {o.dataset: str(o.status) for o in failure.report.outcomes} == EXPECTED
    artifact = table_artifact(state.state_details.flow_run_id)
    assert {row["dataset"]: row["status"] for row in artifact} == EXPECTED
    assert failure.report.exit_code == done.returncode
