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

#: Imported today by the layers below the CLI although a SQLite sync with nothing to
#: migrate does not use them; each names the module that imports it at module level.
#: (`xfail_strict`: when its owner defers it, the test passes and the marker must go.)
BELOW_THE_CLI = {
    "alembic": "storage.db imports alembic at module level (even with nothing to migrate)",
    "psycopg": "storage._locks imports psycopg.errors at module level (even on SQLite)",
    "imap_tools": "partner_api.otp imports the IMAP source at package import",
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


@pytest.mark.parametrize(
    "package",
    [
        pytest.param(name, marks=pytest.mark.xfail(reason=why))
        for name, why in BELOW_THE_CLI.items()
    ],
)
def test_a_plain_resync_imports_no_unused_heavy_package(
    loaded_modules: set[str], package: str
) -> None:
    assert package not in loaded_modules
