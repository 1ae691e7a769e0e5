"""Test data and probes shared by the storage tests."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, event, select

from storage import DATASET_TABLES

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
T1 = T0 + timedelta(hours=1)
T2 = T0 + timedelta(hours=2)
T3 = T0 + timedelta(hours=3)

CITIES = DATASET_TABLES["cities"]
COUNTRIES = DATASET_TABLES["countries"]


def city(i: int, **changes: Any) -> dict[str, Any]:
    """A wire city item (camelCase, as the client delivers it)."""
    item: dict[str, Any] = {
        "id": i,
        "name": f"City {i}",
        "countryCode": "DE",
        "population": 1000 * i,
        "latitude": 50.0 + i / 1000,
        "longitude": 8.0 - i / 1000,
        "timezone": "Europe/Berlin",
    }
    item.update(changes)
    return item


def cities(n: int, start: int = 1) -> list[dict[str, Any]]:
    """`n` cities with ids `start..start+n-1`."""
    return [city(i) for i in range(start, start + n)]


def pages_of(items: list[dict[str, Any]], size: int = 1000) -> list[list[dict[str, Any]]]:
    """Split items into pages as the client would deliver them."""
    return [items[i : i + size] for i in range(0, len(items), size)]


def country(code: str, **changes: Any) -> dict[str, Any]:
    """A wire country item."""
    item: dict[str, Any] = {
        "code": code,
        "alpha3": code + "X",
        "numeric": "276",
        "name": f"Country {code}",
        "officialName": f"Republic of {code}",
    }
    item.update(changes)
    return item


@dataclass
class Read:
    """A `PageSource` like the client's `DatasetRead`: pages, then what the read learned."""

    pages: list[list[dict[str, Any]]]
    etags: dict[str, str] = field(default_factory=dict)
    not_modified: bool = False

    def __iter__(self) -> Iterator[list[dict[str, Any]]]:
        yield from self.pages


def failing_after(pages: list[list[dict[str, Any]]], n: int) -> Iterator[list[dict[str, Any]]]:
    """Yield `n` pages, then fail as a broken connection would."""
    for index, page in enumerate(pages):
        if index == n:
            raise ConnectionError("connection reset by peer after page 3")
        yield page


def snapshot(engine: Engine, dataset: str) -> list[dict[str, Any]]:
    """Every row of the dataset's table, every column, ordered by key."""
    spec = DATASET_TABLES[dataset]
    table = spec.core
    with engine.connect() as conn:
        rows = conn.execute(select(table).order_by(table.c[spec.key])).mappings().all()
    return [dict(row) for row in rows]


def by_key(rows: list[dict[str, Any]], key: str = "id") -> dict[Any, dict[str, Any]]:
    """Rows (as `snapshot` returns them) by their key."""
    return {row[key]: row for row in rows}


@dataclass
class WriteLog:
    """Statements that wrote to a table, as seen by the engine."""

    statements: list[str] = field(default_factory=list)
    rows: int = 0


@contextmanager
def data_writes(engine: Engine, table: str) -> Iterator[WriteLog]:
    """Record every INSERT/UPDATE/DELETE statement aimed at `table` while inside."""
    log = WriteLog()
    pattern = re.compile(rf"^\s*(INSERT\s+INTO|UPDATE|DELETE\s+FROM)\s+\"?{table}\b", re.I)

    def before(
        conn: Any, cursor: Any, statement: str, params: Any, context: Any, many: bool
    ) -> None:
        if pattern.match(statement):
            log.statements.append(statement)
            log.rows += len(params) if many else 1

    event.listen(engine, "before_cursor_execute", before)
    try:
        yield log
    finally:
        event.remove(engine, "before_cursor_execute", before)
