"""Storage of partner-sync: SQLModel tables, the sync of a dataset, engines and migrations.

No Prefect and no settings here: every function takes explicit arguments.

- `make_engine(url)`, `upgrade_database(url_or_engine)`: SQLite or PostgreSQL, migrated by alembic.
- `sync_dataset(engine, dataset, pages, ...) -> SyncResult`: one transaction per dataset.
- `load_etags`, `dataset_counts`, `recent_runs`: what the next read and `status` need.
- `DATASETS`: dataset name -> table, key and wire-field mapping.
"""

from __future__ import annotations

from .db import make_engine, upgrade_database
from .errors import InvalidItemError, MassDeleteRefusedError, StorageError, SyncLockedError
from .tables import (
    DATASETS,
    City,
    Country,
    Currency,
    DatasetSpec,
    DatasetState,
    Language,
    RunStatus,
    SyncRun,
)
from .upsert import (
    PageSource,
    SyncResult,
    dataset_counts,
    load_etags,
    recent_runs,
    sync_dataset,
)

__all__ = [
    "DATASETS",
    "City",
    "Country",
    "Currency",
    "DatasetSpec",
    "DatasetState",
    "InvalidItemError",
    "Language",
    "MassDeleteRefusedError",
    "PageSource",
    "RunStatus",
    "StorageError",
    "SyncLockedError",
    "SyncResult",
    "SyncRun",
    "dataset_counts",
    "load_etags",
    "make_engine",
    "recent_runs",
    "sync_dataset",
    "upgrade_database",
]
