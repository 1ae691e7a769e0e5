"""`python -m benchmarks`: start the sandbox, run every figure, print and save the table.

`make bench` runs the full sizes (well under 10 minutes on a 2-core machine);
`make bench-smoke` (and `tests/benchmarks/`) runs tiny sizes in seconds, to prove the
harness works; its numbers mean nothing.
"""

from __future__ import annotations

import argparse
import logging
import math
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from ._change_tracking import change_tracking_figure
from ._children import MEMORY, memory_figure
from ._cli_figures import LATENCY, latency_figure, loopback_figures
from ._dlt_peer import DESTINATIONS
from ._figures import (
    POSTGRES,
    Bench,
    Measure,
    bench_session,
    postgres_available,
    postgres_figure,
    upsert_figure,
)
from ._report import (
    ORDER,
    findings_block,
    load_average,
    markdown_table,
    missed,
    results_markdown,
    rewrite_findings,
)
from ._sandbox import sandbox_process
from ._timing import Figure, skipped

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"
README = RESULTS.with_name("README.md")
#: The checkout the report must not name.
ROOT_HINT = RESULTS.parent.parent
#: Figures that need something beyond this process and the sandbox; `--skip` names them.
OPTIONAL = ("postgres", "memory", "dlt", "latency")
_PROFILE_LINES = 45


@dataclass(frozen=True)
class Sizes:
    """How big each figure is, and how many interleaved runs make its median."""

    rows: int = 200_000
    latency_rows: int = 100_000
    latency_ms: float = 20.0
    memory_rows: int = 1_000_000
    runs: int = 5
    memory_runs: int = 1
    #: dlt's trial run per destination may take this long before it is left out.
    dlt_timeout: float = 60.0
    dlt_destinations: tuple[str, ...] = DESTINATIONS

    def describe(self) -> str:
        """One line for the report."""
        return (
            f"{self.rows:,} cities; {self.latency_rows:,} at {self.latency_ms:g} ms per "
            f"request; memory at {self.rows:,} and {self.memory_rows:,}; medians of "
            f"{self.runs} interleaved runs per side ({self.memory_runs} per memory size); "
            f"dlt destinations tried: {', '.join(self.dlt_destinations)} "
            f"(a trial longer than {self.dlt_timeout:g} s is left out)"
        )


SMOKE = Sizes(
    rows=2_500,
    latency_rows=2_000,
    memory_rows=5_000,
    runs=1,
    memory_runs=1,
    dlt_timeout=60.0,
    dlt_destinations=("duckdb-parquet",),
)


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def profile_worst(figures: list[Figure], bench: Bench) -> str | None:
    """Profile one run of ours for the figure furthest from its target; a markdown section."""
    candidates = [
        f for f in figures if f.kind == "ratio" and not f.skipped and f.name in bench.profiles
    ]
    if not candidates:
        return None
    worst = max(candidates, key=lambda f: f.value / f.limit)
    text = _profile(bench.profiles[worst.name])
    return "\n".join(
        [
            f"## Profile: {worst.name} (ratio {worst.value:.2f}, the furthest from its target)",
            "",
            "One run of ours under the profiler (which slows it down); wall-clock seconds.",
            "",
            "```text",
            text,
            "```",
        ]
    )


def _profile(entry: Callable[[Measure], object]) -> str:
    try:
        from pyinstrument import Profiler
    except ImportError:  # the dev extra is not installed: the standard library's profiler
        import cProfile
        import io
        import pstats

        profiler = cProfile.Profile()
        entry(lambda work: profiler.runcall(work))
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(25)
        return out.getvalue().strip()
    sampler = Profiler(interval=0.001)

    def measure(work: Callable[[], object]) -> object:
        sampler.start()
        try:
            return work()
        finally:
            sampler.stop()

    entry(measure)
    text = sampler.output_text(unicode=False, color=False, show_all=False)
    lines = [line for line in text.splitlines() if line.strip()]
    # Skip pyinstrument's banner; keep the top of the call tree.
    start = next((i + 1 for i, line in enumerate(lines) if line.startswith("Profile at")), 0)
    return "\n".join(lines[start : start + _PROFILE_LINES])


def run_all(
    sizes: Sizes, *, skip: tuple[str, ...] = (), profile: bool = True
) -> tuple[list[Figure], str | None]:
    """Run every figure; return them in the issue's order, and the profile's section."""
    figures: list[Figure] = []
    profile_text: str | None = None
    _say(f"starting the sandbox ({sizes.rows:,} cities) in its own process")
    with sandbox_process(sizes.rows) as sandbox:
        _say(f"CLI, raw floor and dlt processes: {sizes.runs} rounds")
        destinations = () if "dlt" in skip else sizes.dlt_destinations
        figures.extend(
            loopback_figures(
                sandbox,
                sizes.runs,
                dlt_timeout=sizes.dlt_timeout,
                dlt_destinations=destinations,
                say=_say,
            )
        )
        with bench_session(sandbox.base_url) as bench:
            _say(f"upsert: {sizes.rows:,} rows x {sizes.runs} runs per side")
            figures.append(upsert_figure(bench, sizes.rows, sizes.runs))
            why_not = "skipped by --skip" if "postgres" in skip else postgres_available()
            if why_not:
                figures.append(skipped(POSTGRES, why_not, limit=1.0))
            else:
                _say(f"PostgreSQL: {sizes.rows:,} rows x {sizes.runs} runs per side")
                figures.append(postgres_figure(bench, sizes.rows, sizes.runs))
            figures.append(change_tracking_figure(bench, sizes.rows, sizes.runs))
            if profile:
                _say("profiling the worst in-process ratio")
                profile_text = profile_worst(figures, bench)
        if "memory" in skip:
            figures.append(skipped(MEMORY, "skipped by --skip", limit=1.5))
        else:
            _say(f"memory: child processes at {sizes.rows:,} and {sizes.memory_rows:,} rows")
            figures.append(
                memory_figure(sandbox.base_url, sizes.rows, sizes.memory_rows, sizes.memory_runs)
            )
    if "latency" in skip:
        figures.append(skipped(LATENCY, "skipped by --skip", limit=0.4))
    else:
        _say(f"latency: a sandbox with {sizes.latency_ms:g} ms per request")
        with sandbox_process(sizes.latency_rows, latency_ms=sizes.latency_ms) as slow:
            figures.append(latency_figure(slow, sizes.runs, say=_say))
    figures.sort(key=lambda f: ORDER.index(f.name))
    return figures, profile_text


def check_sane(figures: list[Figure]) -> list[str]:
    """Problems with the numbers themselves (not with the targets): empty when sane."""
    problems = []
    names = [f.name for f in figures]
    if names != list(ORDER):
        problems.append(f"figures {names} are not {list(ORDER)}")
    for f in figures:
        if f.skipped:
            continue
        for side, value in (("ours", f.ours), ("baseline", f.baseline)):
            if not (math.isfinite(value) and value > 0):
                problems.append(f"{f.name}: {side} is {value}")
    return problems


def build_parser() -> argparse.ArgumentParser:
    """The command line of `python -m benchmarks`."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--smoke", action="store_true", help="tiny sizes: checks the harness")
    parser.add_argument("--rows", type=int, help="cities for the loopback and storage figures")
    parser.add_argument("--latency-rows", type=int, help="cities for the latency figure")
    parser.add_argument("--memory-rows", type=int, help="cities for the big memory run")
    parser.add_argument("--runs", type=int, help="interleaved runs per side")
    parser.add_argument(
        "--skip", action="append", default=[], choices=OPTIONAL, help="leave a figure out"
    )
    parser.add_argument("--no-profile", action="store_true", help="do not profile the worst")
    parser.add_argument(
        "--out",
        type=Path,
        help=f"where to write the markdown (default {RESULTS.name} for a full run, "
        "nowhere for --smoke); the README's findings are rewritten only by a full run "
        "written to the default place",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the benchmarks; print the table; write RESULTS.md and the README's findings.

    Exit status: 1 when a number is not sane, or (except under `--smoke`, whose numbers
    mean nothing) when any target is missed or could not be shown; else 0.
    """
    args = build_parser().parse_args(argv)
    sizes = SMOKE if args.smoke else Sizes()
    overrides = {
        "rows": args.rows,
        "latency_rows": args.latency_rows,
        "memory_rows": args.memory_rows,
        "runs": args.runs,
    }
    sizes = Sizes(**{**sizes.__dict__, **{k: v for k, v in overrides.items() if v}})
    logging.basicConfig(level=logging.WARNING)
    load_before = load_average()
    started = time.perf_counter()
    figures, profile = run_all(sizes, skip=tuple(args.skip), profile=not args.no_profile)
    wall = time.perf_counter() - started
    print(markdown_table(figures))
    print(f"load average at the start: {load_before}; at the end: {load_average()}")
    full = not args.smoke and args.out is None
    out = args.out if args.out is not None else (None if args.smoke else RESULTS)
    if out is not None:
        settings = ("smoke sizes: " if args.smoke else "") + sizes.describe()
        out.write_text(
            results_markdown(
                figures, settings=settings, wall=wall, profile=profile, load_before=load_before
            )
        )
        _say(f"written to {out.name} ({wall:,.0f} s)")
    if full and not (args.rows or args.runs or args.latency_rows or args.memory_rows or args.skip):
        date = f"{datetime.now(UTC):%Y-%m-%d}"
        rewrite_findings(README, findings_block(figures, load_before=load_before, date=date))
        _say(f"findings rewritten in {README.name}")
    problems = check_sane(figures)
    for problem in problems:
        _say(f"not sane: {problem}")
    if problems:
        return 1
    misses = missed(figures)
    for figure in misses:
        _say(f"target missed: {figure.name} ({figure.skipped or 'see the table'})")
    if misses and not args.smoke:
        return 1
    return 0
