"""What a sync changed, key by key: the `sync_changes` change log, written as the data is.

Every sync that writes records, in its own transaction (so a rolled-back or killed run
leaves no change rows), one row per key it inserted, updated, deleted or restored; an
update or restore also records which wire fields went from what to what,
`{"name": ["Old", "New"]}`. A first load into an empty table records one `loaded` entry
instead of a row per key. Old values are read only for the keys whose content hash
differs, which the writer learns from the stored hashes it already looks up per batch,
so an unchanged re-sync reads and writes nothing more than without the log.

Why a change log, not history tables with valid-from/valid-to (dlt's `scd2`):

- The question asked is "what changed in run N, or since D?". A change log answers it with
  one indexed read of one table for every dataset; history tables answer it by comparing
  each key's consecutive versions across one extra table per dataset.
- Its cost follows the change, not the table: a 1% change writes 1% short rows, a first
  load one row. History tables copy every row on the first load and a whole row for every
  changed field, and need their own migration for each new dataset or column.
- The reference tables stay one row per key with `deleted_at`, so what reads them (and
  the sync algorithm) is unchanged. An old version of a row can still be rebuilt, from the
  current row back through the `[old, new]` pairs, while retention keeps them.
- Retention is one DELETE by run (`prune_changes`), not a rewrite of validity ranges.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Connection, delete, select

from .dataset_tables import DatasetTable
from .statements import data_columns, statements
from .tables import SyncChange, SyncRun

#: How many changes of a dataset a `SyncResult` carries: the run report lists them.
SAMPLE_SIZE = 50

_CHANGES = SyncChange.__table__  # type: ignore[attr-defined]
_RUNS = SyncRun.__table__  # type: ignore[attr-defined]


class ChangeKind(StrEnum):
    """What a sync did to one key (or, `loaded`, to an empty table as a whole)."""

    INSERTED = "inserted"
    UPDATED = "updated"
    DELETED = "deleted"
    RESTORED = "restored"
    LOADED = "loaded"


@dataclass(frozen=True)
class Change:
    """One entry of the change log.

    `key` is the row's key as text (None for `loaded`); `fields` maps each changed wire
    field to `[old, new]` (updates and restores; None otherwise). `at` is when the run
    started and `rows` how many rows a `loaded` entry stands for; the reads fill both.
    """

    run_id: int
    dataset: str
    kind: str
    key: str | None = None
    fields: dict[str, list[Any]] | None = None
    at: datetime | None = None
    rows: int | None = None


def keys_param(keys: list[Any], dialect: str) -> Any:
    """A batch of keys as one parameter: an array on PostgreSQL, JSON text on SQLite."""
    return keys if dialect == "postgresql" else json.dumps(keys)


#: (key, content hash, wire item): what the writer hands over for a new or changed row.
Written = tuple[Any, str, dict[str, Any]]


class ChangeLog:
    """Records one sync's changes in its transaction, keeping the first `SAMPLE_SIZE`."""

    def __init__(self, conn: Connection, spec: DatasetTable, *, run_id: int) -> None:
        self.conn = conn
        self.spec = spec
        self.run_id = run_id
        self.dialect = conn.dialect.name
        self.sql = statements(spec, self.dialect)
        wire_of = {column: wire for wire, column in spec.fields.items()}
        self._wires = tuple(wire_of[c] for c in data_columns(spec))
        self._known = frozenset(spec.fields)
        #: How many entries this sync recorded.
        self.total = 0
        #: The first `SAMPLE_SIZE` of them, in the order they were recorded.
        self.sample: list[Change] = []

    def record_batch(
        self, new: Sequence[Written], changed: Sequence[Written], deleted_keys: frozenset[Any]
    ) -> None:
        """Record a batch's new and changed rows; call it before they are written.

        `deleted_keys` are the changed keys whose stored row is marked deleted: they come
        back (`restored`). The old values are read here, for the changed keys only.
        """
        name = self.spec.name
        run_id = self.run_id
        entries: list[tuple[Any, ...]] = [
            (run_id, name, str(key), ChangeKind.INSERTED.value, None) for key, _, _ in new
        ]
        if changed:
            old = self._old_values([key for key, _, _ in changed])
            for key, _, item in changed:
                kind = ChangeKind.RESTORED if key in deleted_keys else ChangeKind.UPDATED
                fields = self._diff(old[key], item)
                entries.append((run_id, name, str(key), kind.value, json.dumps(fields)))
        self._insert(entries)

    def record_loaded(self, rows: int) -> None:
        """Record a first load into an empty table as one entry standing for its `rows`."""
        entry = (self.run_id, self.spec.name, None, ChangeKind.LOADED.value, None)
        self.conn.exec_driver_sql(self.sql.insert_change, [entry])
        self.total += 1
        self.sample.append(Change(self.run_id, self.spec.name, ChangeKind.LOADED, rows=rows))

    def record_gone(self, gone: int) -> None:
        """Record the `gone` rows the sweep is about to mark deleted (call it just before).

        The sweep counted them under the dataset's lock; the INSERT ... SELECT's own
        rowcount is not reliable on every driver.
        """
        self.conn.execute(self.sql.record_gone, {"run_id": self.run_id})
        self.total += gone
        room = SAMPLE_SIZE - len(self.sample)
        if gone and room > 0:
            keys = self.conn.execute(
                self.sql.gone_sample, {"run_id": self.run_id, "limit": room}
            ).scalars()
            self.sample += [
                Change(self.run_id, self.spec.name, ChangeKind.DELETED, key) for key in keys
            ]

    def _insert(self, entries: list[tuple[Any, ...]]) -> None:
        if not entries:
            return
        self.conn.exec_driver_sql(self.sql.insert_change, entries)
        self.total += len(entries)
        room = SAMPLE_SIZE - len(self.sample)
        if room > 0:
            self.sample += [
                Change(run_id, dataset, kind, key, json.loads(fields) if fields else None)
                for run_id, dataset, key, kind, fields in entries[:room]
            ]

    def _old_values(self, keys: list[Any]) -> dict[Any, tuple[Any, ...]]:
        # On the DBAPI cursor, as the writer's lookup of stored hashes.
        cursor = self.conn.connection.cursor()
        try:
            cursor.execute(self.sql.old_values, (keys_param(keys, self.dialect),))
            return {row[0]: row for row in cursor.fetchall()}
        finally:
            cursor.close()

    def _diff(self, old: tuple[Any, ...], item: Mapping[str, Any]) -> dict[str, list[Any]]:
        """`{wire field: [old, new]}` for every field that differs, `extra`'s fields too."""
        fields: dict[str, list[Any]] = {}
        get = item.get
        # The row is (key, data columns..., extra), the data columns in `_wires` order.
        for wire, before in zip(self._wires, old[1:-1], strict=True):
            after = get(wire)
            if before != after:
                fields[wire] = [before, after]
        stored_extra = old[-1]
        if isinstance(stored_extra, str):  # SQLite hands JSON back as text
            stored_extra = json.loads(stored_extra)
        known = self._known
        extra = {} if item.keys() <= known else {k: v for k, v in item.items() if k not in known}
        for name in sorted((stored_extra or {}).keys() | extra.keys()):
            before, after = (stored_extra or {}).get(name), extra.get(name)
            if before != after:
                fields[name] = [before, after]
        return fields


def prune_changes(conn: Connection, spec: DatasetTable, *, before: datetime) -> int:
    """Delete the dataset's change rows of runs started before `before`; return how many."""
    old_runs = select(_RUNS.c.id).where(_RUNS.c.dataset == spec.name, _RUNS.c.started_at < before)
    result = conn.execute(
        delete(_CHANGES).where(_CHANGES.c.dataset == spec.name, _CHANGES.c.run_id.in_(old_runs))
    )
    return int(result.rowcount)
