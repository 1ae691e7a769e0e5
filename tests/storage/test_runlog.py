"""The run log: a `sync_runs` row per sync, `dataset_state` and its ETags, failures recorded."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import Engine, text

from storage import (
    SyncRun,
    dataset_counts,
    load_etags,
    recent_runs,
    sync_dataset,
)
from storage.errors import MassDeleteRefusedError

from .data import (
    CITIES,
    COUNTRIES,
    T0,
    T1,
    T2,
    Read,
    by_key,
    cities,
    city,
    country,
    pages_of,
    snapshot,
)


def test_a_database_error_is_recorded_as_one_line(engine: Engine) -> None:
    sync_dataset(engine, CITIES, [cities(3)], now=T0)
    broken = city(2, name=None)  # NOT NULL column: the database refuses

    with pytest.raises(Exception) as raised:
        sync_dataset(engine, CITIES, [[city(1), broken, city(3)]], now=T1)

    assert "Integrity" in type(raised.value).__name__ or "NotNull" in str(raised.value)
    (failed,) = recent_runs(engine, 1)
    assert failed.status == "failed"
    assert failed.error is not None
    assert "\n" not in failed.error
    assert "INSERT" not in failed.error  # the SQL and the row values stay out
    assert by_key(snapshot(engine, "cities"))[2]["name"] == "City 2"


def test_etags_are_stored_with_the_data(engine: Engine) -> None:
    assert load_etags(engine, CITIES) == {}
    etags = {"0/1000": '"p0"', "1/1000": '"p1"'}
    sync_dataset(engine, CITIES, Read(pages_of(cities(1500)), etags=etags), now=T0)
    assert load_etags(engine, CITIES) == etags
    assert load_etags(engine, COUNTRIES) == {}

    # A modified read replaces them; a plain list of pages has none.
    sync_dataset(engine, CITIES, pages_of(cities(1500)), now=T1)
    assert load_etags(engine, CITIES) == {}


def test_a_refused_sync_keeps_the_old_etags(engine: Engine) -> None:
    sync_dataset(engine, CITIES, Read([cities(10)], etags={"0/1000": '"old"'}), now=T0)
    with pytest.raises(MassDeleteRefusedError):
        sync_dataset(engine, CITIES, Read([cities(1)], etags={"0/1000": '"new"'}), now=T1)
    assert load_etags(engine, CITIES) == {"0/1000": '"old"'}


def test_runs_and_state_record_each_sync(engine: Engine) -> None:
    one = sync_dataset(engine, CITIES, [cities(10)], now=T0)
    two = sync_dataset(engine, COUNTRIES, [[country("DE")]], now=T1)
    three = sync_dataset(engine, CITIES, [cities(9)], now=T2)

    runs = recent_runs(engine, 10)
    assert [run.id for run in runs] == [three.run_id, two.run_id, one.run_id]
    assert [run.id for run in recent_runs(engine, 10, dataset=CITIES)] == [
        three.run_id,
        one.run_id,
    ]
    newest = runs[0]
    assert (newest.dataset, newest.status, newest.started_at, newest.finished_at) == (
        "cities",
        "succeeded",
        T2,
        T2,
    )
    assert (newest.unchanged, newest.deleted, newest.error) == (9, 1, None)
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT dataset, last_success_run_id FROM dataset_state"))
        state: dict[str, int] = {row[0]: row[1] for row in rows}
    assert state == {"cities": three.run_id, "countries": two.run_id}
    assert dataset_counts(engine) == {
        "countries": (1, 0),
        "currencies": (0, 0),
        "languages": (0, 0),
        "cities": (9, 1),
    }


def test_a_running_row_left_by_a_crashed_sync_is_marked_failed(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(
            SyncRun.__table__.insert().values(  # type: ignore[attr-defined]
                dataset="cities",
                started_at=T0,
                status="running",
                inserted=0,
                updated=0,
                unchanged=0,
                deleted=0,
            )
        )
    result = sync_dataset(engine, CITIES, [cities(3)], now=T1)

    newest, crashed = recent_runs(engine, 2)
    assert newest.id == result.run_id
    assert crashed.status == "failed"
    assert crashed.error is not None and crashed.error.startswith("interrupted")


def test_the_running_row_is_visible_only_where_the_database_allows(
    engine: Engine, db_url: str
) -> None:
    """PostgreSQL shows a sync in progress; SQLite readers keep seeing the last commit."""
    seen_during: list[list[str]] = []

    def pages() -> Any:
        yield cities(5)
        seen_during.append([run.status for run in recent_runs(engine, 5)])
        yield cities(5, start=6)

    sync_dataset(engine, CITIES, [cities(3)], now=T0)
    sync_dataset(engine, CITIES, pages(), now=T1)

    expected = ["running", "succeeded"] if db_url.startswith("postgresql") else ["succeeded"]
    assert seen_during == [expected]
    assert [run.status for run in recent_runs(engine, 5)] == ["succeeded", "succeeded"]


def test_an_interrupt_rolls_back_and_is_recorded(engine: Engine) -> None:
    sync_dataset(engine, CITIES, [cities(10)], now=T0)
    before = snapshot(engine, "cities")

    def pages() -> Any:
        yield [city(i, name="half-way") for i in range(1, 11)]
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        sync_dataset(engine, CITIES, pages(), batch_size=5, now=T1)

    assert snapshot(engine, "cities") == before
    assert recent_runs(engine, 1)[0].error == "KeyboardInterrupt"


def test_a_long_error_is_cut_to_one_short_line(engine: Engine) -> None:
    def pages() -> Any:
        yield cities(1)
        raise RuntimeError("first line\nsecond line " + "x" * 2000)

    with pytest.raises(RuntimeError):
        sync_dataset(engine, CITIES, pages(), now=T0)

    error = recent_runs(engine, 1)[0].error
    assert error is not None
    assert error.startswith("RuntimeError: first line second line xxx")
    assert len(error) <= 500
