"""Syncing a dataset into its table: `sync_dataset`, one transaction per dataset.

The sync holds the dataset's write lock (`storage._locks`) for its whole transaction,
starts a run row (`storage.runlog`), writes the read in batches (`storage.writer`), then
sweeps: it marks `deleted_at` on live rows the read did not deliver (never removing a
row), unless that would touch more than `max_delete_fraction` of the live rows or the
read was empty: then `MassDeleteRefusedError` and nothing changes. The ETags and
`dataset_state` are saved, and the run row finished, in the same transaction, as are
what the run changed (`storage.changes`, unless `track_changes=False`), the fields the
partner started sending (`storage.drift`) and the pruning of old change rows.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import Engine, text

from . import runlog
from ._locks import begin_locked
from .changes import Change, prune_changes
from .dataset_tables import DatasetTable
from .drift import record_new_fields
from .errors import MassDeleteRefusedError, StorageError
from .tables import RunStatus
from .writer import DEFAULT_BATCH_SIZE, BatchWriter

logger = logging.getLogger("storage.sync")


class PageSource(Protocol):
    """What `sync_dataset` reads: pages of wire items, then what the read learned.

    Any iterable of `list[dict]` works; `not_modified` and `etags` are read with
    `getattr` after the iteration, so a plain list of pages counts as a modified
    dataset without ETags. `partner_api.DatasetRead` is one.
    """

    not_modified: bool
    etags: dict[str, str]

    def __iter__(self) -> Iterator[list[dict[str, Any]]]:
        """Yield the pages in order."""
        ...


@dataclass(frozen=True)
class SyncResult:
    """What one `sync_dataset` call did.

    `status` is `succeeded` or `not_modified` (a failed sync raises instead; `error` is
    there for callers that build a result for a failure themselves). The counts are rows:
    `inserted` new, `updated` changed or back after a delete, `unchanged` delivered
    but not written, `deleted` newly marked deleted. `run_id` is the `sync_runs` row.
    `changes` are the first `storage.changes.SAMPLE_SIZE` entries the run wrote to the
    change log, `changes_total` how many it wrote in all; `new_fields` the fields the
    partner sent for the first time (kept in `extra`), each with a key that had it.
    """

    dataset: str
    status: str
    inserted: int
    updated: int
    unchanged: int
    deleted: int
    run_id: int | None
    seconds: float
    error: str | None = None
    changes: tuple[Change, ...] = ()
    changes_total: int = 0
    new_fields: tuple[tuple[str, str], ...] = ()


def sync_dataset(
    engine: Engine,
    spec: DatasetTable,
    pages: PageSource | Iterable[list[dict[str, Any]]],
    *,
    max_delete_fraction: float = 0.5,
    allow_mass_delete: bool = False,
    lock_timeout: float = 30.0,
    batch_size: int = DEFAULT_BATCH_SIZE,
    now: datetime | None = None,
    track_changes: bool = True,
    changes_retention: timedelta | None = None,
) -> SyncResult:
    """Make the table of `spec`'s dataset equal to what `pages` delivers, in one transaction.

    Inserts new rows, updates changed ones (and ones that come back after a delete),
    leaves unchanged rows unwritten and marks rows the source no longer has as deleted.
    Waits up to `lock_timeout` seconds for another sync of the dataset
    (`SyncLockedError`). Refuses to mark more than `max_delete_fraction` of the live rows
    deleted, or any when the read is empty, unless `allow_mass_delete`
    (`MassDeleteRefusedError`). On any error the transaction rolls back completely, a
    `failed` run is recorded, and the error is re-raised. `now` fixes the timestamps
    (tests); by default it is the current UTC time.

    `track_changes` keeps the change log (off only to measure what it costs);
    `changes_retention`, when given, deletes the dataset's change rows of runs started
    longer ago than that, at the end of a successful sync.
    """
    if not isinstance(spec, DatasetTable):
        raise TypeError(f"pass the dataset's DatasetTable (storage.DATASET_TABLES), not {spec!r}")
    if not 0.0 <= max_delete_fraction <= 1.0:
        raise ValueError(f"max_delete_fraction must be within 0..1, not {max_delete_fraction}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, not {batch_size}")
    if now is not None and now.tzinfo is None:
        raise ValueError("now must be timezone-aware (UTC)")
    if changes_retention is not None and changes_retention <= timedelta(0):
        raise ValueError(f"changes_retention must be positive, not {changes_retention}")
    stamp = now or datetime.now(UTC)
    started = time.perf_counter()
    run_id: int | None = None
    with engine.connect() as conn:
        transaction = begin_locked(conn, spec.name, lock_timeout)
        try:
            with transaction:
                run_id = runlog.start_run(engine, conn, spec, stamp)
                writer = BatchWriter(
                    conn,
                    spec,
                    run_id=run_id,
                    now=stamp,
                    batch_size=batch_size,
                    track_changes=track_changes,
                )
                counts = writer.write(pages)
                changes = writer.changes
                not_modified = bool(getattr(pages, "not_modified", False))
                if not_modified:
                    if counts.seen:
                        raise StorageError(
                            f"the {spec.name} read says not modified but delivered "
                            f"{counts.seen} items; nothing was changed, read it again"
                        )
                    status = RunStatus.NOT_MODIFIED
                else:
                    counts.deleted = _sweep(
                        writer,
                        max_delete_fraction=max_delete_fraction,
                        allow_mass_delete=allow_mass_delete,
                    )
                    status = RunStatus.SUCCEEDED
                    if changes is not None and writer.initial_load and counts.inserted:
                        changes.record_loaded(counts.inserted)
                new_fields = record_new_fields(
                    conn, spec, writer.rows.unknown_fields, run_id=run_id, at=stamp
                )
                if changes_retention is not None:
                    prune_changes(conn, spec, before=stamp - changes_retention)
                writer.finish()
                etags = None if not_modified else dict(getattr(pages, "etags", None) or {})
                runlog.save_state(conn, spec, run_id=run_id, at=stamp, etags=etags)
                runlog.finish_run(conn, run_id, status, counts, finished=now or datetime.now(UTC))
        except BaseException as exc:
            runlog.record_failure(
                engine, spec, run_id, stamp, exc, lock_timeout=lock_timeout, now=now
            )
            raise
    seconds = time.perf_counter() - started
    for field, key in new_fields.items():
        # After the commit: a rolled-back run recorded nothing and will report it again.
        logger.warning(
            "%s: the partner sends a field the contract does not list: %r (e.g. %s %s); "
            "kept in the rows' extra",
            spec.name,
            field,
            spec.key,
            key,
        )
    logger.info(
        "%s: %s in %.2fs (inserted %d, updated %d, unchanged %d, deleted %d, run %s)",
        spec.name,
        status.value,
        seconds,
        counts.inserted,
        counts.updated,
        counts.unchanged,
        counts.deleted,
        run_id,
    )
    return SyncResult(
        dataset=spec.name,
        status=status.value,
        inserted=counts.inserted,
        updated=counts.updated,
        unchanged=counts.unchanged,
        deleted=counts.deleted,
        run_id=run_id,
        seconds=seconds,
        changes=tuple(changes.sample) if changes is not None else (),
        changes_total=changes.total if changes is not None else 0,
        new_fields=tuple((field, str(key)) for field, key in new_fields.items()),
    )


def _sweep(writer: BatchWriter, *, max_delete_fraction: float, allow_mass_delete: bool) -> int:
    """Mark live rows the read did not deliver as deleted; return how many.

    The safety valve: refuse (`MassDeleteRefusedError`) when the read was empty or would
    mark more than `max_delete_fraction` of the live rows, unless `allow_mass_delete`.
    """
    if writer.initial_load:
        return 0  # every row in the table came from this read
    conn = writer.conn
    dataset = writer.spec.name
    if writer.dialect == "postgresql":
        # Temporary tables are never auto-analysed; without statistics the planner
        # may not pick a hashed anti-join for a million keys.
        conn.execute(text(f"ANALYZE {writer.seen.name}"))
    live, gone = conn.execute(writer.sql.count_live_and_gone).one()
    if gone == 0:
        return 0
    if not allow_mass_delete:
        if writer.counts.seen == 0:
            raise MassDeleteRefusedError(
                f"the {dataset} read returned no items: refusing to mark all {live} live "
                f"rows deleted; rerun with --allow-mass-delete if the source really "
                "dropped them",
                would_delete=gone,
                live=live,
                limit=max_delete_fraction,
            )
        if gone > max_delete_fraction * live:
            raise MassDeleteRefusedError(
                f"refusing to mark {gone} of {live} live {dataset} rows deleted "
                f"({gone / live:.1%}, limit {max_delete_fraction:.0%}); rerun with "
                "--allow-mass-delete if the source really dropped them",
                would_delete=gone,
                live=live,
                limit=max_delete_fraction,
            )
    if writer.changes is not None:
        writer.changes.record_gone(gone)
    marked = conn.execute(writer.sql.mark_gone, {"now": writer.now}).rowcount
    return int(marked)
