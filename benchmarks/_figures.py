"""The in-process figures: each runs ours and its raw floor, interleaved, against one server."""

from __future__ import annotations

import contextlib
import tempfile
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from partner_api import PartnerClient, SandboxOtpSource
from partner_sync.core.dataset import sync_one
from partner_sync.core.settings import Settings
from sandbox import (
    DEMO_API_KEY,
    DEMO_API_SECRET,
    DEMO_EMAIL,
    DEMO_PASSWORD,
    build_items,
)
from storage import DATASET_TABLES, DEFAULT_BATCH_SIZE, sync_dataset
from storage._canonical import content_hash
from storage._rows import RowBuilder
from storage.db import make_engine, upgrade_database
from storage.statements import statements

from . import _floors
from ._timing import Figure, Timing, interleave, median, timed, timing_figure

#: Runs the measured part of a figure: `timed`, or the profiler.
Measure = Callable[[Callable[[], object]], Any]

#: Items per page, as the client asks for them by default.
PAGE_SIZE = 1000
#: The PostgreSQL server the tests use (trust auth); each run gets its own schema.
POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
POSTGRES_CONNINFO = "host=127.0.0.1 port=5432 user=postgres dbname=test"


class _QuietProgress:
    """No progress output: the benchmark measures the sync, not a terminal."""

    def start(self, dataset: str) -> None:
        """Nothing."""

    def advance(self, dataset: str, rows: int, total: int | None) -> None:
        """Nothing."""

    def finish(self, outcome: object) -> None:
        """Nothing."""


@dataclass
class Bench:
    """What every in-process figure shares: one server, one logged-in client, a scratch dir."""

    base_url: str
    client: PartnerClient
    raw: _floors.RawPartner
    workdir: Path
    settings: Settings
    #: Figure name -> one run of ours, for the profiler: it sets up, then hands the part
    #: the figure times to the function it is given.
    profiles: dict[str, Callable[[Measure], object]] = field(default_factory=dict)

    def fresh_sqlite(self, label: str) -> str:
        """The path of a new, empty SQLite file."""
        return str(self.workdir / f"{label}-{uuid.uuid4().hex[:8]}.db")


@contextlib.contextmanager
def bench_session(base_url: str) -> Iterator[Bench]:
    """Log in once; the floors reuse the session token (login is not what is measured)."""
    client = PartnerClient(base_url, DEMO_API_KEY, DEMO_API_SECRET)
    with client, tempfile.TemporaryDirectory(prefix="partner-bench-") as workdir:
        session = client.login(DEMO_EMAIL, DEMO_PASSWORD, SandboxOtpSource(base_url))
        raw = _floors.RawPartner(
            base_url, DEMO_API_KEY, DEMO_API_SECRET, session.token.get_secret_value()
        )
        try:
            yield Bench(
                base_url=base_url,
                client=client,
                raw=raw,
                workdir=Path(workdir),
                # Defaults only: no environment, no .env (the sync reads two limits from it).
                settings=Settings(_env_file=None),
            )
        finally:
            raw.close()


# --- storage alone ------------------------------------------------------------------------


UPSERT = "upsert vs a same-work floor, SQLite"
POSTGRES = "PostgreSQL end to end vs its `executemany` floor"


def upsert_figure(bench: Bench, rows: int, runs: int) -> Figure:
    """`storage` writing `rows` cities into an empty SQLite file vs the same-work floor.

    Both get the pages already in memory and a file holding our empty schema; the floor
    hashes each item with the standard library and runs one `executemany` of the same
    upsert with the same twelve columns, in one transaction (`_floors.load_sqlite`).
    """
    items = build_items("cities", cities=rows)
    pages = [items[i : i + PAGE_SIZE] for i in range(0, len(items), PAGE_SIZE)]
    table = DATASET_TABLES["cities"]

    def ours(measure: Measure = timed) -> Timing:
        engine = make_engine(f"sqlite:///{bench.fresh_sqlite('upsert')}")
        try:
            upgrade_database(engine)
            result: list[Any] = []
            took: Timing = measure(lambda: result.append(sync_dataset(engine, table, pages)))
            if result[0].inserted != rows:
                raise RuntimeError(f"the upsert did not insert every row: {result[0]}")
            return took
        finally:
            engine.dispose()

    def floor() -> Timing:
        path = bench.fresh_sqlite("upsert-floor")
        engine = make_engine(f"sqlite:///{path}")
        try:
            upgrade_database(engine)
        finally:
            engine.dispose()
        return timed(lambda: _floors.load_sqlite(path, pages))

    mine, theirs = interleave(runs, ours, floor)
    bench.profiles[UPSERT] = ours
    alone = median(
        [
            statement_alone(f"sqlite:///{bench.fresh_sqlite('alone')}", items).wall
            for _ in range(runs)
        ]
    )
    return timing_figure(
        UPSERT,
        mine,
        theirs,
        1.2,
        ours_label=f"`sync_dataset` writing {rows:,} cities (in memory) into an empty SQLite file",
        baseline_label="hashes with `json` + `hashlib`, one `sqlite3.executemany` of the same "
        "upsert (`WHERE` the row changed), same twelve columns, one transaction",
        note=(
            f"{_rate(rows, mine, theirs)}; our compiled upsert alone (parameter tuples "
            f"built beforehand, same executemany) takes {alone:.3f} s"
        ),
    )


def statement_alone(url: str, items: list[dict[str, Any]]) -> Timing:
    """Our compiled upsert alone, into the fresh database `url`: what bounds the write.

    The same batched `executemany` storage runs, of parameter tuples built beforehand,
    then the commit: none of storage's Python work (keys, hashes, tuples, the duplicate
    check) is on the clock.
    """
    engine = make_engine(url)
    try:
        upgrade_database(engine)
        builder = RowBuilder(DATASET_TABLES["cities"], engine.dialect)
        upsert = statements(DATASET_TABLES["cities"], engine.dialect.name).upsert
        triples = [(item["id"], content_hash(item), item) for item in items]
        params = builder.rows(triples, now=datetime.now(UTC), run_id=1)
        sqlite = engine.dialect.name == "sqlite"
        raw = engine.raw_connection()
        try:
            cursor = raw.cursor()

            def write() -> None:
                if sqlite:  # the engine leaves BEGIN to us (see storage.db)
                    cursor.execute("BEGIN")
                for start in range(0, len(params), DEFAULT_BATCH_SIZE):
                    cursor.executemany(upsert, params[start : start + DEFAULT_BATCH_SIZE])
                if sqlite:
                    cursor.execute("COMMIT")
                else:
                    raw.commit()

            return timed(write)
        finally:
            raw.close()
    finally:
        engine.dispose()


def _rate(rows: int, ours: list[Timing], floor: list[Timing]) -> str:
    mine = median([t.wall for t in ours])
    theirs = median([t.wall for t in floor])
    return f"{rows / mine:,.0f} rows/s vs {rows / theirs:,.0f} rows/s"


@contextlib.contextmanager
def _postgres_schema() -> Iterator[str]:
    """A new schema in the test database, dropped afterwards; yields its name."""
    import psycopg

    schema = f"bench_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(POSTGRES_CONNINFO, autocommit=True) as admin:
        admin.execute(f"CREATE SCHEMA {schema}")
    try:
        yield schema
    finally:
        with psycopg.connect(POSTGRES_CONNINFO, autocommit=True) as admin:
            admin.execute(f"DROP SCHEMA {schema} CASCADE")


def postgres_available() -> str:
    """Empty when the PostgreSQL server answers, else why not."""
    import psycopg

    try:
        with psycopg.connect(POSTGRES_CONNINFO, connect_timeout=3) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as exc:
        return f"no PostgreSQL at 127.0.0.1:5432 ({type(exc).__name__})"
    return ""


def postgres_figure(bench: Bench, rows: int, runs: int) -> Figure:
    """The end-to-end sync into PostgreSQL vs the same-work floor with psycopg `executemany`."""
    client, raw = bench.client, bench.raw
    for _ in raw.pages("cities", PAGE_SIZE):  # fill the server's page cache for both sides
        pass

    def ours(measure: Measure = timed) -> Timing:
        with _postgres_schema() as schema:
            engine = make_engine(f"{POSTGRES_URL}?options=-csearch_path%3D{schema}")
            try:
                upgrade_database(engine)
                outcome: list[Any] = []
                took: Timing = measure(
                    lambda: outcome.append(
                        sync_one(
                            client, engine, bench.settings, "cities", progress=_QuietProgress()
                        )
                    )
                )
            finally:
                engine.dispose()
        if outcome[0].as_row()["inserted"] != rows:
            raise RuntimeError(f"unexpected outcome: {outcome[0]}")
        return took

    def floor() -> Timing:
        with _postgres_schema() as schema:
            engine = make_engine(f"{POSTGRES_URL}?options=-csearch_path%3D{schema}")
            try:
                upgrade_database(engine)
            finally:
                engine.dispose()
            conninfo = f"{POSTGRES_CONNINFO} options=-csearch_path={schema}"
            return timed(lambda: _floors.load_postgres(conninfo, raw.pages("cities", PAGE_SIZE)))

    mine, theirs = interleave(runs, ours, floor)
    bench.profiles[POSTGRES] = ours
    with _postgres_schema() as schema:
        alone = statement_alone(
            f"{POSTGRES_URL}?options=-csearch_path%3D{schema}", build_items("cities", cities=rows)
        ).wall
    return timing_figure(
        POSTGRES,
        mine,
        theirs,
        1.0,
        ours_label=f"`sync_one`, {rows:,} cities, sandbox → PostgreSQL (in process)",
        baseline_label="signed httpx page loop + `json` + hashes + psycopg `executemany` of "
        "the same upsert, same columns, one transaction",
        note=(
            f"{_rate(rows, mine, theirs)}; our compiled upsert alone (prebuilt tuples, "
            f"batched executemany) takes {alone:.2f} s"
        ),
    )
