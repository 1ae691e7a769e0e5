"""The change-tracking cost row: a full-refresh sync with 1% of rows changed, with and without.

Both sides run `storage.sync_dataset` on a copy of the same SQLite file already holding
`rows` cities, with the same pages in memory in which every hundredth city is renamed; the
only difference is `track_changes`. The target (issue: at most 1.1x) is the price of
keeping each changed key's old and new values in the same transaction.
"""

from __future__ import annotations

import shutil
from typing import Any

from sandbox import build_items
from storage import DATASET_TABLES, make_engine, sync_dataset, upgrade_database

from ._figures import PAGE_SIZE, Bench
from ._timing import Figure, Timing, interleave, timed, timing_figure

CHANGE_TRACKING = "change-tracking cost, full refresh with 1% changed"
#: Every this-many-th row is renamed: 1% of the dataset.
CHANGED_EVERY = 100


def change_tracking_figure(bench: Bench, rows: int, runs: int) -> Figure:
    """Ours with change tracking vs ours without it, on the same 1%-changed full refresh."""
    table = DATASET_TABLES["cities"]
    items = build_items("cities", cities=rows)
    base = bench.fresh_sqlite("changes-base")
    engine = make_engine(f"sqlite:///{base}")
    try:
        upgrade_database(engine)
        sync_dataset(engine, table, _pages(items))
    finally:
        engine.dispose()
    changed = [dict(item) for item in items]
    for item in changed[::CHANGED_EVERY]:
        item["name"] += " (renamed)"
    pages = _pages(changed)

    def sync(track: bool) -> Timing:
        work = bench.fresh_sqlite("changes-work")
        shutil.copy(base, work)
        engine = make_engine(f"sqlite:///{work}")
        try:
            result: list[Any] = []
            took = timed(
                lambda: result.append(sync_dataset(engine, table, pages, track_changes=track))
            )
        finally:
            engine.dispose()
        expected = len(changed[::CHANGED_EVERY])
        if result[0].updated != expected or result[0].changes_total != (expected if track else 0):
            raise RuntimeError(f"the 1% change was not written as expected: {result[0]}")
        return took

    mine, theirs = interleave(runs, lambda: sync(True), lambda: sync(False))
    return timing_figure(
        CHANGE_TRACKING,
        mine,
        theirs,
        1.1,
        ours_label=f"`sync_dataset` of {rows:,} cities, 1% renamed, keeping the change log",
        baseline_label="the same sync with `track_changes=False`",
        sides=("tracked", "untracked"),
    )


def _pages(items: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    return [items[i : i + PAGE_SIZE] for i in range(0, len(items), PAGE_SIZE)]


__all__ = ["CHANGE_TRACKING", "change_tracking_figure"]
