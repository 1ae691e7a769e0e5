"""Storage of partner-sync: SQLModel tables, the sync of a dataset, engines and migrations.

No Prefect and no settings here: every function takes explicit arguments.

- `make_engine(url)`, `upgrade_database(url_or_engine)`: SQLite or PostgreSQL, migrated by
  alembic (`db`).
- `DATASET_TABLES`: dataset name -> `DatasetTable`, each dataset of `partner_api.datasets`
  with its table and field mapping (`dataset_tables`); the tables are in `tables`.
- `sync_dataset(engine, DATASET_TABLES[name], pages, ...) -> SyncResult`: one transaction
  per dataset (`sync`), writing in batches (`writer`) with compiled statements
  (`statements`) and keeping the run log (`runlog`).
- `load_etags`, `dataset_counts`, `recent_runs`, `dataset_freshness`: what the next read,
  `status` and `check` need (`queries`).
"""

from __future__ import annotations

from .dataset_tables import DATASET_TABLES, DatasetTable
from .db import make_engine, upgrade_database
from .errors import InvalidItemError, MassDeleteRefusedError, StorageError, SyncLockedError
from .queries import DatasetFreshness, dataset_counts, dataset_freshness, load_etags, recent_runs
from .sync import PageSource, SyncResult, sync_dataset
from .tables import City, Country, Currency, DatasetState, Language, RunStatus, SyncRun
from .writer import DEFAULT_BATCH_SIZE

__all__ = [
    "DATASET_TABLES",
    "DEFAULT_BATCH_SIZE",
    "City",
    "Country",
    "Currency",
    "DatasetFreshness",
    "DatasetState",
    "DatasetTable",
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
    "dataset_freshness",
    "load_etags",
    "make_engine",
    "recent_runs",
    "sync_dataset",
    "upgrade_database",
]
