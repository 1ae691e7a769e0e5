"""The SQLModel tables of partner-sync.

Every reference table holds the contract's item fields in snake_case plus the bookkeeping
columns of a sync, defined once in `Tracked`: `extra` (fields the contract does not list),
`first_seen_at`, `updated_at`, `deleted_at` (NULL while the source still has the row),
`content_hash` and `last_seen_run_id`. Rows are never removed: a row the source dropped
gets `deleted_at`. Which table stores which dataset is `storage.dataset_tables`.

The alembic migrations under `storage/migrations/` create these tables; `create_all` is
not used for real databases.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, BigInteger, DateTime, Dialect, Text, TypeDecorator
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
