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
from pathlib import Path

from ._children import memory_figure, orchestration_figure
from ._figures import (
    Bench,
    Measure,
    bench_session,
    end_to_end_figures,
    postgres_available,
    postgres_figure,
    signing_overhead,
    upsert_figures,
)
from ._report import ORDER, markdown_table, results_markdown
from ._sandbox import sandbox_process
from ._timing import Figure, skipped

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"
#: Figures that need something beyond this process and the sandbox; `--skip` names them.
OPTIONAL = ("postgres", "memory", "orchestration")
_PROFILE_LINES = 45


@dataclass(frozen=True)
class Sizes:
    """How big each figure is, and how many interleaved runs make its median."""

    gets: int = 2_000
    rows: int = 200_000
    memory_rows: int = 1_000_000
    runs: int = 5
    slow_runs: int = 3
    memory_runs: int = 1
    orchestration_runs: int = 5

    def describe(self) -> str:
        """One line for the report."""
        return (
            f"{self.gets:,} GETs, {self.rows:,} rows, memory at {self.memory_rows:,} rows; "
            f"medians of {self.runs} interleaved runs ({self.slow_runs} for PostgreSQL, "
            f"{self.memory_runs} per memory size, {self.orchestration_runs} for orchestration)"
        )


SMOKE = Sizes(
    gets=20,
    rows=2_500,
    memory_rows=5_000,
    runs=1,
    slow_runs=1,
    memory_runs=1,
    orchestration_runs=1,
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
    start = next((i for i, line in enumerate(lines) if line.startswith("Profile at")), 0)
    return "\n".join(lines[start : start + _PROFILE_LINES])


def run_all(
    sizes: Sizes, *, skip: tuple[str, ...] = (), profile: bool = True
) -> tuple[list[Figure], str | None]:
    """Run every figure against one sandbox process; return them in the issue's order."""
    figures: list[Figure] = []
    profile_text: str | None = None
    _say(f"starting the sandbox ({sizes.rows:,} cities) in its own process")
    with sandbox_process(sizes.rows) as sandbox:
        with bench_session(sandbox.base_url) as bench:
            _say(f"signing overhead: {sizes.gets:,} GETs x {sizes.runs} runs per side")
            figures.append(signing_overhead(bench, sizes.gets, sizes.runs))
            _say(f"upsert: {sizes.rows:,} rows x {sizes.runs} runs per side")
            figures.extend(upsert_figures(bench, sizes.rows, sizes.runs))
            _say(f"end-to-end sync: {sizes.rows:,} rows x {sizes.runs} runs per side")
            figures.extend(end_to_end_figures(bench, sizes.rows, sizes.runs))
            why_not = "skipped by --skip" if "postgres" in skip else postgres_available()
            if why_not:
                figures.append(skipped("PostgreSQL", why_not, limit=1.3))
            else:
                _say(f"PostgreSQL: {sizes.rows:,} rows x {sizes.slow_runs} runs per side")
                figures.append(postgres_figure(bench, sizes.rows, sizes.slow_runs))
            if profile:
                _say("profiling the worst ratio")
                profile_text = profile_worst(figures, bench)
        if "memory" in skip:
            figures.append(skipped("memory", "skipped by --skip", limit=1.5))
        else:
            _say(f"memory: child processes at {sizes.rows:,} and {sizes.memory_rows:,} rows")
            figures.append(
                memory_figure(sandbox.base_url, sizes.rows, sizes.memory_rows, sizes.memory_runs)
            )
        if "orchestration" in skip:
            figures.append(skipped("orchestration", "skipped by --skip", limit=1.5, kind="added"))
        else:
            _say(f"orchestration: prefect server, {sizes.orchestration_runs} runs per side")
            figures.append(orchestration_figure(sandbox.base_url, sizes.orchestration_runs))
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
    parser.add_argument("--rows", type=int, help="cities for the upsert and sync figures")
    parser.add_argument("--memory-rows", type=int, help="cities for the memory figure")
    parser.add_argument("--gets", type=int, help="GETs for the signing figure")
    parser.add_argument("--runs", type=int, help="interleaved runs per side")
    parser.add_argument(
        "--skip", action="append", default=[], choices=OPTIONAL, help="leave a figure out"
    )
    parser.add_argument("--no-profile", action="store_true", help="do not profile the worst")
    parser.add_argument(
        "--out",
        type=Path,
        help=f"where to write the markdown (default {RESULTS.name} for a full run, "
        "nowhere for --smoke)",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the benchmarks; print the table; write RESULTS.md. 1 if a number is not sane."""
    args = build_parser().parse_args(argv)
    sizes = SMOKE if args.smoke else Sizes()
    overrides = {
        "rows": args.rows,
        "memory_rows": args.memory_rows,
        "gets": args.gets,
        "runs": args.runs,
    }
    sizes = Sizes(**{**sizes.__dict__, **{k: v for k, v in overrides.items() if v}})
    logging.basicConfig(level=logging.WARNING)
    started = time.perf_counter()
    figures, profile = run_all(sizes, skip=tuple(args.skip), profile=not args.no_profile)
    wall = time.perf_counter() - started
    table = markdown_table(figures)
    print(table)
    out = args.out if args.out is not None else (None if args.smoke else RESULTS)
    if out is not None:
        settings = ("smoke sizes: " if args.smoke else "") + sizes.describe()
        out.write_text(results_markdown(figures, settings=settings, wall=wall, profile=profile))
        _say(f"written to {out} ({wall:,.0f} s)")
    problems = check_sane(figures)
    for problem in problems:
        _say(f"not sane: {problem}")
    return 1 if problems else 0
