"""The hook for the change-tracking cost row: measured by the change-tracking work, not here.

`change_tracking_figure` is what `benchmarks.run` calls for the row named
`CHANGE_TRACKING`. Until the change that adds change tracking to storage fills it in, it
returns a `pending` row: no number, no target, not judged (so it never makes `make bench`
fail, and it never shows a made-up figure). To fill it, replace the body with a
measurement that returns a `Figure` (see `benchmarks._figures.upsert_figure` for the
in-process pattern: `interleave` ours with and without the tracking, `timing_figure`).
"""

from __future__ import annotations

from ._figures import Bench
from ._timing import Figure, pending

CHANGE_TRACKING = "change-tracking cost"


def change_tracking_figure(bench: Bench, rows: int, runs: int) -> Figure:
    """The cost of recording each row's changes, ours with it vs without: not measured yet."""
    del bench, rows, runs
    return pending(
        CHANGE_TRACKING,
        "not measured yet: the change-tracking work fills "
        "`benchmarks._change_tracking.change_tracking_figure`",
    )
