"""The raw floors: the same work as ours, hand-written, with none of the safety.

A floor reads every page one after another on a bare `httpx.Client` that signs each
request inline (four headers, one `hmac` call: no `httpx.Auth` flow, no clock
correction, no retries, no envelope or item validation, `json.loads` of the body), and
writes the rows ours writes: the same table (created by our migrations), the same twelve
columns (the seven data columns, `extra`, both timestamps, the sha256 of the item's
canonical JSON and the run id of a `sync_runs` row it opens and closes), with the same
`INSERT ... ON CONFLICT (id) DO UPDATE ... WHERE` the row changed, as one `executemany`
in one transaction. What it leaves out is what makes ours safe: ETags and 304s, the
duplicate check, the deletion sweep, locks, retries, the mid-read change detection.

`python -m benchmarks._floor_process` runs the SQLite floor as a process of its own, so
the figures that include process start compare like with like. This module imports
nothing of the project: the floor's process pays only for httpx, `json`, `hashlib` and
`sqlite3`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import sqlite3
import time
import uuid
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import Any

import httpx

#: The wire fields of a city, in the order of the table's data columns.
CITY_WIRE = ("id", "name", "countryCode", "population", "latitude", "longitude", "timezone")
#: The columns the floor writes: the data columns, then the bookkeeping ours writes.
COLUMNS = (
    "id",
    "name",
    "country_code",
    "population",
    "latitude",
    "longitude",
    "timezone",
    "extra",
    "first_seen_at",
    "updated_at",
    "content_hash",
    "last_seen_run_id",
)
#: Items per page, as the client asks for them by default.
PAGE_SIZE = 1000


def upsert_sql(placeholder: str, distinct: str) -> str:
    """The upsert with a `WHERE` that skips rows whose hash did not change (and are live)."""
    updates = ", ".join(f"{c} = excluded.{c}" for c in COLUMNS if c not in ("id", "first_seen_at"))
    marks = ", ".join([placeholder] * len(COLUMNS))
    return (
        f"INSERT INTO cities ({', '.join(COLUMNS)}) VALUES ({marks}) "
        f"ON CONFLICT (id) DO UPDATE SET {updates}, deleted_at = NULL "
        f"WHERE cities.content_hash {distinct} excluded.content_hash "
        "OR cities.deleted_at IS NOT NULL"
    )


SQLITE_UPSERT = upsert_sql("?", "IS NOT")
POSTGRES_UPSERT = upsert_sql("%s", "IS DISTINCT FROM")


class RawPartner:
    """A bare `httpx.Client` that signs each request inline; reads pages one by one."""

    def __init__(self, base_url: str, api_key: str, api_secret: str, token: str) -> None:
        self.api_key = api_key
        self.secret = api_secret.encode()
        self.token = token
        self.http = httpx.Client(base_url=base_url.rstrip("/"))

    def close(self) -> None:
        """Close the connection pool."""
        self.http.close()

    def get(self, path: str, query: str) -> httpx.Response:
        """A signed GET of `path?query` (the path after the context path, as signed)."""
        timestamp = str(int(time.time()))
        nonce = str(uuid.uuid4())
        message = f"GET\n{path}?{query}\n{timestamp}\n{nonce}\n".encode()
        signature = base64.b64encode(hmac.new(self.secret, message, hashlib.sha256).digest())
        headers = {
            "Authorization": "HMAC-SHA256 " + signature.decode(),
            "X-Api-Key": self.api_key,
            "X-Timestamp": timestamp,
            "X-Nonce": nonce,
            "X-Session-Token": self.token,
        }
        return self.http.get(f"{path}?{query}", headers=headers)

    def page(self, dataset: str, page: int, size: int) -> dict[str, Any]:
        """The `data` of one page, parsed with `json`."""
        response = self.get(f"/api/v1/partner/constants/{dataset}", f"page={page}&size={size}")
        data: dict[str, Any] = json.loads(response.content)["data"]
        return data

    def pages(self, dataset: str, size: int = PAGE_SIZE) -> Iterator[list[dict[str, Any]]]:
        """Every page's items, in order, each read after the previous one."""
        first = self.page(dataset, 0, size)
        yield first["content"]
        for page in range(1, first["totalPages"]):
            yield self.page(dataset, page, size)["content"]


def content_hash(item: dict[str, Any]) -> str:
    """The sha256 of the item's canonical JSON, as ours stores it (standard `json`)."""
    canonical = json.dumps(item, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def city_rows(
    pages: Iterable[list[dict[str, Any]]], stamp: Any, run_id: int
) -> Iterator[tuple[Any, ...]]:
    """The twelve parameters of each city in `pages`, hash and bookkeeping included."""
    for page in pages:
        for c in page:
            extra = {k: v for k, v in c.items() if k not in CITY_WIRE}
            yield (
                c["id"],
                c["name"],
                c["countryCode"],
                c["population"],
                c["latitude"],
                c["longitude"],
                c["timezone"],
                json.dumps(extra),
                stamp,
                stamp,
                content_hash(c),
                run_id,
            )


def load_sqlite(path: str, pages: Iterable[list[dict[str, Any]]]) -> int:
    """Open a run row, upsert every city of `pages`, close the run row; one transaction.

    Returns the rows the upsert wrote (inserted or changed).
    """
    now = datetime.now(UTC)
    # SQLAlchemy's SQLite DateTime format: ours stores the same text.
    stamp = now.strftime("%Y-%m-%d %H:%M:%S.%f")
    db = sqlite3.connect(path, isolation_level=None)
    try:
        db.execute("BEGIN IMMEDIATE")
        run_id = db.execute(
            "INSERT INTO sync_runs (dataset, started_at, status, inserted, updated, unchanged, "
            "deleted) VALUES ('cities', ?, 'running', 0, 0, 0, 0)",
            (stamp,),
        ).lastrowid
        assert run_id is not None
        written = db.executemany(SQLITE_UPSERT, city_rows(pages, stamp, run_id)).rowcount
        db.execute(
            "UPDATE sync_runs SET status = 'succeeded', finished_at = ?, inserted = ? WHERE id = ?",
            (datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S.%f"), written, run_id),
        )
        db.execute("COMMIT")
    finally:
        db.close()
    return written


def load_postgres(conninfo: str, pages: Iterable[list[dict[str, Any]]]) -> int:
    """`load_sqlite` on PostgreSQL with psycopg: one `executemany` per page, one transaction."""
    import psycopg

    now = datetime.now(UTC)
    written = 0
    with psycopg.connect(conninfo) as db, db.cursor() as cursor:
        cursor.execute(
            "INSERT INTO sync_runs (dataset, started_at, status, inserted, updated, unchanged, "
            "deleted) VALUES ('cities', %s, 'running', 0, 0, 0, 0) RETURNING id",
            (now,),
        )
        row = cursor.fetchone()
        assert row is not None
        run_id = row[0]
        for page in pages:
            cursor.executemany(POSTGRES_UPSERT, list(city_rows([page], now, run_id)))
            written += cursor.rowcount
        cursor.execute(
            "UPDATE sync_runs SET status = 'succeeded', finished_at = %s, inserted = %s "
            "WHERE id = %s",
            (datetime.now(UTC), written, run_id),
        )
    return written
