"""`partner-sync sync --no-prefect` loads only what a plain sync uses (no timings here).

A second sync of an unchanged dataset into an up-to-date SQLite file, in a fresh process,
then a look at `sys.modules`. The start-up time itself is a `make bench` row ("CLI process
start → first partner request"); this guards the imports that time is made of.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

#: Packages the plain path never needs: Prefect and its shells, the fake server, the
#: benchmark's peer.
NEVER = ("prefect", "flows", "deployments", "sandbox", "starlette", "uvicorn", "dlt", "duckdb")

#: Heavy packages a SQLite re-sync with nothing to migrate does not use, each deferred by
#: the module that would otherwise load it at start-up.
UNUSED_ON_A_RESYNC = {
    "alembic": "storage.db migrates only when the database is behind its head revision",
    "psycopg": "storage._locks reads PostgreSQL's lock error by its SQLSTATE",
    "imap_tools": "partner_api.otp loads the IMAP source when it is asked for",
}

_PROBE = (
    "import json, sys; from partner_sync.cli import main; "
    "rc = main(['sync', '--no-prefect', '--dataset', 'countries']); "
    "print(json.dumps(sorted(sys.modules))); sys.exit(rc)"
)


@pytest.fixture
def loaded_modules(env: dict[str, str]) -> set[str]:
    """The modules a plain re-sync process holds at its end (the first run migrated)."""
    full_env = {**os.environ, **env}
    for attempt in ("first", "second"):
        done = subprocess.run(
            [sys.executable, "-c", _PROBE],
            capture_output=True,
            text=True,
            env=full_env,
            timeout=240,
            check=False,
        )
        assert done.returncode == 0, f"{attempt} sync failed: {done.stderr}"
    assert "not_modified" in done.stdout  # the second run had nothing to write
    modules = json.loads(done.stdout.strip().splitlines()[-1])
    return {name.split(".")[0] for name in modules}


def test_a_plain_resync_imports_no_prefect_sandbox_or_peer(loaded_modules: set[str]) -> None:
    assert not loaded_modules & set(NEVER), sorted(loaded_modules & set(NEVER))


@pytest.mark.parametrize("package", sorted(UNUSED_ON_A_RESYNC))
def test_a_plain_resync_imports_no_unused_heavy_package(
    loaded_modules: set[str], package: str
) -> None:
    assert package not in loaded_modules, UNUSED_ON_A_RESYNC[package]
