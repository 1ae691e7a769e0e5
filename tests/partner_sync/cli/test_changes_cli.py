"""`partner-sync changes` and schema drift end to end: the real CLI in a subprocess, the
sandbox over HTTP, SQLite and PostgreSQL; expectations computed from the sandbox's own data.
"""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from partner_api.datasets import DATASETS
from sandbox import NEW_FIELD, SandboxConfig, SandboxHandle, build_items, running_sandbox
from storage import DATASET_TABLES, make_engine
from tests.support.postgres import throwaway_schema
from tests.support.settings import demo_env

CITIES = 300
CLI = [sys.executable, "-c", "import sys; from partner_sync.cli import main; sys.exit(main())"]


@pytest.fixture(scope="module")
def handle() -> Iterator[SandboxHandle]:
    """A sandbox of this module's own: the tests switch its data version and drift."""
    with running_sandbox(SandboxConfig(cities=CITIES)) as started:
        yield started


def control(handle: SandboxHandle, name: str, payload: dict[str, Any]) -> None:
    response = httpx.post(f"{handle.base_url}/_sandbox/{name}", json=payload, timeout=10)
    response.raise_for_status()


@pytest.fixture
def fresh(handle: SandboxHandle) -> Iterator[SandboxHandle]:
    """The module's sandbox at data version 1 without drift, before and after the test."""
    reset = {"driftNewField": [], "driftType": []}
    control(handle, "config", reset)
    control(handle, "data-version", {"version": 1})
    yield handle
    control(handle, "config", reset)
    control(handle, "data-version", {"version": 1})


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database: a SQLite file, or a fresh PostgreSQL schema."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'partner_sync.db'}"
        return
    with throwaway_schema("c") as url:
        yield url


def cli(handle: SandboxHandle, db: str, tmp: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run `partner-sync ARGS` as a user would, against the sandbox and `db`."""
    env = {
        **os.environ,
        **demo_env(handle.base_url, db),
        "PARTNER_SESSION_STORE": "none",
        "XDG_STATE_HOME": str(tmp / "state"),
        "PYTHONPATH": os.getcwd() + os.pathsep + sys.path[0],
    }
    return subprocess.run(
        [*CLI, *args], capture_output=True, text=True, env=env, cwd=tmp, timeout=240, check=False
    )


def expected_changes(dataset: str, old: int, new: int) -> set[tuple[str, str, str]]:
    """`(key, kind, fields as JSON)` the switch from data version `old` to `new` must record.

    Going back to version 1, the keys version 2 dropped are `restored`: the table kept
    them, marked deleted, with their version 1 values, so no field differs.
    """
    key = DATASETS[dataset].key
    before = {item[key]: item for item in build_items(dataset, cities=CITIES, version=old)}
    after = {item[key]: item for item in build_items(dataset, cities=CITIES, version=new)}
    expected: set[tuple[str, str, str]] = set()
    for k in after.keys() - before.keys():
        if new == 1:
            expected.add((str(k), "restored", json.dumps({})))
        else:
            expected.add((str(k), "inserted", json.dumps(None)))
    for k in before.keys() - after.keys():
        expected.add((str(k), "deleted", json.dumps(None)))
    for k in before.keys() & after.keys():
        fields = {
            f: [before[k].get(f), after[k].get(f)]
            for f in sorted(before[k].keys() | after[k].keys())
            if before[k].get(f) != after[k].get(f)
        }
        if fields:
            expected.add((str(k), "updated", json.dumps(fields, sort_keys=True)))
    return expected


def shown(records: list[dict[str, Any]], dataset: str) -> set[tuple[str, str, str]]:
    return {
        (r["key"], r["kind"], json.dumps(r["fields"], sort_keys=True))
        for r in records
        if r["dataset"] == dataset
    }


def test_changes_shows_exactly_what_differs_between_the_data_versions(
    fresh: SandboxHandle, db: str, tmp_path: Path
) -> None:
    def run(*args: str) -> subprocess.CompletedProcess[str]:
        done = cli(fresh, db, tmp_path, *args)
        assert done.returncode == 0, done.stderr
        return done

    run("sync", "--no-prefect")
    first = json.loads(run("changes", "--format", "json").stdout)
    assert sorted((r["dataset"], r["kind"], r["key"]) for r in first) == sorted(
        (name, "loaded", None) for name in DATASETS
    )
    assert {r["dataset"]: r["rows"] for r in first} == {
        name: len(build_items(name, cities=CITIES)) for name in DATASETS
    }

    control(fresh, "data-version", {"version": 2})
    run("sync", "--no-prefect")
    records = json.loads(run("changes", "--format", "json").stdout)
    for name in DATASETS:
        expected = expected_changes(name, 1, 2)
        assert expected, f"data version 2 changes nothing in {name}: the test would prove nothing"
        assert shown(records, name) == expected, name

    # Per run, per dataset, as CSV and as a table: the same changes.
    cities_run = next(r["run"] for r in records if r["dataset"] == "cities")
    by_run = json.loads(run("changes", "--run", str(cities_run), "--format", "json").stdout)
    assert shown(by_run, "cities") == expected_changes("cities", 1, 2)
    assert {r["dataset"] for r in by_run} == {"cities"}
    table = run("changes", "--dataset", "countries").stdout
    renamed = next(k for k, kind, _ in expected_changes("countries", 1, 2) if kind == "updated")
    assert renamed in table and "→" in table
    rows = list(csv.DictReader(io.StringIO(run("changes", "--format", "csv").stdout)))
    field_changes = sum(
        max(1, len(json.loads(fields) or {}))
        for name in DATASETS
        for _, _, fields in expected_changes(name, 1, 2)
    )
    assert len(rows) == field_changes

    # And back: the keys version 2 dropped come back as restored, the rest reverts.
    control(fresh, "data-version", {"version": 1})
    run("sync", "--no-prefect")
    back = json.loads(run("changes", "--format", "json").stdout)
    for name in DATASETS:
        assert shown(back, name) == expected_changes(name, 2, 1), name


def test_schema_drift_new_field_reported_once_type_change_refused(
    fresh: SandboxHandle, tmp_path: Path
) -> None:
    db = f"sqlite:///{tmp_path / 'partner_sync.db'}"
    datasets = ["--dataset", "countries", "--dataset", "cities"]
    assert cli(fresh, db, tmp_path, "sync", "--no-prefect", *datasets).returncode == 0
    engine = make_engine(db)
    cities_table = DATASET_TABLES["cities"].core
    with engine.connect() as conn:
        cities_before = conn.execute(select(cities_table).order_by(cities_table.c.id)).all()

    control(fresh, "config", {"driftNewField": ["countries"], "driftType": ["cities"]})
    done = cli(fresh, db, tmp_path, "sync", "--no-prefect", *datasets)

    assert done.returncode == 1
    first_city = build_items("cities", cities=CITIES)[0]["id"]
    line = (
        "cities: field 'population' is not what the contract says (Input should be a valid "
        f"integer, got text) in item id {first_city} (data.content.0); cities is refused, its "
        "stored rows are kept"
    )
    assert line in done.stderr
    warning = "countries: the partner sends a field the contract does not list: 'sandboxNote'"
    assert done.stderr.count(warning) == 1
    with engine.connect() as conn:
        assert conn.execute(select(cities_table).order_by(cities_table.c.id)).all() == (
            cities_before
        )
        countries = DATASET_TABLES["countries"].core
        extras = conn.execute(select(countries.c.code, countries.c.extra)).all()
    engine.dispose()
    assert extras and all(extra == {NEW_FIELD: f"note {code}"} for code, extra in extras)

    again = cli(fresh, db, tmp_path, "sync", "--no-prefect", "--full-refresh", *datasets)
    assert again.returncode == 1 and line in again.stderr
    assert warning not in again.stderr  # reported once
    status = cli(fresh, db, tmp_path, "status")
    assert status.returncode == 0, status.stderr
    drift_lines = [ln for ln in status.stdout.splitlines() if NEW_FIELD in ln]
    assert len(drift_lines) == 1 and "countries" in drift_lines[0]


def test_since_takes_a_date_and_excludes_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from partner_sync.cli import main

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'empty.db'}")
    assert main(["changes", "--since", "2026-01-31", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out) == []
    assert main(["changes", "--run", "1", "--since", "2026-01-31"]) == 2
    assert capsys.readouterr().err.strip() == (
        "partner-sync: error: give --run or --since, not both"
    )
    assert main(["changes", "--since", "yesterday"]) == 2
