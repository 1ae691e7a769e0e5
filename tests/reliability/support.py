"""Helpers of the reliability tests: run sizes, a sandbox subprocess, database dumps.

The sized tests run in two sizes, as two cases of one test (the `size` fixture): `ci`, small,
under `make test`, and `full`, marked `slow`, which only `make reliability` runs
(`pytest -m slow`); `.ci/run` runs only the first (`make test`).
"""

from __future__ import annotations

import contextlib
import math
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, MetaData, func, select

from sandbox import build_items
from storage import DATASET_TABLES as SPECS
from tests.support.caller import call_control
from tests.support.processes import start_process, stop_process

ROOT = Path(__file__).resolve().parents[2]

#: Figures the tests record for the terminal summary (and the report): name -> value.
FIGURES: dict[str, Any] = {}


@dataclass(frozen=True)
class Size:
    """A run size: `size(ci, full)` picks the figure of this size."""

    name: str

    @property
    def full(self) -> bool:
        """Whether this is the full size (`make reliability`)."""
        return self.name == "full"

    def __call__(self, ci: int, full: int) -> int:
        return full if self.full else ci


CI = Size("ci")
FULL = Size("full")


# -- a sandbox in its own process (`partner-sync sandbox ...`) ----------------------------------


@dataclass
class CliSandbox:
    """A sandbox started through its command line, in a subprocess."""

    base_url: str
    process: subprocess.Popen[str]

    def control(self, name: str, payload: dict[str, Any] | None = None) -> Any:
        """Call `/_sandbox/NAME` (POST with a payload, GET without)."""
        return call_control(self.base_url, name, payload)


@contextlib.contextmanager
def cli_sandbox(*args: str) -> Iterator[CliSandbox]:
    """Run `partner-sync sandbox --port 0 ARGS` (the installed command) until the block ends."""
    command = Path(sys.executable).with_name("partner-sync")
    program = [str(command), "sandbox"]
    if not command.exists():  # not installed as a console script: the same entry point
        program = [sys.executable, "-m", "sandbox"]
    process = start_process(
        [*program, "--port", "0", "--log-level", "warning", *args],
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    try:
        assert process.stdout is not None
        base_url = None
        for line in process.stdout:
            found = re.search(r"base URL\s+(http://\S+)", line)
            if found:
                base_url = found.group(1)
            if "Ctrl-C" in line:
                break
        if base_url is None:
            raise RuntimeError("the sandbox CLI printed no base URL")
        yield CliSandbox(base_url, process)
    finally:
        stop_process(process, sig=signal.SIGINT)


# -- database views -------------------------------------------------------------------------------


def dump_tables(engine: Engine, *, exclude: tuple[str, ...] = ("sync_runs",)) -> dict[str, list]:
    """Every row of every table (but `exclude`), sorted: equal dumps mean equal databases."""
    metadata = MetaData()
    metadata.reflect(engine)
    dump: dict[str, list] = {}
    with engine.connect() as conn:
        for name, table in sorted(metadata.tables.items()):
            if name in exclude:
                continue
            rows = [tuple(row) for row in conn.execute(select(table))]
            dump[name] = sorted(rows, key=repr)
    return dump


def sync_runs(engine: Engine) -> list[dict[str, Any]]:
    """The `sync_runs` rows, oldest first."""
    metadata = MetaData()
    metadata.reflect(engine, only=["sync_runs"])
    table = metadata.tables["sync_runs"]
    with engine.connect() as conn:
        return [dict(row._mapping) for row in conn.execute(select(table).order_by(table.c.id))]


def table_rows(engine: Engine, dataset: str) -> dict[Any, dict[str, Any]]:
    """Every row of a dataset's table by key, all columns."""
    spec = SPECS[dataset]
    table = spec.core
    with engine.connect() as conn:
        return {row._mapping[spec.key]: dict(row._mapping) for row in conn.execute(select(table))}


def key_is_unique(engine: Engine, dataset: str) -> bool:
    """No key appears twice in the dataset's table."""
    spec = SPECS[dataset]
    key = spec.core.c[spec.key]
    with engine.connect() as conn:
        total, distinct = conn.execute(select(func.count(), func.count(key.distinct()))).one()
    return bool(total == distinct)


def item_to_columns(dataset: str, item: dict[str, Any]) -> dict[str, Any]:
    """What storage should hold for a wire item: its columns and `extra`."""
    spec = SPECS[dataset]
    row = {column: item.get(wire) for wire, column in spec.fields.items()}
    row["extra"] = {k: v for k, v in item.items() if k not in spec.fields}
    return row


@cache
def source_items(dataset: str, cities: int, version: int, seed: int) -> dict[Any, dict[str, Any]]:
    """The sandbox's items of one dataset and version, by key, as columns."""
    key = SPECS[dataset].key
    return {
        item[key]: item_to_columns(dataset, item)
        for item in build_items(dataset, cities=cities, version=version, seed=seed)
    }


def mismatch_with_source(
    rows: dict[Any, dict[str, Any]], source: dict[Any, dict[str, Any]]
) -> str | None:
    """None when the live rows are exactly `source` and every other row is marked deleted."""
    live = {k: r for k, r in rows.items() if r["deleted_at"] is None}
    if live.keys() != source.keys():
        missing = sorted(source.keys() - live.keys(), key=repr)[:3]
        extra = sorted(live.keys() - source.keys(), key=repr)[:3]
        return f"live keys differ: missing {missing}, unexpected {extra}"
    for key, expected in source.items():
        got = {c: live[key][c] for c in expected}
        if not _same(got, expected):
            return f"row {key!r} is {got}, the source has {expected}"
    return None


def _same(a: dict[str, Any], b: dict[str, Any]) -> bool:
    for column, value in b.items():
        other = a[column]
        if isinstance(value, float) and isinstance(other, float):
            if not (value == other or (math.isnan(value) and math.isnan(other))):
                return False
        elif other != value:
            return False
    return True
