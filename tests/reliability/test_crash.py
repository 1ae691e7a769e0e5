"""Crash safety: a sync process killed with SIGKILL at chosen and random points.

Each point is a database statement of a real sync (run by `crash_child` in a subprocess)
that changes every dataset (the sandbox flips between data versions 1 and 2): mid-upsert,
mid-sweep, just before a commit, between datasets, at random statements. After the kill
every dataset is exactly as before or exactly the source's new data, never between (and
datasets are done in order, so the "after" ones come first); the next run completes. No
change row (`sync_changes`) survives of a killed run: each belongs to a committed one.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, text

from partner_api import DATASETS
from partner_sync.core.run import run_sync
from sandbox import SandboxConfig, SandboxHandle, running_sandbox
from storage.db import make_engine, upgrade_database
from tests.reliability.support import (
    FIGURES,
    ROOT,
    Size,
    key_is_unique,
    mismatch_with_source,
    source_items,
    table_rows,
)
from tests.support.processes import start_process, stop_process
from tests.support.settings import demo_env, demo_settings

SEED = 99


def changes_of_uncommitted_runs(engine: Engine) -> int:
    """Change rows whose run did not commit (a killed run's is `running` or `failed`)."""
    with engine.connect() as conn:
        return int(
            conn.execute(
                text(
                    "SELECT count(*) FROM sync_changes c JOIN sync_runs r ON r.id = c.run_id "
                    "WHERE r.status <> 'succeeded'"
                )
            ).scalar_one()
        )


def _cities(size: Size) -> int:
    return size(1_500, 3_000)


@pytest.fixture(scope="module")
def crash_sandbox(size: Size) -> Iterator[SandboxHandle]:
    """A sandbox of its own (of the size's cities): the tests flip its data version."""
    with running_sandbox(SandboxConfig(cities=_cities(size), seed=SEED)) as handle:
        yield handle


def _named_points(postgres: bool, size: Size) -> list[str]:
    # On PostgreSQL the `running` row is committed first in a side transaction, so the
    # data transaction's commit is the dataset's second; the finishing UPDATE of the run
    # row is the third run statement on both.
    commit = "#2" if postgres else "#1"
    points = [
        "upsert:countries#1",  # mid-upsert of the first dataset
        "sweep:countries#1",  # mid-sweep
        f"commit:countries{commit}",  # everything written, not committed
        "read:currencies#1",  # countries committed, currencies not begun
        "state:currencies#1",  # ETags being saved
        "seen:languages#2",  # between two batches of keys
        "upsert:languages#1",
        "sweep:languages#1",
        "upsert:cities#1",
        "sweep:cities#1",
        "run:cities#3",  # the run row being finished
        f"commit:cities{commit}",  # the last commit of the run
    ]
    if size.full:
        return points
    # CI: eight points over the two databases, covering mid-upsert, mid-sweep and commits.
    return [points[i] for i in ((0, 2, 7, 10) if not postgres else (1, 4, 8, 11))]


def _kill_series(database_url: str, sandbox: SandboxHandle, backend: str, size: Size) -> None:
    postgres = backend == "postgresql"
    cities = _cities(size)
    settings = demo_settings(sandbox.base_url, database_url, lock_timeout=10)
    env = {**os.environ, **demo_env(sandbox.base_url, database_url, lock_timeout=10)}
    engine = make_engine(database_url)
    upgrade_database(engine)
    version = 1
    sandbox.state.set_data_version(version)
    assert all(o.status == "succeeded" for o in run_sync(settings).outcomes)

    def child(point: str) -> str:
        process = start_process(
            [sys.executable, "-m", "tests.reliability.crash_child", point],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=None,  # a child's traceback shows in the test's output
            text=True,
        )
        assert process.stdout is not None
        said = ""
        for line in process.stdout:
            if line.startswith(("STOPPED", "FINISHED")):
                said = line.strip()
                break
        if not said.startswith("STOPPED"):
            process.wait(timeout=60)  # a finished child exits on its own
        stop_process(process, sig=signal.SIGKILL)
        assert said, f"the crash child said nothing for {point} (exit {process.returncode})"
        return said

    # A child that runs to the end measures how many statements a changing sync takes.
    version = 3 - version
    sandbox.state.set_data_version(version)
    finished = child("#1000000000")
    assert finished.startswith("FINISHED statements=")
    total = int(finished.split()[1].split("=")[1])
    rng = random.Random(f"{SEED}-{backend}")
    random_points = [f"#{rng.randint(1, total)}" for _ in range(size(0, 6))]
    points = _named_points(postgres, size) + random_points

    shapes: Counter[str] = Counter()
    kills = 0
    for point in points:
        before = {name: table_rows(engine, name) for name in DATASETS}
        version = 3 - version
        sandbox.state.set_data_version(version)
        said = child(point)
        if said.startswith("STOPPED"):
            kills += 1
        else:
            assert point.startswith("#"), f"named point {point} was never reached: {said}"
        shape = []
        for name in DATASETS:
            assert key_is_unique(engine, name)
            rows = table_rows(engine, name)
            if rows == before[name]:
                shape.append("before")
                continue
            problem = mismatch_with_source(rows, source_items(name, cities, version, SEED))
            assert problem is None, (
                f"{backend} killed at {point} ({said}): {name} is between: {problem}"
            )
            shape.append("after")
        assert changes_of_uncommitted_runs(engine) == 0, f"{point}: a killed run's changes"
        # Datasets are synced in order: a finished one never follows an unfinished one.
        assert shape == sorted(shape), f"{point}: {shape}"
        shapes["/".join(s[0] for s in shape)] += 1
        outcomes = run_sync(settings).outcomes
        assert all(o.status in ("succeeded", "not_modified") for o in outcomes), outcomes
        for name in DATASETS:
            source = source_items(name, cities, version, SEED)
            assert mismatch_with_source(table_rows(engine, name), source) is None
    engine.dispose()
    label = f"crash ({backend}, {size.name})"
    FIGURES[f"{label}: kill points (killed / points)"] = f"{kills} / {len(points)}"
    FIGURES[f"{label}: states after the kill (a=after, b=before)"] = dict(shapes)


def test_sigkill_at_any_point_leaves_sqlite_before_or_after(
    tmp_path: os.PathLike[str], crash_sandbox: SandboxHandle, size: Size
) -> None:
    _kill_series(f"sqlite:///{tmp_path}/crash.db", crash_sandbox, "sqlite", size)


@pytest.mark.postgres
def test_sigkill_at_any_point_leaves_postgresql_before_or_after(
    postgres_url: str, crash_sandbox: SandboxHandle, size: Size
) -> None:
    _kill_series(postgres_url, crash_sandbox, "postgresql", size)
