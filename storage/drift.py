"""Schema drift, recorded once: fields the partner sends that a dataset's table lacks.

Such a field is kept in the row's `extra` (`storage._rows`); here the first sync that
writes it records it in `schema_drift`, one row per dataset and field, in the sync's own
transaction. Only a field recorded for the first time is returned, so the caller warns
and reports it once, not on every run. (A known field whose type changes never gets
here: the client refuses the dataset's read, see `partner_api._response`.)
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from sqlalchemy import Connection, insert, select

from .dataset_tables import DatasetTable
from .tables import SchemaDrift

_DRIFT = SchemaDrift.__table__  # type: ignore[attr-defined]


def record_new_fields(
    conn: Connection,
    spec: DatasetTable,
    seen: Mapping[str, int | str],
    *,
    run_id: int,
    at: datetime,
) -> dict[str, int | str]:
    """Record the fields of `seen` (field -> a key that had it) not yet recorded.

    Returns those newly recorded, field -> sample key, in field order.
    """
    if not seen:
        return {}
    known = set(conn.execute(select(_DRIFT.c.field).where(_DRIFT.c.dataset == spec.name)).scalars())
    new = {field: seen[field] for field in sorted(seen) if field not in known}
    if new:
        conn.execute(
            insert(_DRIFT),
            [
                {
                    "dataset": spec.name,
                    "field": field,
                    "first_run_id": run_id,
                    "first_seen_at": at,
                    "sample_key": str(key),
                }
                for field, key in new.items()
            ],
        )
    return new
