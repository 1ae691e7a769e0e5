"""Timing a child process whole: wall time from spawn to exit, its CPU, its peak memory."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

#: The project root: children import `benchmarks` (and the project) from it.
ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class ProcessRun:
    """One child process: wall and CPU seconds, peak RSS, and what it printed last."""

    wall: float
    cpu: float
    peak_kib: int
    stdout: str
    #: Seconds from spawn to its first partner request, when the child noted it.
    first_request: float | None = None


class ChildFailed(RuntimeError):
    """A measured child exited non-zero or overran its time limit."""


def child_env(extra: dict[str, str]) -> dict[str, str]:
    """This environment without project settings, plus `extra`, importing from `ROOT`.

    `PYTHONDONTWRITEBYTECODE` is dropped: a user's install has compiled modules, and a
    benchmark that recompiles every import at every start measures the compiler.
    """
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PARTNER_", "BENCH_", "PREFECT_"))
        and k not in ("DATABASE_URL", "PYTHONDONTWRITEBYTECODE")
    }
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env.update(extra)
    return env


def run_measured(
    args: list[str],
    *,
    env: dict[str, str],
    cwd: str,
    timeout: float = 600.0,
    note_first_request: bool = False,
) -> ProcessRun:
    """Run `python ARGS...` (`-m MODULE ...` or `-c CODE`) and measure it.

    `os.wait4` gives this very child's CPU time; `benchmarks._run_child`, which runs ARGS,
    notes its peak RSS. With `note_first_request`, ARGS are the CLI's
    (`partner-sync ARGS...`) and the child also notes when its first request leaves.
    """
    with tempfile.TemporaryDirectory(prefix="partner-bench-run-") as scratch:
        note = Path(scratch) / "first-request"
        peak = Path(scratch) / "peak-kib"
        command = [sys.executable, "-m", "benchmarks._run_child", str(peak)]
        command += ["--first-request", str(note)] if note_first_request else []
        command += args
        out_path, err_path = Path(scratch) / "out", Path(scratch) / "err"
        with open(out_path, "wb") as out, open(err_path, "wb") as err:
            spawned = time.time()
            started = time.perf_counter()
            process = subprocess.Popen(command, env=env, cwd=cwd, stdout=out, stderr=err)
            deadline = started + timeout
            while True:
                pid, status, usage = os.wait4(process.pid, os.WNOHANG)
                if pid:
                    break
                if time.perf_counter() > deadline:
                    process.kill()
                    process.wait()
                    raise ChildFailed(f"{' '.join(args[:3])} overran {timeout:.0f} s")
                time.sleep(0.005)
            wall = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        if process.returncode != 0:
            tail = "\n".join(err_path.read_text(errors="replace").splitlines()[-15:])
            raise ChildFailed(f"{' '.join(args[:3])} exited {process.returncode}:\n{tail}")
        first = float(note.read_text()) - spawned if note.exists() else None
        if not peak.exists():
            raise ChildFailed(f"{' '.join(args[:3])} exited without noting its peak RSS")
        return ProcessRun(
            wall=wall,
            cpu=usage.ru_utime + usage.ru_stime,
            peak_kib=int(peak.read_text()),
            stdout=out_path.read_text(errors="replace"),
            first_request=first,
        )
