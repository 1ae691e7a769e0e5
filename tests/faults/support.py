"""What every fault test checks: one readable line, no secret, data as before, the next run works.

A fault test runs the real command a user runs (`partner-sync sync --no-prefect`, in this
process through `partner_sync.cli.main`, so a test can reach into a real component while it
runs) against a database that already holds a good sync, with the sandbox serving changed
data (version 2): whatever a fault let through half-written would show. `Scenario` holds
that set-up and the three checks:

- `assert_one_line`: the command printed exactly one `partner-sync: error:` line, naming the
  component, no traceback, no secret or fragment of one (the secret list approach of
  `tests/reliability/test_secrets.py`);
- `assert_untouched`: each named dataset is exactly as before; every other one is either as
  before or exactly the source (a dataset the fault did not reach may have synced);
- `assert_next_run_completes`: the command run again exits 0 and every dataset is the source.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, inspect

from partner_api import DATASETS
from partner_sync.cli import main
from sandbox import DEMO_API_SECRET, DEMO_PASSWORD, DEMO_TOTP_SECRET, SandboxConfig
from storage.db import make_engine
from tests.reliability.support import (
    dump_tables,
    mismatch_with_source,
    source_items,
    sync_runs,
    table_rows,
)

#: The secrets a line must never show, whole or in part (see `fragments`).
SECRETS: dict[str, str] = {
    "API secret": DEMO_API_SECRET,
    "password": DEMO_PASSWORD,
    "TOTP secret": DEMO_TOTP_SECRET,
}
#: The shortest piece of a secret that counts as a leak (a shorter one matches ordinary text).
FRAGMENT = 8
#: What marks a Python traceback in output a user sees.
TRACEBACK = re.compile(r"Traceback \(most recent call last\)|^\s+File \"", re.MULTILINE)
#: The prefix of the CLI's error line.
ERROR_PREFIX = "partner-sync: error: "
#: Every line `assert_one_line` accepted, by test: the terminal summary prints them (README table).
SEEN_LINES: dict[str, str] = {}


def fragments(secret: str, size: int = FRAGMENT) -> set[str]:
    """Every `size`-character piece of `secret` (the whole secret when it is shorter)."""
    if len(secret) <= size:
        return {secret}
    return {secret[i : i + size] for i in range(len(secret) - size + 1)}


def leaked(text: str, secrets: dict[str, str]) -> list[str]:
    """The kinds of secret of which `text` holds the whole or a fragment (never the value)."""
    return sorted(
        kind for kind, value in secrets.items() if any(f in text for f in fragments(value))
    )


@dataclass(frozen=True)
class CliResult:
    """What one `partner-sync` command did: exit code, what it printed, how long it took."""

    code: int
    stdout: str
    stderr: str

    @property
    def error_lines(self) -> list[str]:
        """The `partner-sync: error:` lines (the one line a user reads)."""
        return [line for line in self.stderr.splitlines() if line.startswith(ERROR_PREFIX)]

    @property
    def error(self) -> str:
        """The one error line, without its prefix ("" when there is none)."""
        lines = self.error_lines
        return lines[0].removeprefix(ERROR_PREFIX) if lines else ""


def run_cli(*argv: str) -> CliResult:
    """`partner-sync ARGV` in this process (default `sync --no-prefect`), output captured."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(argv or ("sync", "--no-prefect")))
    return CliResult(code, out.getvalue(), err.getvalue())


def assert_one_line(
    result: CliResult,
    names: str,
    *,
    secrets: dict[str, str] | None = None,
    code: int = 1,
) -> str:
    """The command failed with exactly one error line matching `names`; no traceback, no secret.

    Returns the line (without its prefix), for the README's table.
    """
    assert result.code == code, (result.code, result.stderr[-2000:])
    assert len(result.error_lines) == 1, result.stderr[-2000:]
    line = result.error
    assert "\n" not in line and "\r" not in line
    assert re.search(names, line), line
    everything = result.stdout + result.stderr
    assert not TRACEBACK.search(everything), everything[-3000:]
    found = leaked(everything, {**SECRETS, **(secrets or {})})
    assert not found, f"the output holds a fragment of the {', '.join(found)}"
    test = os.environ.get("PYTEST_CURRENT_TEST", "?").split("::")[-1].split(" ")[0]
    SEEN_LINES[test] = line
    return line


@dataclass
class Scenario:
    """A database holding a good sync of version 1, and the sandbox now serving version 2."""

    engine: Engine
    config: SandboxConfig
    before: dict[str, list[Any]] = field(default_factory=dict)
    runs_before: int = 0

    @classmethod
    def prepared(
        cls,
        database_url: str,
        config: SandboxConfig,
        set_version: Callable[[int], object],
    ) -> Scenario:
        """Sync version 1 with the real command, then switch the source to version 2."""
        set_version(1)
        first = run_cli()
        assert first.code == 0, first.stderr[-2000:]
        scenario = cls(make_engine(database_url), config)
        scenario.before = dump_tables(scenario.engine)
        scenario.runs_before = len(sync_runs(scenario.engine))
        set_version(2)
        return scenario

    def source(self, dataset: str) -> dict[Any, dict[str, Any]]:
        """The rows the source (version 2) asks for."""
        return source_items(dataset, self.config.cities, 2, self.config.seed)

    def assert_untouched(self, faulted: Iterable[str] = DATASETS) -> None:
        """`faulted` datasets exactly as before; the others as before or exactly the source."""
        faulted = set(faulted)
        now = dump_tables(self.engine)
        assert now.keys() == self.before.keys()
        for dataset in DATASETS:
            if now[dataset] == self.before[dataset]:
                continue
            assert dataset not in faulted, f"{dataset} changed although its sync failed"
            problem = mismatch_with_source(table_rows(self.engine, dataset), self.source(dataset))
            assert problem is None, f"{dataset} is neither as before nor the source: {problem}"
        # dataset_state, the change log and the drift record move on for synced datasets only.
        per_dataset = {"dataset_state", "sync_changes", "schema_drift"}
        for other in set(now) - set(DATASETS) - per_dataset:
            assert now[other] == self.before[other], other
        for name in per_dataset & set(now):
            for dataset in faulted:
                assert self._rows_of(name, dataset, now) == self._rows_of(
                    name, dataset, self.before
                ), f"{name} has rows of {dataset} although its sync failed"

    def _rows_of(self, table: str, dataset: str, dump: dict[str, list[Any]]) -> list[Any]:
        """The rows of `table` (in `dump`) that belong to `dataset`, by its `dataset` column."""
        columns = [c["name"] for c in inspect(self.engine).get_columns(table)]
        at = columns.index("dataset")
        return [row for row in dump[table] if row[at] == dataset]

    def new_runs(self) -> list[dict[str, Any]]:
        """The `sync_runs` rows written since the scenario was prepared."""
        return sync_runs(self.engine)[self.runs_before :]

    def assert_next_run_completes(self, *argv: str) -> None:
        """The command again: exit 0, and every dataset exactly the source."""
        self.engine.dispose()  # no connection of ours survives a fault into the next run
        result = run_cli(*argv)
        assert result.code == 0, result.stderr[-2000:]
        assert not result.error_lines
        for dataset in DATASETS:
            problem = mismatch_with_source(table_rows(self.engine, dataset), self.source(dataset))
            assert problem is None, f"after the next run {dataset}: {problem}"
        assert all(r["status"] != "running" for r in sync_runs(self.engine))


def statuses(runs: Sequence[dict[str, Any]]) -> dict[str, str]:
    """The last `sync_runs` status of each dataset among `runs`."""
    return {r["dataset"]: r["status"] for r in runs}
