"""Interleaved timing and the figures the table shows."""

from __future__ import annotations

import gc
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import NamedTuple


class Timing(NamedTuple):
    """One measured run: wall-clock seconds, and this process's CPU seconds (all threads)."""

    wall: float
    cpu: float


@dataclass
class Figure:
    """One row of the results table.

    `kind` says how the row is judged: `ratio` (ours / baseline, met when at most
    `limit`, and ours at most `cap` when there is one), `seconds` (ours alone, met when at
    most `limit`; the baseline is the measurement that bounds it) or `pending` (no
    number yet: the hook that will measure it is named in `skipped`; never judged).
    """

    name: str
    ours: float
    baseline: float
    unit: str
    limit: float
    kind: str = "ratio"
    ours_label: str = ""
    baseline_label: str = ""
    note: str = ""
    samples: dict[str, list[float]] = field(default_factory=dict)
    skipped: str = ""
    #: Median CPU seconds of ours over the baseline's: steadier than wall time on a busy machine.
    cpu_ratio: float | None = None
    #: A second bound, on `ours` itself (the memory row: growth at most 64 MiB).
    cap: float | None = None

    @property
    def value(self) -> float:
        """The ratio, or ours alone for a `seconds` row."""
        if self.kind == "seconds":
            return self.ours
        return self.ours / self.baseline if self.baseline else float("inf")

    @property
    def judged(self) -> bool:
        """Whether the row has a target at all (a `pending` row has none yet)."""
        return self.kind != "pending"

    @property
    def met(self) -> bool:
        """Whether the target is met (a skipped row has shown nothing, so it is not)."""
        if self.skipped or not self.judged:
            return False
        return self.value <= self.limit and (self.cap is None or self.ours <= self.cap)


def skipped(name: str, why: str, *, limit: float, kind: str = "ratio") -> Figure:
    """A row for a figure that could not run here (`why` says what was missing)."""
    return Figure(name, float("nan"), float("nan"), "", limit, kind=kind, skipped=why)


def pending(name: str, hook: str) -> Figure:
    """A row whose measurement another change will supply through `hook`: no number."""
    return Figure(name, float("nan"), float("nan"), "", float("nan"), kind="pending", skipped=hook)


def timed(work: Callable[[], object]) -> Timing:
    """How long `work()` took, with the garbage collector's debts paid before the clock starts."""
    gc.collect()
    cpu = time.process_time()
    started = time.perf_counter()
    work()
    return Timing(time.perf_counter() - started, time.process_time() - cpu)


def interleave(
    runs: int, ours: Callable[[], Timing], floor: Callable[[], Timing]
) -> tuple[list[Timing], list[Timing]]:
    """Run `ours` and `floor` alternately `runs` times each; each returns its own seconds.

    The order flips every round, so a slow drift of the machine (another process, thermal
    state, the page cache) weighs on both sides alike.
    """
    mine: list[Timing] = []
    theirs: list[Timing] = []
    for round_ in range(runs):
        if round_ % 2 == 0:
            mine.append(ours())
            theirs.append(floor())
        else:
            theirs.append(floor())
            mine.append(ours())
    return mine, theirs


def median(values: list[float]) -> float:
    """The median of `values`."""
    return statistics.median(values)


def timing_figure(
    name: str,
    ours: list[Timing],
    baseline: list[Timing],
    limit: float,
    *,
    ours_label: str,
    baseline_label: str,
    note: str = "",
    sides: tuple[str, str] = ("ours", "floor"),
) -> Figure:
    """A `ratio` figure from interleaved timings: medians of wall time, and the CPU ratio."""
    cpu_base = median([t.cpu for t in baseline])
    return Figure(
        name,
        median([t.wall for t in ours]),
        median([t.wall for t in baseline]),
        "s",
        limit,
        ours_label=ours_label,
        baseline_label=baseline_label,
        note=note,
        samples={sides[0]: [t.wall for t in ours], sides[1]: [t.wall for t in baseline]},
        cpu_ratio=median([t.cpu for t in ours]) / cpu_base if cpu_base > 0 else None,
    )
