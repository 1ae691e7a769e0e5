"""Two syncs of one dataset at once: the second waits its turn or fails cleanly."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Engine, event

from storage import (
    SyncLockedError,
    SyncResult,
    dataset_counts,
    make_engine,
    recent_runs,
    sync_dataset,
)

from .data import CITIES, COUNTRIES, T0, T1, T2, cities, city, pages_of, snapshot

#: Long enough for any honest wait in these tests; they never wait for it to pass.
PATIENT = 60.0


class HeldSync:
    """A sync in a thread that stops after its first page until `release()`."""

    def __init__(self, engine: Engine, pages: list[list[dict[str, Any]]], **kwargs: Any) -> None:
        self.engine = engine
        self.pages = pages
        self.kwargs = kwargs
        self.inside = threading.Event()
        self.go = threading.Event()
        self.result: SyncResult | None = None
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _pages(self) -> Iterator[list[dict[str, Any]]]:
        yield self.pages[0]
        self.inside.set()
        if not self.go.wait(PATIENT):
            raise TimeoutError("the test never released the held sync")
        yield from self.pages[1:]

    def _run(self) -> None:
        try:
            self.result = sync_dataset(self.engine, CITIES, self._pages(), **self.kwargs)
        except BaseException as exc:
            self.error = exc

    def start(self) -> HeldSync:
        self.thread.start()
        assert self.inside.wait(PATIENT), "the held sync never got past its first page"
        return self

    def release(self) -> SyncResult:
        self.go.set()
        self.thread.join(PATIENT)
        assert not self.thread.is_alive()
        if self.error is not None:
            raise self.error
        assert self.result is not None
        return self.result


def test_a_second_sync_fails_cleanly_when_the_lock_stays_taken(engine: Engine) -> None:
    sync_dataset(engine, CITIES, [cities(10)], now=T0)
    held = HeldSync(engine, pages_of([city(i, name="first") for i in range(1, 11)], 5), now=T1)
    held.start()
    try:
        with pytest.raises(SyncLockedError) as raised:
            sync_dataset(engine, CITIES, [cities(10)], lock_timeout=0.2, now=T2)
        message = str(raised.value)
        assert message.startswith("another sync of 'cities' is running")
        assert message.endswith("; try again when it finishes")
    finally:
        first = held.release()

    assert first.updated == 10
    assert {row["name"] for row in snapshot(engine, "cities")} == {"first"}
    # The refused sync never started: it left no run row behind.
    assert [run.status for run in recent_runs(engine)] == ["succeeded", "succeeded"]


class LockProbe:
    """Records when a sync on `engine` asked for its dataset's lock and when it got it.

    The lock is asked for by `BEGIN IMMEDIATE` on SQLite and by `pg_advisory_xact_lock`
    on PostgreSQL (see `storage._locks`): "asked" is just before that statement goes to
    the database, "got" is when it returns. Only the first lock statement counts.
    """

    def __init__(self, engine: Engine) -> None:
        self.asked = threading.Event()
        self.got = threading.Event()
        self.asked_at = self.got_at = 0.0
        self._sqlite = engine.dialect.name == "sqlite"
        event.listen(engine, "before_cursor_execute", self._before)
        event.listen(engine, "after_cursor_execute", self._after)

    def _is_lock(self, statement: str) -> bool:
        return statement.startswith("BEGIN") if self._sqlite else "advisory_xact_lock" in statement

    def _before(self, conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if self._is_lock(statement) and not self.asked.is_set():
            self.asked_at = time.monotonic()
            self.asked.set()

    def _after(self, conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if self._is_lock(statement) and not self.got.is_set():
            self.got_at = time.monotonic()
            self.got.set()


def test_a_second_sync_waits_for_the_first_then_runs(engine: Engine, db_url: str) -> None:
    first_items = [city(i, name="first") for i in range(1, 2001)]
    second_items = [city(i, name="second") for i in range(1001, 3001)]
    held = HeldSync(engine, pages_of(first_items, 1000), now=T0, allow_mass_delete=True)
    held.start()
    # The second writer has its own engine (its own connections), as another process would.
    other = make_engine(db_url)
    probe = LockProbe(other)
    second: dict[str, Any] = {}

    def run_second() -> None:
        try:
            second["result"] = sync_dataset(
                other,
                CITIES,
                pages_of(second_items, 1000),
                lock_timeout=PATIENT,
                now=T1,
                allow_mass_delete=True,
            )
        except BaseException as exc:
            second["error"] = exc

    thread = threading.Thread(target=run_second, daemon=True)
    thread.start()
    try:
        assert probe.asked.wait(PATIENT), "the second sync never asked for the lock"
        # It asked while the first holds the lock, so it must still be waiting a while later.
        assert not probe.got.wait(0.5), "the second sync got the lock while the first held it"
        released_at = time.monotonic()
    finally:
        first = held.release()
        thread.join(PATIENT)
        other.dispose()
    assert "error" not in second, second.get("error")

    assert probe.asked_at < released_at < probe.got_at
    assert (first.inserted, first.deleted) == (2000, 0)
    result = second["result"]
    assert (result.inserted, result.updated, result.deleted) == (1000, 1000, 1000)
    rows = snapshot(engine, "cities")
    assert len(rows) == 3000  # no duplicate, no lost row
    assert len({row["id"] for row in rows}) == 3000
    live = {row["id"]: row["name"] for row in rows if row["deleted_at"] is None}
    assert live == dict.fromkeys(range(1001, 3001), "second")
    assert dataset_counts(engine)["cities"] == (2000, 1000)


def test_other_datasets_sync_alongside_on_postgresql_only(engine: Engine) -> None:
    """PostgreSQL locks per dataset; SQLite has one writer per database by design."""
    germany = {"code": "DE", "alpha3": "DEU", "numeric": "276", "name": "Germany"}
    held = HeldSync(engine, pages_of(cities(10), 5), now=T0)
    held.start()
    try:
        if engine.dialect.name == "postgresql":
            result = sync_dataset(engine, COUNTRIES, [[germany]], lock_timeout=PATIENT, now=T1)
            assert result.inserted == 1
        else:
            with pytest.raises(SyncLockedError, match="another write to the SQLite database"):
                sync_dataset(engine, COUNTRIES, [[germany]], lock_timeout=0.2, now=T1)
    finally:
        held.release()
