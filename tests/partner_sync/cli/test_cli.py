"""The `partner-sync` command as a user runs it: a subprocess, real sandbox, real SQLite."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from sandbox import DEMO_API_SECRET, DEMO_PASSWORD

CLI = [sys.executable, "-c", "import sys; from partner_sync.cli import main; sys.exit(main())"]


def run_cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, **env, "PYTHONPATH": os.getcwd() + os.pathsep + sys.path[0]}
    return subprocess.run(
        [*CLI, *args], capture_output=True, text=True, env=full_env, timeout=240, check=False
    )


def test_sync_no_prefect_prints_the_table_and_never_imports_prefect(env: dict[str, str]) -> None:
    code = (
        "import sys; from partner_sync.cli import main; rc = main(['sync', '--no-prefect']); "
        "print('PREFECT_IMPORTED' if 'prefect' in sys.modules else 'NO_PREFECT'); sys.exit(rc)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=240,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    for dataset in ("countries", "currencies", "languages", "cities"):
        assert dataset in done.stdout
    assert "succeeded" in done.stdout
    assert "NO_PREFECT" in done.stdout
    output = done.stdout + done.stderr
    assert DEMO_API_SECRET not in output and DEMO_PASSWORD not in output


def test_a_missing_setting_exits_non_zero_naming_it(env: dict[str, str]) -> None:
    done = run_cli("sync", "--no-prefect", env={**env, "PARTNER_API_SECRET": ""})
    assert done.returncode == 2
    assert (
        done.stderr.strip()
        .splitlines()[-1]
        .endswith(
            "missing setting: PARTNER_API_SECRET (set in the environment or .env; see README "
            "'Configuration')"
        )
    )


def test_a_dead_server_exits_non_zero_in_one_line(env: dict[str, str]) -> None:
    done = run_cli(
        "sync",
        "--no-prefect",
        "--dataset",
        "countries",
        env={
            **env,
            "PARTNER_BASE_URL": "http://127.0.0.1:1/prometheus",
            "PARTNER_MAX_ATTEMPTS": "2",
        },
    )
    assert done.returncode == 1
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("partner-sync: error:") and "PARTNER_BASE_URL" in last


def test_status_lists_rows_and_runs(env: dict[str, str]) -> None:
    assert run_cli("sync", "--no-prefect", "--dataset", "currencies", env=env).returncode == 0
    done = run_cli("status", env=env)
    assert done.returncode == 0, done.stderr
    assert "currencies" in done.stdout and "succeeded" in done.stdout


def test_login_keeps_the_session_and_logout_ends_it_on_the_server(
    env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    from partner_api import SessionExpiredError
    from partner_sync.cli import main
    from partner_sync.core.client import build_client
    from partner_sync.core.session import file_store
    from partner_sync.core.settings import Settings

    assert main(["login"]) == 0
    assert "logged in; the session is kept in file" in capsys.readouterr().out
    kept = file_store(Settings()).load()
    assert kept is not None
    assert main(["login"]) == 0
    assert "already logged in" in capsys.readouterr().out
    assert main(["logout"]) == 0
    assert "ended on the server" in capsys.readouterr().out
    assert file_store(Settings()).load() is None
    with build_client(Settings()) as client:
        client.use_session(kept)
        with pytest.raises(SessionExpiredError):
            list(client.read_dataset("currencies"))
    assert main(["logout"]) == 0
    assert "no session kept" in capsys.readouterr().out


def test_otp_refuses_a_code_that_is_not_6_digits(capsys: pytest.CaptureFixture[str]) -> None:
    from partner_sync.cli import main

    assert main(["otp", "12345"]) == 2
    assert "6 digits" in capsys.readouterr().err


def test_otp_without_a_prefect_api_refuses_at_once_in_one_line(
    env: dict[str, str], tmp_path: Path
) -> None:
    quiet = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    done = subprocess.run(
        [*CLI, "otp", "123456"],
        capture_output=True,
        text=True,
        env={**quiet, **env, "PREFECT_HOME": str(tmp_path / "prefect")},
        timeout=120,
        check=False,
    )

    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stderr.strip().splitlines() == [
        "partner-sync: error: no Prefect API is configured: set PREFECT_API_URL "
        "(e.g. http://127.0.0.1:4200/api) to the server whose run is paused for the code"
    ]
    assert "paused" not in done.stdout
    # No temporary Prefect server was started: it would have created its database here.
    assert not (tmp_path / "prefect" / "prefect.db").exists()
