"""The SQLModel tables of partner-sync.

Every reference table holds the contract's item fields in snake_case plus the bookkeeping
columns of a sync, defined once in `Tracked`: `extra` (fields the contract does not list),
`first_seen_at`, `updated_at`, `deleted_at` (NULL while the source still has the row),
`content_hash` and `last_seen_run_id`. Rows are never removed: a row the source dropped
gets `deleted_at`. Which table stores which dataset is `storage.dataset_tables`.

Beside them: `sync_runs` (one row per sync of a dataset), `dataset_state` (ETags),
`sync_changes` (what each run changed, key by key: `storage.changes` says why a change
log rather than history tables) and `schema_drift` (fields the partner started sending).

The alembic migrations under `storage/migrations/` create these tables; `create_all` is
not used for real databases.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, BigInteger, DateTime, Dialect, Index, Text, TypeDecorator
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel


class UTCDateTime(TypeDecorator[datetime]):
    """`DateTime(timezone=True)` that always hands back aware UTC datetimes.

    SQLite has no time zone type: SQLAlchemy stores the wall time and returns naive
    datetimes, so a non-UTC aware value would silently shift. This type refuses naive
    values on the way in, converts to UTC, and marks values read back as UTC.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Convert an aware datetime to UTC; refuse a naive one (its zone is unknown)."""
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: pass an aware datetime (UTC)")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Mark SQLite's naive values as UTC, and convert PostgreSQL's to UTC."""
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


#: JSON everywhere, JSONB on PostgreSQL (indexable, comparable).
JSONType = JSON().with_variant(JSONB(), "postgresql")


def _extra_field() -> Any:
    return Field(default_factory=dict, sa_type=JSONType, nullable=False)


def _timestamp_field(*, nullable: bool) -> Any:
    if nullable:
        return Field(default=None, sa_type=UTCDateTime, nullable=True)
    return Field(sa_type=UTCDateTime, nullable=False)


class Tracked(SQLModel):
    """The bookkeeping columns of a sync, shared by every reference table.

    `extra` keeps the item's fields the contract does not list; `first_seen_at` and
    `updated_at` say when the row arrived and last changed; `deleted_at` is set when the
    source stops delivering the row; `content_hash` is the sha256 of the item's canonical
    JSON (what decides "changed"); `last_seen_run_id` is the `sync_runs` row that wrote it.
    """

    extra: dict[str, Any] = _extra_field()
    first_seen_at: datetime = _timestamp_field(nullable=False)
    updated_at: datetime = _timestamp_field(nullable=False)
    deleted_at: datetime | None = _timestamp_field(nullable=True)
    content_hash: str
    last_seen_run_id: int | None = None


class Coded(Tracked):
    """A reference table keyed by a standard's code (ISO 3166, ISO 4217, ISO 639-3)."""

    code: str = Field(primary_key=True)


class Country(Coded, table=True):
    """A country (ISO 3166), keyed by its alpha-2 `code`."""

    __tablename__ = "countries"

    alpha3: str
    numeric: str
    name: str
    official_name: str | None = None


class Currency(Coded, table=True):
    """A currency (ISO 4217), keyed by its alphabetic `code`."""

    __tablename__ = "currencies"

    numeric: str
    name: str


class Language(Coded, table=True):
    """A language (ISO 639-3), keyed by its 3-letter `code`."""

    __tablename__ = "languages"

    alpha2: str | None = None
    name: str


class City(Tracked, table=True):
    """A city, keyed by the partner's integer `id` (not generated here)."""

    __tablename__ = "cities"

    id: int = Field(primary_key=True, sa_type=BigInteger, sa_column_kwargs={"autoincrement": False})
    name: str
    country_code: str
    population: int = Field(sa_type=BigInteger)
    latitude: float
    longitude: float
    timezone: str


class RunStatus(StrEnum):
    """The life of a `SyncRun`: `running`, then one of the three outcomes."""

    RUNNING = "running"
    SUCCEEDED = "succeeded"
    NOT_MODIFIED = "not_modified"
    FAILED = "failed"


class SyncRun(SQLModel, table=True):
    """One sync of one dataset: when, how it ended, and what it changed."""

    __tablename__ = "sync_runs"

    id: int | None = Field(default=None, primary_key=True)
    dataset: str = Field(index=True)
    started_at: datetime = _timestamp_field(nullable=False)
    finished_at: datetime | None = _timestamp_field(nullable=True)
    status: str
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    deleted: int = 0
    error: str | None = Field(default=None, sa_type=Text)


class DatasetState(SQLModel, table=True):
    """What the next read of a dataset needs: its ETags, and the last successful run."""

    __tablename__ = "dataset_state"

    dataset: str = Field(primary_key=True)
    etags: dict[str, str] = Field(default_factory=dict, sa_type=JSONType, nullable=False)
    last_success_run_id: int | None = Field(default=None, foreign_key="sync_runs.id")
    last_success_at: datetime | None = _timestamp_field(nullable=True)


class SyncChange(SQLModel, table=True):
    """One key a sync changed: inserted, updated (with its fields), deleted or restored.

    Written in the sync's own transaction, so a rolled-back run leaves none. `key` is the
    row's key as text (NULL for the one `loaded` entry of a first load into an empty
    table); `fields` maps each changed wire field to `[old, new]` (updates and restores).
    """

    __tablename__ = "sync_changes"
    # `changes --dataset D` and retention look a dataset's changes up by run.
    __table_args__ = (Index("ix_sync_changes_dataset_run_id", "dataset", "run_id"),)

    id: int | None = Field(default=None, primary_key=True)
    run_id: int = Field(foreign_key="sync_runs.id", index=True)
    dataset: str
    key: str | None = Field(default=None, sa_type=Text)
    kind: str
    fields: dict[str, Any] | None = Field(default=None, sa_type=JSONType, nullable=True)


class SchemaDrift(SQLModel, table=True):
    """A field the partner sends that the dataset's table has no column for (kept in `extra`).

    One row per dataset and field, written by the first run that saw it: the field is
    reported once, not on every run.
    """

    __tablename__ = "schema_drift"

    dataset: str = Field(primary_key=True)
    field: str = Field(primary_key=True)
    first_run_id: int = Field(foreign_key="sync_runs.id")
    first_seen_at: datetime = _timestamp_field(nullable=False)
    sample_key: str = Field(sa_type=Text)
