"""The SQLModel tables of partner-sync and the registry of datasets (`DATASETS`).

Every reference table holds the contract's item fields in snake_case plus the bookkeeping
columns of a sync: `extra` (fields the contract does not list), `first_seen_at`,
`updated_at`, `deleted_at` (NULL while the source still has the row), `content_hash` and
`last_seen_run_id`. Rows are never removed: a row the source dropped gets `deleted_at`.

The alembic migrations under `storage/migrations/` create these tables; `create_all` is
not used for real databases.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, cast

from sqlalchemy import JSON, BigInteger, DateTime, Dialect, Table, Text, TypeDecorator
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel

__all__ = [
    "DATASETS",
    "City",
    "Country",
    "Currency",
    "DatasetSpec",
    "DatasetState",
    "JSONType",
    "Language",
    "RunStatus",
    "SyncRun",
    "UTCDateTime",
]


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


class Country(SQLModel, table=True):
    """A country (ISO 3166), keyed by its alpha-2 `code`."""

    __tablename__ = "countries"

    code: str = Field(primary_key=True)
    alpha3: str
    numeric: str
    name: str
    official_name: str | None = None
    extra: dict[str, Any] = _extra_field()
    first_seen_at: datetime = _timestamp_field(nullable=False)
    updated_at: datetime = _timestamp_field(nullable=False)
    deleted_at: datetime | None = _timestamp_field(nullable=True)
    content_hash: str
    last_seen_run_id: int | None = None


class Currency(SQLModel, table=True):
    """A currency (ISO 4217), keyed by its alphabetic `code`."""

    __tablename__ = "currencies"

    code: str = Field(primary_key=True)
    numeric: str
    name: str
    extra: dict[str, Any] = _extra_field()
    first_seen_at: datetime = _timestamp_field(nullable=False)
    updated_at: datetime = _timestamp_field(nullable=False)
    deleted_at: datetime | None = _timestamp_field(nullable=True)
    content_hash: str
    last_seen_run_id: int | None = None


class Language(SQLModel, table=True):
    """A language (ISO 639-3), keyed by its 3-letter `code`."""

    __tablename__ = "languages"

    code: str = Field(primary_key=True)
    alpha2: str | None = None
    name: str
    extra: dict[str, Any] = _extra_field()
    first_seen_at: datetime = _timestamp_field(nullable=False)
    updated_at: datetime = _timestamp_field(nullable=False)
    deleted_at: datetime | None = _timestamp_field(nullable=True)
    content_hash: str
    last_seen_run_id: int | None = None


class City(SQLModel, table=True):
    """A city, keyed by the partner's integer `id` (not generated here)."""

    __tablename__ = "cities"

    id: int = Field(primary_key=True, sa_type=BigInteger, sa_column_kwargs={"autoincrement": False})
    name: str
    country_code: str
    population: int = Field(sa_type=BigInteger)
    latitude: float
    longitude: float
    timezone: str
    extra: dict[str, Any] = _extra_field()
    first_seen_at: datetime = _timestamp_field(nullable=False)
    updated_at: datetime = _timestamp_field(nullable=False)
    deleted_at: datetime | None = _timestamp_field(nullable=True)
    content_hash: str
    last_seen_run_id: int | None = None


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


@dataclass(frozen=True)
class DatasetSpec:
    """How one dataset maps onto its table.

    `fields` maps each wire field (camelCase, as in the contract) to its column;
    `required` lists the wire fields an item must carry; `key` is both the wire field and
    the column of the primary key, and `key_type` its Python type.
    """

    name: str
    table: type[SQLModel]
    key: str
    key_type: type[int] | type[str]
    fields: Mapping[str, str]
    required: frozenset[str]

    @property
    def core(self) -> Table:
        """The SQLAlchemy Core `Table` behind the model, for bulk statements."""
        return cast(Table, self.table.__table__)  # type: ignore[attr-defined]


def _spec(
    name: str,
    table: type[SQLModel],
    key: str,
    key_type: type[int] | type[str],
    fields: Mapping[str, str],
    optional: tuple[str, ...] = (),
) -> DatasetSpec:
    return DatasetSpec(
        name=name,
        table=table,
        key=key,
        key_type=key_type,
        fields=dict(fields),
        required=frozenset(fields) - frozenset(optional),
    )


#: Dataset name -> how it is stored. The one registry the client, flows and storage share.
DATASETS: Mapping[str, DatasetSpec] = {
    "countries": _spec(
        "countries",
        Country,
        "code",
        str,
        {
            "code": "code",
            "alpha3": "alpha3",
            "numeric": "numeric",
            "name": "name",
            "officialName": "official_name",
        },
        optional=("officialName",),
    ),
    "currencies": _spec(
        "currencies",
        Currency,
        "code",
        str,
        {"code": "code", "numeric": "numeric", "name": "name"},
    ),
    "languages": _spec(
        "languages",
        Language,
        "code",
        str,
        {"code": "code", "alpha2": "alpha2", "name": "name"},
        optional=("alpha2",),
    ),
    "cities": _spec(
        "cities",
        City,
        "id",
        int,
        {
            "id": "id",
            "name": "name",
            "countryCode": "country_code",
            "population": "population",
            "latitude": "latitude",
            "longitude": "longitude",
            "timezone": "timezone",
        },
    ),
}
