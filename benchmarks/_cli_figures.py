"""The figures measured as whole processes: the CLI, the raw floor's process, and dlt.

Every side is a fresh process timed from spawn to exit (process start included), against
the same sandbox process, interleaved round by round:

- ours: `python -m partner_sync sync --no-prefect --dataset cities` with a kept session
  (the login is done once, beforehand, for every side), into a SQLite file that holds the
  empty schema (a copy of one migrated template); run twice on one file, the second run is
  the unchanged re-sync (every page a 304);
- the sequential raw floor: `benchmarks._floor_process` (`_floors.load_sqlite`) into a
  copy of the same template; its second run on one file is its full copy (it has no
  ETags, so it reads every page again; its `WHERE` writes nothing);
- dlt (`benchmarks._dlt_peer`), when the `bench` extra is installed: each destination
  once (first load, then again), with a time limit; the fastest per figure then runs in
  every round.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import json
import shutil
import sqlite3
import tempfile
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sandbox import DEMO_API_KEY, DEMO_API_SECRET, DEMO_EMAIL, DEMO_PASSWORD
from storage.db import make_engine, upgrade_database

from ._dlt_peer import DESTINATIONS
from ._processes import ChildFailed, ProcessRun, child_env, run_measured
from ._sandbox import SandboxProcess
from ._timing import Figure, median, skipped

#: The CLI's plain path as a user types it (`python -m partner_sync` is the same program).
SYNC_ARGS = ["sync", "--no-prefect", "--dataset", "cities"]
#: What this tool must import before its first request, whatever its own code does: the
#: libraries it is built on (the brief's choices) and the standard library's parts a sync
#: uses. The bound of the start-up figure.
IMPORT_FLOOR = "import httpx, sqlmodel, typer, pydantic_settings, tenacity, sqlite3, json, hashlib"
MIB = 1024.0


@dataclass
class Sides:
    """The runs of one figure group, per side."""

    ours_first: list[ProcessRun] = field(default_factory=list)
    ours_again: list[ProcessRun] = field(default_factory=list)
    floor_first: list[ProcessRun] = field(default_factory=list)
    floor_again: list[ProcessRun] = field(default_factory=list)
    dlt_first: list[ProcessRun] = field(default_factory=list)
    dlt_again: list[ProcessRun] = field(default_factory=list)
    imports: list[ProcessRun] = field(default_factory=list)
    in_flight_peak: list[int] = field(default_factory=list)
    dlt_trial: dict[str, str] = field(default_factory=dict)


class Partner:
    """One sandbox process, a kept session for it, and a migrated template database."""

    def __init__(self, sandbox: SandboxProcess, workdir: Path) -> None:
        self.sandbox = sandbox
        self.workdir = workdir
        self.session_file = workdir / "session.json"
        self.template = workdir / "template.db"
        engine = make_engine(f"sqlite:///{self.template}")
        try:
            upgrade_database(engine)
        finally:
            engine.dispose()
        run_measured(
            ["-m", "partner_sync", "login"],
            env=self.cli_env(workdir / "login.db"),
            cwd=str(workdir),
        )
        self.token = json.loads(self.session_file.read_text())["token"]

    def cli_env(self, db: Path) -> dict[str, str]:
        """The CLI's settings: this sandbox, the kept session, the database `db`."""
        return child_env(
            {
                "PARTNER_BASE_URL": self.sandbox.base_url,
                "PARTNER_API_KEY": DEMO_API_KEY,
                "PARTNER_API_SECRET": DEMO_API_SECRET,
                "PARTNER_EMAIL": DEMO_EMAIL,
                "PARTNER_PASSWORD": DEMO_PASSWORD,
                "PARTNER_OTP_SOURCE": "sandbox",
                "PARTNER_SESSION_STORE": "file",
                "PARTNER_SESSION_FILE": str(self.session_file),
                "DATABASE_URL": f"sqlite:///{db}",
            }
        )

    def raw_env(self) -> dict[str, str]:
        """What the floor's and dlt's processes read: the sandbox and the session token."""
        return child_env(
            {
                "BENCH_BASE_URL": self.sandbox.base_url,
                "BENCH_API_KEY": DEMO_API_KEY,
                "BENCH_API_SECRET": DEMO_API_SECRET,
                "BENCH_TOKEN": self.token,
            }
        )

    def fresh_db(self, label: str) -> Path:
        """A copy of the migrated, empty template."""
        path = self.workdir / f"{label}-{uuid.uuid4().hex[:8]}.db"
        shutil.copyfile(self.template, path)
        return path

    def ours(self, db: Path) -> ProcessRun:
        """The CLI's plain sync of `cities` into `db`, noting its first request."""
        return run_measured(
            SYNC_ARGS,
            env=self.cli_env(db),
            cwd=str(self.workdir),
            note_first_request=True,
        )

    def floor(self, db: Path) -> ProcessRun:
        """The raw floor's process into `db`."""
        return run_measured(
            ["-m", "benchmarks._floor_process", str(db)], env=self.raw_env(), cwd=str(self.workdir)
        )

    def dlt(self, destination: str, workdir: Path, timeout: float) -> ProcessRun:
        """dlt's pipeline into `destination`, its state and data under `workdir`."""
        run = run_measured(
            ["-m", "benchmarks._dlt_peer", destination, str(workdir)],
            env=self.raw_env(),
            cwd=str(self.workdir),
            timeout=timeout,
        )
        rows = json.loads(run.stdout.strip().splitlines()[-1])["rows"]
        if rows != self.sandbox.cities:
            raise RuntimeError(
                f"dlt → {destination} holds {rows} cities, not {self.sandbox.cities}"
            )
        return run

    def fresh_dir(self, label: str) -> Path:
        """A new, empty directory under the work directory."""
        path = self.workdir / f"{label}-{uuid.uuid4().hex[:8]}"
        path.mkdir()
        return path


def count_cities(db: Path) -> int:
    """Live rows in `db`'s cities table: every run is checked, outside the clock."""
    with contextlib.closing(sqlite3.connect(db)) as conn:
        row = conn.execute("SELECT count(*) FROM cities WHERE deleted_at IS NULL").fetchone()
    return int(row[0])


def dlt_installed() -> str:
    """Empty when dlt (the `bench` extra) can be imported, else why not."""
    if importlib.util.find_spec("dlt") is None:
        return "dlt is not installed: `uv sync --extra bench` (make bench does)"
    return ""


@contextlib.contextmanager
def partner_for(sandbox: SandboxProcess) -> Iterator[Partner]:
    """A `Partner` on `sandbox` with a scratch directory, removed afterwards."""
    with tempfile.TemporaryDirectory(prefix="partner-bench-cli-") as workdir:
        yield Partner(sandbox, Path(workdir))


def _check(db: Path, rows: int, who: str) -> None:
    found = count_cities(db)
    if found != rows:
        raise RuntimeError(f"{who} left {found} cities, expected {rows}")


def _ours_pair(partner: Partner, sides: Sides, stats: bool) -> None:
    db = partner.fresh_db("ours")
    if stats:
        partner.sandbox.control("reset-stats", post=True)
    sides.ours_first.append(partner.ours(db))
    if stats:
        sides.in_flight_peak.append(int(partner.sandbox.control("stats")["inFlightPeak"]))
    _check(db, partner.sandbox.cities, "ours")
    sides.ours_again.append(partner.ours(db))
    _check(db, partner.sandbox.cities, "ours, again")


def _floor_pair(partner: Partner, sides: Sides) -> None:
    db = partner.fresh_db("floor")
    sides.floor_first.append(partner.floor(db))
    _check(db, partner.sandbox.cities, "the floor")
    sides.floor_again.append(partner.floor(db))


def choose_dlt(
    partner: Partner, sides: Sides, timeout: float, destinations: tuple[str, ...]
) -> tuple[str, str]:
    """One trial per destination (first load, then again); the fastest for each figure.

    A destination that fails or overruns `timeout` is named in the notes, with why. With
    one destination there is nothing to choose: no trial.
    """
    if len(destinations) == 1:
        return destinations[0], destinations[0]
    first: dict[str, float] = {}
    again: dict[str, float] = {}
    for destination in destinations:
        workdir = partner.fresh_dir(f"dlt-trial-{destination}")
        try:
            run = partner.dlt(destination, workdir, timeout)
            first[destination] = run.wall
            sides.dlt_trial[destination] = (
                f"first load {run.wall:.1f} s, peak {run.peak_kib / MIB:,.0f} MiB"
            )
            run = partner.dlt(destination, workdir, timeout)
            again[destination] = run.wall
            sides.dlt_trial[destination] += (
                f"; unchanged re-sync {run.wall:.1f} s, peak {run.peak_kib / MIB:,.0f} MiB"
            )
        except (ChildFailed, RuntimeError) as exc:
            done = sides.dlt_trial.get(destination)
            stopped = f"stopped: {str(exc).splitlines()[0]}"
            sides.dlt_trial[destination] = f"{done}; {stopped}" if done else stopped
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
    if not first or not again:
        raise RuntimeError("no dlt destination finished: " + json.dumps(sides.dlt_trial))
    return min(first, key=first.__getitem__), min(again, key=again.__getitem__)


def _dlt_pairs(partner: Partner, sides: Sides, best: tuple[str, str], timeout: float) -> None:
    best_first, best_again = best
    workdir = partner.fresh_dir("dlt")
    sides.dlt_first.append(partner.dlt(best_first, workdir, timeout))
    if best_again != best_first:
        shutil.rmtree(workdir)
        workdir = partner.fresh_dir("dlt")
        partner.dlt(best_again, workdir, timeout)
    sides.dlt_again.append(partner.dlt(best_again, workdir, timeout))
    shutil.rmtree(workdir, ignore_errors=True)


def _imports(partner: Partner, sides: Sides) -> None:
    sides.imports.append(
        run_measured(["-c", IMPORT_FLOOR], env=partner.raw_env(), cwd=str(partner.workdir))
    )


def _peak(runs: list[ProcessRun]) -> str:
    return f"{median([r.peak_kib for r in runs]) / MIB:,.0f} MiB"


def process_figure(
    name: str,
    ours: list[ProcessRun],
    baseline: list[ProcessRun],
    limit: float,
    *,
    ours_label: str,
    baseline_label: str,
    note: str = "",
    sides: tuple[str, str] = ("ours", "floor"),
) -> Figure:
    """A `ratio` figure of two sides' processes: medians of wall time, CPU ratio, peaks."""
    cpu_base = median([r.cpu for r in baseline])
    peaks = f"peak RSS {sides[0]} {_peak(ours)}, {sides[1]} {_peak(baseline)}"
    return Figure(
        name,
        median([r.wall for r in ours]),
        median([r.wall for r in baseline]),
        "s",
        limit,
        ours_label=ours_label,
        baseline_label=baseline_label,
        note=f"{note}; {peaks}" if note else peaks,
        samples={sides[0]: [r.wall for r in ours], sides[1]: [r.wall for r in baseline]},
        cpu_ratio=median([r.cpu for r in ours]) / cpu_base if cpu_base > 0 else None,
    )


#: The rows of `loopback_figures`, in the issue's words.
FIRST_LOAD = "first load, 200k cities, loopback, vs the sequential raw floor"
RESYNC = "unchanged re-sync (CLI process, start included) vs the floor's full copy"
DLT_FIRST = "first load vs dlt's best destination"
DLT_RESYNC = "unchanged re-sync vs dlt's best"
START = "CLI process start → first partner request"
LATENCY = "first load at 20 ms per request, vs the sequential raw floor"


def loopback_figures(
    sandbox: SandboxProcess,
    runs: int,
    *,
    dlt_timeout: float,
    dlt_destinations: tuple[str, ...] = DESTINATIONS,
    say: Any = print,
) -> list[Figure]:
    """First load, unchanged re-sync, dlt's best and the start-up, against `sandbox`."""
    rows = sandbox.cities
    sides = Sides()
    why_no_dlt = dlt_installed()
    with partner_for(sandbox) as partner:
        # Warm-up, untimed: the server's page cache, and each side's compiled modules.
        _ours_pair(partner, Sides(), stats=False)
        _floor_pair(partner, Sides())
        _imports(partner, Sides())
        best: tuple[str, str] | None = None
        if not why_no_dlt:
            say(f"  dlt: one trial per destination ({', '.join(dlt_destinations)})")
            try:
                best = choose_dlt(partner, sides, dlt_timeout, dlt_destinations)
            except RuntimeError as exc:
                why_no_dlt = str(exc)
        for round_ in range(runs):
            say(f"  round {round_ + 1}/{runs}")
            steps: list[Callable[[], None]] = [
                lambda: _ours_pair(partner, sides, stats=False),
                lambda: _floor_pair(partner, sides),
                lambda: _imports(partner, sides),
            ]
            if best is not None:
                steps.append(functools.partial(_dlt_pairs, partner, sides, best, dlt_timeout))
            # Rotate the order every round: a drift of the machine weighs on every side.
            shift = round_ % len(steps)
            for step in steps[shift:] + steps[:shift]:
                step()
    label = f"`partner-sync sync --no-prefect --dataset cities`, {rows:,} cities → SQLite"
    floor_label = (
        "the raw floor's process: signed httpx page loop + `json` + hashes + one "
        "`sqlite3.executemany` of the same upsert, same columns, one transaction"
    )
    figures = [
        process_figure(
            FIRST_LOAD,
            sides.ours_first,
            sides.floor_first,
            1.0,
            ours_label=label + " (empty schema)",
            baseline_label=floor_label,
            note=f"{rows / median([r.wall for r in sides.ours_first]):,.0f} rows/s, "
            f"process start included",
        ),
        process_figure(
            RESYNC,
            sides.ours_again,
            sides.floor_again,
            0.5,
            ours_label="the same command again on the same file (every page a 304)",
            baseline_label="the floor's process again on its file (reads every page; its "
            "`WHERE` writes nothing)",
        ),
    ]
    trials = "; ".join(f"{d}: {t}" for d, t in sides.dlt_trial.items())
    if best is None:
        figures += [
            skipped(DLT_FIRST, why_no_dlt, limit=0.25),
            skipped(DLT_RESYNC, why_no_dlt, limit=0.10),
        ]
    else:
        figures += [
            process_figure(
                DLT_FIRST,
                sides.ours_first,
                sides.dlt_first,
                0.25,
                ours_label="ours, first load (as above)",
                baseline_label=f"dlt → {best[0]} (`RESTClient.paginate`, page-number "
                "paginator, HMAC `AuthBase`, merge on `id`), a fresh pipeline",
                note=f"trials (one each): {trials}; {_cpu_bound(sides.ours_first, sides.dlt_first)}"
                f"; the raw floor's CPU time alone is "
                f"{_cpu(sides.floor_first) / _wall(sides.dlt_first):.2f}x dlt's time",
                sides=("ours", "dlt"),
            ),
            process_figure(
                DLT_RESYNC,
                sides.ours_again,
                sides.dlt_again,
                0.10,
                ours_label="ours, unchanged re-sync (as above)",
                baseline_label=f"dlt → {best[1]}, the same pipeline run again",
                note=f"{_cpu_bound(sides.ours_again, sides.dlt_again)}; the import of the "
                f"libraries alone (last row's baseline) is "
                f"{_wall(sides.imports) / _wall(sides.dlt_again):.2f}x dlt's time",
                sides=("ours", "dlt"),
            ),
        ]
    starts = [r.first_request for r in sides.ours_again if r.first_request is not None]
    imports = median([r.wall for r in sides.imports])
    figures.append(
        Figure(
            START,
            median(starts) if starts else float("nan"),
            imports,
            "s",
            0.3,
            kind="seconds",
            ours_label="spawn of the re-sync's process until its first request leaves "
            "(`benchmarks._run_child` notes the first `socket.send`)",
            baseline_label=f"a process that only runs `{IMPORT_FLOOR}`: the libraries this "
            "tool is built on load before its first request, whatever its own code does",
            samples={"ours": starts, "imports": [r.wall for r in sides.imports]},
        )
    )
    return figures


def latency_figure(sandbox: SandboxProcess, runs: int, say: Any = print) -> Figure:
    """The first load against a sandbox that delays every request, vs the sequential floor."""
    sides = Sides()
    with partner_for(sandbox) as partner:
        _floor_pair(partner, Sides())  # warm-up: the page cache
        for round_ in range(runs):
            say(f"  round {round_ + 1}/{runs}")
            if round_ % 2 == 0:
                _ours_first(partner, sides)
                sides.floor_first.append(partner.floor(partner.fresh_db("floor")))
            else:
                sides.floor_first.append(partner.floor(partner.fresh_db("floor")))
                _ours_first(partner, sides)
    pages = -(-sandbox.cities // 1000)
    return process_figure(
        LATENCY,
        sides.ours_first,
        sides.floor_first,
        0.4,
        ours_label=f"the CLI's first load, {sandbox.cities:,} cities, every request delayed "
        f"{sandbox.latency_ms:g} ms by the sandbox",
        baseline_label="the sequential raw floor's process on the same sandbox",
        note=f"{pages} pages: {pages * sandbox.latency_ms / 1000:.1f} s of delay for a "
        f"sequential reader; requests in flight at once (sandbox counter, peak per run): "
        f"{', '.join(map(str, sides.in_flight_peak))}; "
        f"{_cpu_bound(sides.ours_first, sides.floor_first)}",
    )


def _wall(runs: list[ProcessRun]) -> float:
    return median([r.wall for r in runs])


def _cpu(runs: list[ProcessRun]) -> float:
    return median([r.cpu for r in runs])


def _cpu_bound(ours: list[ProcessRun], baseline: list[ProcessRun]) -> str:
    # Once every network wait is hidden, a process still needs its own CPU seconds: the
    # ratio cannot fall below ours' CPU time over the baseline's wall time.
    return (
        f"bound: ours' own CPU time ({_cpu(ours):.3f} s) alone is "
        f"{_cpu(ours) / _wall(baseline):.2f}x the baseline's time"
    )


def _ours_first(partner: Partner, sides: Sides) -> None:
    db = partner.fresh_db("ours")
    partner.sandbox.control("reset-stats", post=True)
    sides.ours_first.append(partner.ours(db))
    sides.in_flight_peak.append(int(partner.sandbox.control("stats")["inFlightPeak"]))
    _check(db, partner.sandbox.cities, "ours")
