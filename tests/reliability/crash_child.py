"""A sync that stops at a chosen database statement and waits there to be killed.

Run as `python -m tests.reliability.crash_child POINT` with the sync's settings in the
environment. POINT is `LABEL#N` (the N-th statement with that label) or `#N` (the N-th
statement of any kind). Labels are `KIND:DATASET`, where KIND is one of `upsert`, `seen`,
`sweep`, `state`, `run`, `read`, `commit`, `other`.

When the point is reached the child prints `STOPPED <label>` and waits for a signal; the
parent kills it with SIGKILL. A child that never reaches its point prints `FINISHED` and
exits normally.
"""

from __future__ import annotations

import re
import signal
import sys
from collections import Counter
from typing import Any

from sqlalchemy import Engine, event

import partner_sync.core.dataset
from partner_sync.core.run import run_sync
from partner_sync.core.settings import load_settings
from storage import DatasetTable

_current = {"dataset": "-"}
_counts: Counter[str] = Counter()
_total = {"n": 0}


def _say(line: str) -> None:
    """Tell the parent (stdout is the protocol; there is no terminal)."""
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def classify(statement: str, dataset: str) -> str:
    """The label of one SQL statement within the sync of `dataset`."""
    sql = " ".join(statement.split()).lower()
    if "partner_sync_seen_" in sql and sql.startswith("insert"):
        kind = "seen"
    elif sql.startswith("insert") and "on conflict" in sql:
        kind = "upsert"
    elif sql.startswith("update") and "deleted_at" in sql and "sync_runs" not in sql:
        kind = "sweep"
    elif "dataset_state" in sql and not sql.startswith("select"):
        kind = "state"
    elif "sync_runs" in sql and not sql.startswith("select"):
        kind = "run"
    elif sql.startswith("select"):
        kind = "read"
    else:
        kind = "other"
    return f"{kind}:{dataset}"


def _stop_if(label: str, target_label: str | None, target_n: int) -> None:
    _counts[label] += 1
    _total["n"] += 1
    if target_label is None:
        hit = _total["n"] == target_n
    else:
        hit = label == target_label and _counts[label] == target_n
    if hit:
        _say(f"STOPPED {label}")
        while True:  # wait for the parent's SIGKILL
            signal.pause()


def main(point: str) -> int:
    """Run the sync, stopping at `point`."""
    found = re.fullmatch(r"([a-z]+:[a-z-]+)?#(\d+)", point)
    if found is None:
        _say(f"bad point {point!r}")
        return 2
    target_label, target_n = found.group(1), int(found.group(2))

    def before_execute(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        _stop_if(classify(statement, _current["dataset"]), target_label, target_n)

    def before_commit(conn: Any) -> None:
        _stop_if(f"commit:{_current['dataset']}", target_label, target_n)

    event.listen(Engine, "before_cursor_execute", before_execute)
    event.listen(Engine, "commit", before_commit)

    real_sync_dataset = partner_sync.core.dataset.sync_dataset

    def sync_dataset(engine: Engine, table: DatasetTable, *args: Any, **kwargs: Any) -> Any:
        _current["dataset"] = table.name
        try:
            return real_sync_dataset(engine, table, *args, **kwargs)
        finally:
            _current["dataset"] = "-"

    # Replaced where the run loop looks it up.
    partner_sync.core.dataset.sync_dataset = sync_dataset  # type: ignore[assignment]
    outcomes = run_sync(load_settings()).outcomes
    statuses = " ".join(f"{o.dataset}={o.status}" for o in outcomes)
    _say(f"FINISHED statements={_total['n']} {statuses}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
