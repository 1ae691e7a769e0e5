"""The memory figure: peak RSS of a sync in a child process, at two sizes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from ._sandbox import sandbox_process
from ._timing import Figure, median

#: The project root: children import `benchmarks`, `flows`, ... from it.
ROOT = Path(__file__).resolve().parent.parent


def run_child(args: list[str], *, env: dict[str, str] | None = None, cwd: str) -> dict[str, Any]:
    """Run `python -m benchmarks._child ARGS`; return the JSON it printed last."""
    child_env = dict(env or os.environ)
    child_env["PYTHONPATH"] = os.pathsep.join(
        filter(None, [str(ROOT), child_env.get("PYTHONPATH")])
    )
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks._child", *args],
        cwd=cwd,
        env=child_env,
        capture_output=True,
        text=True,
        check=False,
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        tail = "\n".join(done.stderr.splitlines()[-15:])
        raise RuntimeError(f"child {args[0]} failed with status {done.returncode}:\n{tail}")
    result: dict[str, Any] = json.loads(lines[-1])
    return result


# --- memory -------------------------------------------------------------------------------


MEMORY = "memory growth above the pre-sync level, 1M vs 200k rows"
#: The growth at the big size may not pass this (MiB), whatever the ratio.
MEMORY_CAP_MIB = 64.0


def memory_figure(base_url: str, rows: int, big_rows: int, runs: int) -> Figure:
    """How much a sync's peak RSS grows above the RSS before it, at `big_rows` vs `rows`.

    Each sync runs in a child of its own (`sync_one`: client + storage into a new SQLite
    file); the growth is its peak (`VmHWM`) minus its RSS just before the sync. The
    `big_rows` sync reads its own sandbox process, started only for it.
    """
    with tempfile.TemporaryDirectory(prefix="partner-bench-mem-") as workdir:

        def peak(url: str, n: int, label: str) -> dict[str, Any]:
            return run_child(["memory", url, str(n), f"{workdir}/{label}.db"], cwd=workdir)

        small = [peak(base_url, rows, f"small{i}") for i in range(runs)]
        with sandbox_process(big_rows) as big_sandbox:
            big = [peak(big_sandbox.base_url, big_rows, f"big{i}") for i in range(runs)]
    mib = 1024.0

    def growth(results: list[dict[str, Any]]) -> list[float]:
        return [(r["peak_rss_kib"] - r["rss_before_kib"]) / mib for r in results]

    return Figure(
        MEMORY,
        median(growth(big)),
        median(growth(small)),
        "MiB",
        1.5,
        cap=MEMORY_CAP_MIB,
        ours_label=f"peak RSS above the RSS before the sync, {big_rows:,} cities",
        baseline_label=f"the same at {rows:,} cities",
        note=(
            f"peak RSS {median([r['peak_rss_kib'] for r in big]) / mib:,.0f} MiB vs "
            f"{median([r['peak_rss_kib'] for r in small]) / mib:,.0f} MiB; {big_rows:,} rows "
            f"took {median([r['seconds'] for r in big]):,.1f} s"
        ),
        samples={"ours": growth(big), "small": growth(small)},
    )
