"""Storage of partner-sync: SQLModel tables, the sync of a dataset, engines and migrations.

No Prefect and no settings here: every function takes explicit arguments.

- `make_engine(url)`, `upgrade_database(url_or_engine)`: SQLite or PostgreSQL, migrated by
  alembic (`db`).
- `DATASET_TABLES`: dataset name -> `DatasetTable`, each dataset of `partner_api.datasets`
  with its table and field mapping (`dataset_tables`); the tables are in `tables`.
- `sync_dataset(engine, DATASET_TABLES[name], pages, ...) -> SyncResult`: one transaction
  per dataset (`sync`), writing in batches (`writer`) with compiled statements
  (`statements`) and keeping the run log (`runlog`).
- `load_etags`, `dataset_counts`, `recent_runs`, `dataset_freshness`, `load_changes`,
  `schema_drift`: what the next read, `status`, `check` and `changes` need (`queries`).
- What each run changed is kept in `sync_changes` (`changes`: why a change log), the fields
  the partner started sending in `schema_drift` (`drift`).
"""

from __future__ import annotations

from .changes import Change, ChangeKind
from .dataset_tables import DATASET_TABLES, DatasetTable
from .db import make_engine, upgrade_database
from .errors import (
    DatabaseLockedError,
    DatabaseReadOnlyError,
    InvalidItemError,
    MassDeleteRefusedError,
    StorageError,
    SyncLockedError,
)
from .queries import (
    DatasetFreshness,
    dataset_counts,
    dataset_freshness,
    load_changes,
    load_etags,
    recent_runs,
    schema_drift,
)
from .sync import PageSource, SyncResult, sync_dataset
from .tables import (
    City,
    Country,
    Currency,
    DatasetState,
    Language,
    RunStatus,
    SchemaDrift,
    SyncChange,
    SyncRun,
)
from .writer import DEFAULT_BATCH_SIZE

__all__ = [
    "DATASET_TABLES",
    "DEFAULT_BATCH_SIZE",
    "Change",
    "ChangeKind",
    "City",
    "Country",
    "Currency",
    "DatabaseLockedError",
    "DatabaseReadOnlyError",
    "DatasetFreshness",
    "DatasetState",
    "DatasetTable",
    "InvalidItemError",
    "Language",
    "MassDeleteRefusedError",
    "PageSource",
    "RunStatus",
    "SchemaDrift",
    "StorageError",
    "SyncChange",
    "SyncLockedError",
    "SyncResult",
    "SyncRun",
    "dataset_counts",
    "dataset_freshness",
    "load_changes",
    "load_etags",
    "make_engine",
    "recent_runs",
    "schema_drift",
    "sync_dataset",
    "upgrade_database",
]
