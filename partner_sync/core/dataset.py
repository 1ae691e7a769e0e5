"""One dataset's sync: read it page by page (with its ETags), write it in one transaction."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Sequence
from datetime import timedelta
from typing import Any

from sqlalchemy import Engine

from partner_api import DATASETS, DatasetChangedError, PartnerClient
from partner_api._constants import MAX_DATASET_RESTARTS
from partner_api._dataset import DatasetRead
from storage import DATASET_TABLES, load_etags, sync_dataset

from .progress import LogProgress, Progress
from .report import DatasetOutcome
from .settings import Settings, SettingsError

logger = logging.getLogger("partner_sync")


class _PagesWithProgress:
    """Pass pages through, reporting each; exposes the read's `not_modified` and `etags`."""

    def __init__(self, read: DatasetRead, progress: Progress) -> None:
        self._read = read
        self._progress = progress

    def __iter__(self) -> Iterator[list[dict[str, Any]]]:
        for page in self._read:
            self._progress.advance(self._read.dataset, len(page), self._read.expected_total)
            yield page

    def __getattr__(self, name: str) -> Any:
        return getattr(self._read, name)


def resolve_datasets(names: Sequence[str] | None) -> list[str]:
    """Validate dataset names (None or empty: all of them, in the contract's order)."""
    if not names:
        return list(DATASETS)
    # `DatasetName` members are `str`; `str()` gives their value.
    wanted = [str(name) for name in names]
    unknown = [n for n in wanted if n not in DATASETS]
    if unknown:
        raise SettingsError(
            f"unknown dataset {', '.join(unknown)}; choose from {', '.join(DATASETS)}"
        )
    return list(dict.fromkeys(wanted))


def changes_retention(settings: Settings) -> timedelta | None:
    """How long the change log is kept (`PARTNER_CHANGES_RETENTION_DAYS`); None: forever."""
    days = settings.changes_retention_days
    return timedelta(days=days) if days is not None else None


def sync_one(
    client: PartnerClient,
    engine: Engine,
    settings: Settings,
    dataset: str,
    *,
    allow_mass_delete: bool = False,
    full_refresh: bool = False,
    progress: Progress | None = None,
) -> DatasetOutcome:
    """Read one dataset and write it in one transaction; restart if it changed mid-read."""
    progress = progress or LogProgress()
    started = time.monotonic()
    table = DATASET_TABLES[dataset]
    for attempt in range(MAX_DATASET_RESTARTS + 1):
        progress.start(dataset)
        etags = {} if full_refresh else load_etags(engine, table)
        try:
            # `with`: a failed write stops the page readers at once, not when collected.
            with client.read_dataset(dataset, etags) as read:
                result = sync_dataset(
                    engine,
                    table,
                    _PagesWithProgress(read, progress),
                    max_delete_fraction=settings.max_delete_fraction,
                    allow_mass_delete=allow_mass_delete,
                    lock_timeout=settings.lock_timeout,
                    changes_retention=changes_retention(settings),
                )
        except DatasetChangedError as exc:
            if attempt == MAX_DATASET_RESTARTS:
                raise
            logger.warning("%s; reading it again (%d/%d)", exc, attempt + 1, MAX_DATASET_RESTARTS)
            continue
        outcome = DatasetOutcome.written(result, time.monotonic() - started)
        progress.finish(outcome)
        return outcome
    raise AssertionError("unreachable")  # pragma: no cover
