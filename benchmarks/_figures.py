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
from partner_api._auth import compute_signature
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


# --- signing ------------------------------------------------------------------------------


def signing_overhead(bench: Bench, gets: int, runs: int) -> Figure:
    """`gets` GETs of one small page through the client vs a bare, hand-signed `httpx.Client`.

    The page holds one country, so the per-request cost (signing, retry policy, envelope
    parsing) is as large a share of each request as it can be.
    """
    client, raw = bench.client, bench.raw

    def ours_once() -> None:
        for _ in range(gets):
            client.fetch_page("countries", 0, 1, None)

    def floor_once() -> None:
        for _ in range(gets):
            raw.page("countries", 0, 1)

    ours_once()  # warm both connections and the server's page cache
    floor_once()
    mine, floor = interleave(runs, lambda: timed(ours_once), lambda: timed(floor_once))
    bench.profiles["signing overhead"] = lambda measure: measure(ours_once)
    message = b"GET\n/api/v1/partner/constants/countries?page=0&size=1\n1700000000\nnonce\n"
    hmac_seconds = timed(
        lambda: [compute_signature(DEMO_API_SECRET, message) for _ in range(gets)]
    ).wall

    def per_get(timings: list[Timing], cpu: bool = False) -> str:
        return f"{median([t.cpu if cpu else t.wall for t in timings]) / gets * 1e6:,.0f} µs"

    return timing_figure(
        "signing overhead",
        mine,
        floor,
        1.05,
        ours_label=f"{gets:,} signed GETs of a one-country page via `PartnerClient`",
        baseline_label="the same GETs on a bare `httpx.Client`, signed inline",
        note=(
            f"per GET {per_get(mine)} vs {per_get(floor)} wall, {per_get(mine, True)} vs "
            f"{per_get(floor, True)} CPU; the HMAC itself costs "
            f"{hmac_seconds / gets * 1e6:.1f} µs"
        ),
    )


# --- storage alone ------------------------------------------------------------------------


def upsert_figures(bench: Bench, rows: int, runs: int) -> tuple[Figure, Figure]:
    """`storage` writing `rows` cities into an empty SQLite file, then the same rows again."""
    items = build_items("cities", cities=rows)
    pages = [items[i : i + PAGE_SIZE] for i in range(0, len(items), PAGE_SIZE)]
    table = DATASET_TABLES["cities"]
    ours_again: list[Timing] = []
    floor_again: list[Timing] = []

    def ours(first_run: Measure = timed, second_run: Measure = timed) -> Timing:
        engine = make_engine(f"sqlite:///{bench.fresh_sqlite('upsert')}")
        try:
            upgrade_database(engine)
            first: Timing = first_run(lambda: sync_dataset(engine, table, pages))
            result: list[Any] = []
            again = second_run(lambda: result.append(sync_dataset(engine, table, pages)))
            if result[0].unchanged != rows:
                raise RuntimeError(f"the second upsert changed rows: {result[0]}")
            ours_again.append(again)
            return first
        finally:
            engine.dispose()

    def floor() -> Timing:
        path = bench.fresh_sqlite("upsert-floor")
        _floors.create_sqlite_table(path)
        first = timed(lambda: _floors.upsert_sqlite(path, pages))
        floor_again.append(timed(lambda: _floors.upsert_sqlite(path, pages)))
        return first

    mine, theirs = interleave(runs, ours, floor)
    bench.profiles["upsert throughput"] = lambda measure: ours(first_run=measure)
    bench.profiles["unchanged upsert"] = lambda measure: ours(second_run=measure)
    alone = median(
        [
            statement_alone(f"sqlite:///{bench.fresh_sqlite('alone')}", items).wall
            for _ in range(runs)
        ]
    )
    floor_wall = median([t.wall for t in theirs])
    throughput = timing_figure(
        "upsert throughput",
        mine,
        theirs,
        1.5,
        ours_label=f"`sync_dataset` writing {rows:,} cities into an empty SQLite file",
        baseline_label="`sqlite3.executemany` of the upsert, one transaction",
        note=(
            f"{_rate(rows, mine, theirs)}; our upsert statement alone (the same executemany, "
            f"parameter tuples built beforehand) takes {alone:.3f} s, {alone / floor_wall:.2f}x "
            "the floor: our rows carry six bookkeeping columns (`extra`, two timestamps, the "
            "64-character content hash, the run id, `deleted_at`) besides the seven data columns"
        ),
    )
    unchanged = timing_figure(
        "unchanged upsert",
        ours_again[:runs],
        floor_again,
        1.0,
        ours_label="the same rows again (writes nothing)",
        baseline_label="the floor's second run (rewrites every row)",
    )
    return throughput, unchanged


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


# --- end to end ---------------------------------------------------------------------------


def end_to_end_figures(bench: Bench, rows: int, runs: int) -> tuple[Figure, Figure]:
    """`cities` from the sandbox into SQLite through client and storage; then again (304s)."""
    client, raw = bench.client, bench.raw
    resyncs: list[Timing] = []
    for _ in raw.pages("cities", PAGE_SIZE):  # fill the server's page cache for both sides
        pass

    def ours(measure: Measure = timed) -> Timing:
        engine = make_engine(f"sqlite:///{bench.fresh_sqlite('e2e')}")
        try:
            upgrade_database(engine)
            outcomes: list[Any] = []

            def sync() -> None:
                outcomes.append(
                    sync_one(client, engine, bench.settings, "cities", progress=_QuietProgress())
                )

            first: Timing = measure(sync)
            resyncs.append(timed(sync))
            if outcomes[0].as_row()["inserted"] != rows or outcomes[1].status != "not_modified":
                raise RuntimeError(f"unexpected sync outcomes: {outcomes}")
            return first
        finally:
            engine.dispose()

    def floor() -> Timing:
        path = bench.fresh_sqlite("e2e-floor")
        _floors.create_sqlite_table(path)
        return timed(lambda: _floors.upsert_sqlite(path, raw.pages("cities", PAGE_SIZE)))

    mine, theirs = interleave(runs, ours, floor)
    bench.profiles["end-to-end sync"] = ours
    sync = timing_figure(
        "end-to-end sync",
        mine,
        theirs,
        1.3,
        ours_label=f"`sync_one`, {rows:,} cities, sandbox → SQLite",
        baseline_label="httpx page loop + `json` + `executemany`",
        note=_rate(rows, mine, theirs),
    )
    resync = timing_figure(
        "no-change re-sync",
        resyncs[:runs],
        mine,
        0.1,
        ours_label="the same sync again (every page 304)",
        baseline_label="ours, first run",
        sides=("ours", "first"),
    )
    return sync, resync


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
    """The end-to-end sync into PostgreSQL vs the floor with psycopg `executemany`."""
    client, raw = bench.client, bench.raw

    def ours(measure: Measure = timed) -> Timing:
        with _postgres_schema() as schema:
            engine = make_engine(f"{POSTGRES_URL}?options=-csearch_path%3D{schema}")
            try:
                upgrade_database(engine)
                took: Timing = measure(
                    lambda: sync_one(
                        client, engine, bench.settings, "cities", progress=_QuietProgress()
                    )
                )
            finally:
                engine.dispose()
        return took

    def floor() -> Timing:
        with _postgres_schema() as schema:
            conninfo = f"{POSTGRES_CONNINFO} options=-csearch_path={schema}"
            _floors.create_postgres_table(conninfo)
            return timed(lambda: _floors.upsert_postgres(conninfo, raw.pages("cities", PAGE_SIZE)))

    mine, theirs = interleave(runs, ours, floor)
    bench.profiles["PostgreSQL"] = ours
    with _postgres_schema() as schema:
        alone = statement_alone(
            f"{POSTGRES_URL}?options=-csearch_path%3D{schema}", build_items("cities", cities=rows)
        ).wall
    floor_wall = median([t.wall for t in theirs])
    return timing_figure(
        "PostgreSQL",
        mine,
        theirs,
        1.3,
        ours_label=f"`sync_one`, {rows:,} cities, sandbox → PostgreSQL",
        baseline_label="httpx page loop + `json` + psycopg `executemany`",
        note=(
            f"{_rate(rows, mine, theirs)}; our upsert statement alone (the same batched "
            f"executemany of prebuilt tuples, once) takes {alone:.2f} s, "
            f"{alone / floor_wall:.2f}x the whole floor (which also reads the pages)"
        ),
    )
