"""`partner-sync check` as monitoring runs it: a subprocess, the real sandbox, SQLite and PostgreSQL."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import update

from storage import DatasetState, make_engine
from tests.partner_sync.cli.test_cli import run_cli
from tests.support.postgres import throwaway_schema


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def check_env(request: pytest.FixtureRequest, env: dict[str, str]) -> Iterator[dict[str, str]]:
    """The sandbox settings with the database on a SQLite file or a fresh PostgreSQL schema."""
    if request.param == "sqlite":
        yield env
        return
    with throwaway_schema("chk") as url:
        yield {**env, "DATABASE_URL": url}


def age_back(database_url: str, dataset: str, by: timedelta) -> None:
    """Move the dataset's last success `by` into the past, as if no sync had run since."""
    engine = make_engine(database_url)
    table = DatasetState.__table__  # type: ignore[attr-defined]
    with engine.begin() as conn:
        conn.execute(
            update(table)
            .where(table.c.dataset == dataset)
            .values(last_success_at=datetime.now(UTC) - by)
        )
    engine.dispose()


def test_never_synced_fails_then_a_good_sync_passes_and_staleness_fails(
    check_env: dict[str, str],
) -> None:
    never = run_cli("check", "--dataset", "currencies", env=check_env)
    assert never.returncode == 1, never.stderr
    assert never.stdout.strip() == "currencies: NEVER, no successful sync yet, last sync none"

    synced = run_cli("sync", "--no-prefect", "--dataset", "currencies", env=check_env)
    assert synced.returncode == 0, synced.stderr
    fresh = run_cli("check", "--dataset", "currencies", env=check_env)
    assert fresh.returncode == 0, fresh.stdout + fresh.stderr
    assert fresh.stdout.startswith("currencies: FRESH, last success ")
    assert "last sync succeeded" in fresh.stdout
    # Every dataset by default: the ones never synced fail the check.
    everything = run_cli("check", env=check_env)
    assert everything.returncode == 1
    assert len(everything.stdout.strip().splitlines()) == 4

    age_back(check_env["DATABASE_URL"], "currencies", timedelta(hours=30))
    stale = run_cli("check", "--dataset", "currencies", env=check_env)
    assert stale.returncode == 1
    assert stale.stdout.startswith("currencies: STALE, last success 1d 06h ago (limit 1d 02h)")
    assert (
        run_cli("check", "--dataset", "currencies", "--max-age", "2d", env=check_env).returncode
        == 0
    )

    status = run_cli("status", env=check_env)
    assert status.returncode == 0, status.stderr
    assert "1d 06h" in status.stdout  # the copy's age, beside its rows


def test_a_failing_dataset_fails_the_check_with_its_error_in_json(
    check_env: dict[str, str], sandbox_control: Callable[..., Any]
) -> None:
    assert run_cli("sync", "--no-prefect", "--dataset", "countries", env=check_env).returncode == 0
    # The session is kept: the next sync goes straight to the data, which now fails.
    sandbox_control("config", {"faultRate": 1.0})
    env = {**check_env, "PARTNER_MAX_ATTEMPTS": "1"}
    assert run_cli("sync", "--no-prefect", "--dataset", "countries", env=env).returncode == 1
    sandbox_control("config", {"faultRate": 0.0})

    done = run_cli("check", "--dataset", "countries", "--format", "json", env=check_env)
    assert done.returncode == 1
    report = json.loads(done.stdout)
    assert set(report) == {"ok", "checked_at", "max_age_seconds", "datasets"}
    assert report["ok"] is False and report["max_age_seconds"] == 26 * 3600
    (countries,) = report["datasets"]
    assert set(countries) == {
        "dataset",
        "ok",
        "verdict",
        "age_seconds",
        "last_success_at",
        "last_status",
        "last_error",
    }
    assert countries["verdict"] == "failing" and countries["last_status"] == "failed"
    assert countries["last_error"]  # one line naming what went wrong
    assert 0 <= countries["age_seconds"] < 600  # the earlier success is still recent


def test_check_never_imports_prefect(env: dict[str, str]) -> None:
    code = (
        "import sys; from partner_sync.cli import main; rc = main(['check']); "
        "print('PREFECT_IMPORTED' if 'prefect' in sys.modules else 'NO_PREFECT'); sys.exit(rc)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=60,
        check=False,
    )
    assert done.returncode == 1, done.stderr  # nothing synced yet
    assert "NO_PREFECT" in done.stdout


def test_a_bad_duration_is_a_usage_error(env: dict[str, str]) -> None:
    done = run_cli("check", "--max-age", "soon", env=env)
    assert done.returncode == 2
    assert "not a duration" in done.stderr
