"""The deployments' definitions: schedule, typed parameters, overlap guard, the deploy check."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

from partner_sync.core.settings import Settings
from tests.flows.e2e import PROJECT


def test_the_deployment_has_a_utc_cron_typed_parameters_and_cancels_overlaps(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from deployments.serve import build_deployment

    monkeypatch.setenv("PARTNER_SYNC_CRON", "15 4 * * *")
    deployment = build_deployment(Settings())
    (schedule,) = deployment.schedules
    assert schedule.schedule.cron == "15 4 * * *" and schedule.schedule.timezone == "UTC"
    assert deployment.concurrency_limit == 1
    assert deployment.concurrency_options.collision_strategy.value == "CANCEL_NEW"
    assert set(deployment.tags) >= {"partner-sync"} and deployment.description
    from prefect.utilities.callables import parameter_schema

    from flows.sync_reference_data import sync_reference_data

    # The schema the deployment registers: the UI's form and the server's validation.
    schema = parameter_schema(sync_reference_data).model_dump()
    properties = schema["properties"]
    assert set(properties) == {"datasets", "full_refresh", "allow_mass_delete"}
    assert properties["full_refresh"]["type"] == "boolean"
    dataset_enum = schema["definitions"]["DatasetName"]["enum"]
    assert dataset_enum == ["countries", "currencies", "languages", "cities"]


def deploy(home: str | None, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """`prefect --no-prompt deploy --all` from the project root, as the README has it."""
    from prefect.settings import PREFECT_API_URL

    env = {k: v for k, v in os.environ.items() if not k.startswith(("PARTNER_", "PREFECT_"))}
    env.update(PREFECT_API_URL=str(PREFECT_API_URL.value()), PREFECT_HOME=str(tmp_path))
    if home is not None:
        env["PARTNER_SYNC_HOME"] = home
    return subprocess.run(
        [
            str(Path(sys.executable).parent / "prefect"),
            "--no-prompt",
            "deploy",
            "--all",
            "--prefect-file",
            "deployments/prefect.yaml",
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=PROJECT,
        timeout=240,
        check=False,
    )


def pool_deployment_exists() -> bool:
    from prefect import get_client
    from prefect.exceptions import ObjectNotFound

    with get_client(sync_client=True) as client:
        try:
            client.read_deployment_by_name("sync-reference-data/daily-pool")
        except ObjectNotFound:
            return False
    return True


@pytest.fixture
def process_pool(prefect_api: None) -> None:
    """The README's `prefect work-pool create partner-sync --type process` (once)."""
    from prefect import get_client
    from prefect.client.schemas.actions import WorkPoolCreate
    from prefect.exceptions import ObjectAlreadyExists
    from prefect.workers.process import ProcessWorker

    pool = WorkPoolCreate(
        name="partner-sync",
        type="process",
        base_job_template=ProcessWorker.get_default_base_job_template(),
    )
    with get_client(sync_client=True) as client, contextlib.suppress(ObjectAlreadyExists):
        client.create_work_pool(pool)


@pytest.mark.usefixtures("process_pool")
@pytest.mark.parametrize(
    ("home", "said"),
    [
        (None, "PARTNER_SYNC_HOME is not set"),
        ("/nonexistent/checkout", "does not hold the project"),
    ],
)
def test_deploy_without_a_usable_partner_sync_home_fails_clearly_and_registers_nothing(
    home: str | None, said: str, tmp_path: Path
) -> None:
    done = deploy(home, tmp_path)

    assert done.returncode != 0, done.stdout + done.stderr
    first = done.stderr.splitlines()[0] if done.stderr else ""
    assert first.startswith("partner-sync: error: ") and said in first, done.stdout + done.stderr
    assert not pool_deployment_exists()


def test_the_build_step_names_the_project_directory(monkeypatch: pytest.MonkeyPatch) -> None:
    from deployments.steps import project_home

    monkeypatch.setenv("PARTNER_SYNC_HOME", str(PROJECT))
    assert project_home() == {"directory": str(PROJECT.resolve())}
