"""The raw floors: the simplest hand-written code doing each figure's work, with no safety.

No retries, no envelope or item validation, no content hashes, no run records, no ETags,
no locks: only what it takes to move the same bytes and rows. The server refuses unsigned
requests, so the HTTP floors sign by hand (four headers, one `hmac` call) on a bare
`httpx.Client`: "no auth" means no `httpx.Auth` flow, no clock correction, no checks.
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
from typing import Any

import httpx

#: The city columns, in the order of the wire fields below.
CITY_COLUMNS = ("id", "name", "country_code", "population", "latitude", "longitude", "timezone")
_CITY_WIRE = ("id", "name", "countryCode", "population", "latitude", "longitude", "timezone")

_SQLITE_DDL = (
    "CREATE TABLE cities (id INTEGER PRIMARY KEY, name TEXT NOT NULL, country_code TEXT NOT "
    "NULL, population INTEGER NOT NULL, latitude REAL NOT NULL, longitude REAL NOT NULL, "
    "timezone TEXT NOT NULL)"
)
_POSTGRES_DDL = _SQLITE_DDL.replace("INTEGER PRIMARY KEY", "BIGINT PRIMARY KEY").replace(
    "population INTEGER", "population BIGINT"
)


def _upsert_sql(placeholder: str) -> str:
    updates = ", ".join(f"{c} = excluded.{c}" for c in CITY_COLUMNS[1:])
    marks = ", ".join([placeholder] * len(CITY_COLUMNS))
    return f"INSERT INTO cities VALUES ({marks}) ON CONFLICT (id) DO UPDATE SET {updates}"


SQLITE_UPSERT = _upsert_sql("?")
POSTGRES_UPSERT = _upsert_sql("%s")


class RawPartner:
    """A bare `httpx.Client` that signs each request inline."""

    def __init__(self, base_url: str, api_key: str, api_secret: str, token: str) -> None:
        url = httpx.URL(base_url)
        self.context_path = url.path.rstrip("/")
        self.api_key = api_key
        self.secret = api_secret.encode()
        self.token = token
        self.http = httpx.Client(base_url=base_url.rstrip("/"))

    def close(self) -> None:
        """Close the connection pool."""
        self.http.close()

    def get(self, path: str, query: str) -> httpx.Response:
        """A signed GET of `path?query` (path after the context path)."""
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

    def pages(self, dataset: str, size: int = 1000) -> Iterator[list[dict[str, Any]]]:
        """Every page's items, in order."""
        first = self.page(dataset, 0, size)
        yield first["content"]
        for page in range(1, first["totalPages"]):
            yield self.page(dataset, page, size)["content"]


def city_rows(pages: Iterable[list[dict[str, Any]]]) -> Iterator[tuple[Any, ...]]:
    """Parameter tuples of the cities in `pages`."""
    for page in pages:
        for c in page:
            yield (
                c["id"],
                c["name"],
                c["countryCode"],
                c["population"],
                c["latitude"],
                c["longitude"],
                c["timezone"],
            )


def create_sqlite_table(path: str) -> None:
    """The floor's table in a new SQLite file."""
    with sqlite3.connect(path) as db:
        db.execute(_SQLITE_DDL)
    db.close()


def upsert_sqlite(path: str, pages: Iterable[list[dict[str, Any]]]) -> None:
    """`executemany` of `INSERT ... ON CONFLICT DO UPDATE`, one transaction."""
    db = sqlite3.connect(path)
    try:
        with db:
            db.executemany(SQLITE_UPSERT, city_rows(pages))
    finally:
        db.close()


def create_postgres_table(conninfo: str) -> None:
    """The floor's table in the database `conninfo` names."""
    import psycopg

    with psycopg.connect(conninfo) as db:
        db.execute(_POSTGRES_DDL)


def upsert_postgres(conninfo: str, pages: Iterable[list[dict[str, Any]]]) -> None:
    """psycopg `executemany` of `INSERT ... ON CONFLICT DO UPDATE`, one transaction."""
    import psycopg

    with psycopg.connect(conninfo) as db, db.cursor() as cursor:
        for page in pages:
            cursor.executemany(POSTGRES_UPSERT, list(city_rows([page])))
