"""Progress of a run: the protocol, log lines (the flow, a pipe) and rich bars (a terminal)."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Protocol

from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn
from rich.progress import Progress as Bars

from .report import DatasetOutcome

logger = logging.getLogger("partner_sync")


class Progress(Protocol):
    """Receives progress while datasets are read (a rich bar, log lines, or nothing)."""

    def start(self, dataset: str) -> None:
        """A dataset's read begins (again, after a restart)."""

    def advance(self, dataset: str, rows: int, total: int | None) -> None:
        """One page of `rows` items arrived; `total` is the dataset's size when known."""

    def finish(self, outcome: DatasetOutcome) -> None:
        """The dataset is done."""


class LogProgress:
    """Progress as plain log lines (not attached to a terminal)."""

    def __init__(self, log: logging.Logger | logging.LoggerAdapter[Any] = logger) -> None:
        self._log = log
        self._rows: dict[str, int] = {}
        self._pages: dict[str, int] = {}

    def start(self, dataset: str) -> None:
        """Reset the counters of `dataset`."""
        self._rows[dataset] = 0
        self._pages[dataset] = 0
        self._log.info("%s: reading", dataset)

    def advance(self, dataset: str, rows: int, total: int | None) -> None:
        """Log every 50th page, so a million rows make twenty lines, not a thousand."""
        self._rows[dataset] = self._rows.get(dataset, 0) + rows
        self._pages[dataset] = self._pages.get(dataset, 0) + 1
        if self._pages[dataset] % 50 == 0:
            self._log.info(
                "%s: %d pages, %d/%s rows",
                dataset,
                self._pages[dataset],
                self._rows[dataset],
                total if total is not None else "?",
            )

    def finish(self, outcome: DatasetOutcome) -> None:
        """Log the dataset's outcome in one line."""
        if outcome.error:
            self._log.error("%s: %s: %s", outcome.dataset, outcome.status, outcome.error)
        else:
            row = outcome.as_row()
            self._log.info(
                "%s: %s (inserted %d, updated %d, unchanged %d, deleted %d) in %.1f s",
                outcome.dataset,
                outcome.status,
                row["inserted"],
                row["updated"],
                row["unchanged"],
                row["deleted"],
                outcome.seconds,
            )


class RichProgress:
    """One bar per dataset, counting pages and rows."""

    def __init__(self, bars: Bars) -> None:
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
    with Bars(
        TextColumn("{task.description:<24}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("rows, {task.fields[pages]} pages"),
        TimeElapsedColumn(),
        transient=False,
    ) as bars:
        yield RichProgress(bars)
