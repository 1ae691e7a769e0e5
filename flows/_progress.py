"""Progress display for the CLI: rich bars on a terminal, plain log lines otherwise."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from ._sync import DatasetOutcome, LogProgress, Progress


class RichProgress:
    """One bar per dataset, counting pages and rows."""

    def __init__(self, bars: Any) -> None:
        self._bars = bars
        self._tasks: dict[str, Any] = {}
        self._pages: dict[str, int] = {}

    def start(self, dataset: str) -> None:
        """Add (or reset, after a restart) the dataset's bar."""
        self._pages[dataset] = 0
        if dataset in self._tasks:
            self._bars.reset(self._tasks[dataset])
        else:
            self._tasks[dataset] = self._bars.add_task(dataset, total=None, pages=0)

    def advance(self, dataset: str, rows: int, total: int | None) -> None:
        """Count one page of `rows` rows."""
        self._pages[dataset] += 1
        self._bars.update(
            self._tasks[dataset], advance=rows, total=total, pages=self._pages[dataset]
        )

    def finish(self, outcome: DatasetOutcome) -> None:
        """Close the bar with the dataset's status."""
        task = self._tasks.get(outcome.dataset)
        if task is None:
            task = self._tasks[outcome.dataset] = self._bars.add_task(outcome.dataset, pages=0)
        done = self._bars.tasks[task].completed
        self._bars.update(
            task,
            total=max(done, 1),
            completed=max(done, 1),
            description=f"{outcome.dataset} [{'red' if outcome.error else 'green'}]{outcome.status}[/]",
        )


@contextmanager
def progress_for_terminal() -> Iterator[Progress]:
    """Rich bars when stderr is a terminal, else `LogProgress`."""
    if not sys.stderr.isatty():
        yield LogProgress()
        return
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        TextColumn,
        TimeElapsedColumn,
    )
    from rich.progress import Progress as Bars

    with Bars(
        TextColumn("{task.description:<24}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("rows, {task.fields[pages]} pages"),
        TimeElapsedColumn(),
        transient=False,
    ) as bars:
        yield RichProgress(bars)
