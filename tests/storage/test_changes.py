"""The change log and schema drift: what `sync_dataset` keeps of what each run changed."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, func, select

from storage import (
    Change,
    ChangeKind,
    SyncChange,
    load_changes,
    schema_drift,
    sync_dataset,
)
from storage.changes import SAMPLE_SIZE
from storage.errors import MassDeleteRefusedError

from .data import (
    CITIES,
    COUNTRIES,
    T0,
    T1,
    T2,
    T3,
    by_key,
    cities,
    city,
    country,
    data_writes,
    failing_after,
    pages_of,
    snapshot,
)

_CHANGES = SyncChange.__table__  # type: ignore[attr-defined]


def change_rows(engine: Engine, run_id: int | None = None) -> list[tuple[Any, ...]]:
    """`(run_id, dataset, key, kind, fields)` of every change row (of one run), in order."""
    statement = select(
        _CHANGES.c.run_id, _CHANGES.c.dataset, _CHANGES.c.key, _CHANGES.c.kind, _CHANGES.c.fields
    ).order_by(_CHANGES.c.id)
    if run_id is not None:
        statement = statement.where(_CHANGES.c.run_id == run_id)
    with engine.connect() as conn:
        return [tuple(row) for row in conn.execute(statement)]


def count_changes(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(_CHANGES)).scalar_one())


def test_a_first_load_records_one_entry_for_the_whole_table(engine: Engine) -> None:
    result = sync_dataset(engine, CITIES, pages_of(cities(2500)), now=T0)

    assert change_rows(engine) == [(result.run_id, "cities", None, "loaded", None)]
    assert result.changes == (Change(result.run_id, "cities", ChangeKind.LOADED, rows=2500),)
    assert result.changes_total == 1
    [loaded] = load_changes(engine)
    assert (loaded.kind, loaded.key, loaded.rows, loaded.at) == ("loaded", None, 2500, T0)


def test_each_key_and_each_changed_field_is_recorded(engine: Engine) -> None:
    sync_dataset(engine, CITIES, pages_of(cities(100)), now=T0)
    items = [*cities(100)[:95], city(200), city(201)]  # 96..100 gone, 200 and 201 new
    items[9] = city(10, name="Renamed", population=1)
    items[19] = city(20, latitude=-1.25)

    result = sync_dataset(engine, CITIES, pages_of(items, size=30), batch_size=25, now=T1)

    rows = change_rows(engine, result.run_id)
    assert sorted(row[2:] for row in rows) == sorted(
        [
            ("10", "updated", {"name": ["City 10", "Renamed"], "population": [10000, 1]}),
            ("20", "updated", {"latitude": [50.02, -1.25]}),
            ("200", "inserted", None),
            ("201", "inserted", None),
            *((str(k), "deleted", None) for k in range(96, 101)),
        ]
    )
    assert result.changes_total == len(rows) == 9
    assert {c.key for c in result.changes} == {row[2] for row in rows}


def test_a_row_back_after_a_delete_is_restored_with_what_changed_meanwhile(
    engine: Engine,
) -> None:
    sync_dataset(engine, CITIES, pages_of(cities(10)), now=T0)
    sync_dataset(engine, CITIES, pages_of(cities(9)), now=T1)  # 10 gone
    back = [*cities(9), city(10, timezone="UTC")]

    result = sync_dataset(engine, CITIES, pages_of(back), now=T2)

    assert change_rows(engine, result.run_id) == [
        (result.run_id, "cities", "10", "restored", {"timezone": ["Europe/Berlin", "UTC"]})
    ]


def test_fields_outside_the_contract_are_compared_too(engine: Engine) -> None:
    sync_dataset(engine, COUNTRIES, [[country("DE", motto="Einigkeit"), country("FR")]], now=T0)

    result = sync_dataset(
        engine, COUNTRIES, [[country("DE", motto="Recht"), country("FR", flag="tricolore")]]
    )

    assert sorted(row[2:] for row in change_rows(engine, result.run_id)) == [
        ("DE", "updated", {"motto": ["Einigkeit", "Recht"]}),
        ("FR", "updated", {"flag": [None, "tricolore"]}),
    ]


def test_an_unchanged_resync_writes_no_change_row(engine: Engine) -> None:
    sync_dataset(engine, CITIES, pages_of(cities(3000)), now=T0)
    sync_dataset(engine, CITIES, pages_of(cities(3000)[:-1]), now=T1)  # one change: a delete
    before = change_rows(engine)

    with data_writes(engine, "sync_changes") as writes:
        result = sync_dataset(engine, CITIES, pages_of(cities(3000)[:-1]), now=T2)

    assert (result.unchanged, result.changes_total, result.changes) == (2999, 0, ())
    assert writes.statements == []
    assert change_rows(engine) == before


def test_the_write_probe_sees_change_rows(engine: Engine) -> None:
    """Guard for the test above: a sync that changes something is seen writing changes."""
    sync_dataset(engine, CITIES, pages_of(cities(10)), now=T0)
    with data_writes(engine, "sync_changes") as writes:
        sync_dataset(engine, CITIES, pages_of([*cities(9), city(10, name="X")]), now=T1)
    assert writes.rows == 1


def test_a_failure_mid_dataset_leaves_no_change_row(engine: Engine) -> None:
    sync_dataset(engine, CITIES, pages_of(cities(3000)), now=T0)
    changed = [city(i, name=f"New {i}") for i in range(1, 3001)]
    before = change_rows(engine)

    with pytest.raises(ConnectionError):
        sync_dataset(engine, CITIES, failing_after(pages_of(changed), 2), batch_size=500, now=T1)

    assert change_rows(engine) == before
    assert by_key(snapshot(engine, "cities"))[1]["name"] == "City 1"


def test_a_refused_mass_delete_leaves_no_change_row(engine: Engine) -> None:
    sync_dataset(engine, CITIES, pages_of(cities(100)), now=T0)
    before = change_rows(engine)
    renamed_survivors = [city(i, name="Renamed") for i in range(1, 11)]  # 90 of 100 gone

    with pytest.raises(MassDeleteRefusedError):
        sync_dataset(engine, CITIES, pages_of(renamed_survivors), now=T1)

    assert change_rows(engine) == before


def test_change_tracking_can_be_switched_off(engine: Engine) -> None:
    sync_dataset(engine, CITIES, pages_of(cities(10)), now=T0, track_changes=False)
    result = sync_dataset(
        engine,
        CITIES,
        pages_of([city(1, name="X")]),
        now=T1,
        track_changes=False,
        allow_mass_delete=True,
    )
    assert (result.updated, result.deleted, result.changes_total) == (1, 9, 0)
    assert count_changes(engine) == 0


def test_the_result_carries_the_first_changes_and_counts_them_all(engine: Engine) -> None:
    sync_dataset(engine, CITIES, pages_of(cities(200)), now=T0)
    renamed = [city(i, name=f"R{i}") for i in range(1, 181)]  # 180 updated, 20 deleted

    result = sync_dataset(engine, CITIES, pages_of(renamed), now=T1)

    assert result.changes_total == 200 == count_changes(engine) - 1
    assert len(result.changes) == SAMPLE_SIZE
    assert [c.key for c in result.changes] == [str(i) for i in range(1, SAMPLE_SIZE + 1)]
    assert result.changes[0].fields == {"name": ["City 1", "R1"]}


def test_retention_prunes_the_change_rows_of_old_runs(engine: Engine) -> None:
    first = sync_dataset(engine, CITIES, pages_of(cities(10)), now=T0)
    second = sync_dataset(engine, CITIES, pages_of([*cities(9), city(10, name="A")]), now=T1)
    third = sync_dataset(
        engine,
        CITIES,
        pages_of([*cities(9), city(10, name="B")]),
        now=T3,
        changes_retention=timedelta(hours=2, minutes=30),  # keeps runs from T0 + 30 min on
    )

    assert {row[0] for row in change_rows(engine)} == {second.run_id, third.run_id}
    assert first.run_id not in {c.run_id for c in load_changes(engine, since=T0)}


def test_without_retention_every_change_row_is_kept(engine: Engine) -> None:
    sync_dataset(engine, CITIES, pages_of(cities(10)), now=T0)
    sync_dataset(engine, CITIES, pages_of([*cities(9), city(10, name="A")]), now=T3)
    assert len(change_rows(engine)) == 2


def test_load_changes_by_run_by_date_and_latest_per_dataset(engine: Engine) -> None:
    first = sync_dataset(engine, CITIES, pages_of(cities(5)), now=T0)
    second = sync_dataset(engine, CITIES, pages_of([*cities(4), city(5, name="A")]), now=T1)
    sync_dataset(engine, CITIES, pages_of([*cities(4), city(5, name="A")]), now=T2)  # no change
    countries = sync_dataset(engine, COUNTRIES, [[country("DE")]], now=T2)

    latest = load_changes(engine)
    assert [(c.run_id, c.key) for c in latest] == [(second.run_id, "5"), (countries.run_id, None)]
    assert latest[0].fields == {"name": ["City 5", "A"]}
    assert latest[0].at == T1
    assert [c.kind for c in load_changes(engine, run_id=first.run_id)] == ["loaded"]
    assert [c.run_id for c in load_changes(engine, since=T1)] == [second.run_id, countries.run_id]
    assert [c.run_id for c in load_changes(engine, dataset=CITIES, since=T1)] == [second.run_id]
    assert [c.run_id for c in load_changes(engine, dataset=COUNTRIES)] == [countries.run_id]
    assert len(load_changes(engine, since=T0, limit=1)) == 1


def test_a_new_field_is_recorded_once_and_its_data_kept(engine: Engine) -> None:
    sync_dataset(engine, COUNTRIES, [[country("DE"), country("FR")]], now=T0)
    drifted = [[country("DE", sandboxNote="note DE"), country("FR", sandboxNote="note FR")]]

    first = sync_dataset(engine, COUNTRIES, drifted, now=T1)
    again = sync_dataset(
        engine,
        COUNTRIES,
        [[country("DE", sandboxNote="changed"), country("FR", sandboxNote="note FR")]],
        now=T2,
    )

    assert first.new_fields == (("sandboxNote", "DE"),)
    assert again.new_fields == ()
    [seen] = schema_drift(engine)
    assert (seen.dataset, seen.field, seen.first_run_id, seen.sample_key) == (
        "countries",
        "sandboxNote",
        first.run_id,
        "DE",
    )
    assert seen.first_seen_at == T1
    rows = by_key(snapshot(engine, "countries"), "code")
    assert rows["DE"]["extra"] == {"sandboxNote": "changed"}
    assert rows["FR"]["extra"] == {"sandboxNote": "note FR"}


def test_a_new_field_is_logged_as_a_warning_once(
    engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    drifted = [[country("DE", sandboxNote="n")]]
    with caplog.at_level("WARNING", logger="storage.sync"):
        sync_dataset(engine, COUNTRIES, drifted, now=T0)
        sync_dataset(engine, COUNTRIES, [[country("DE", sandboxNote="m")]], now=T1)
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert warnings == [
        "countries: the partner sends a field the contract does not list: 'sandboxNote' "
        "(e.g. code DE); kept in the rows' extra"
    ]


def test_a_rolled_back_run_does_not_record_its_new_field(engine: Engine) -> None:
    sync_dataset(engine, CITIES, pages_of(cities(3000)), now=T0)
    drifted = [city(i, note="x") for i in range(1, 3001)]
    with pytest.raises(ConnectionError):
        sync_dataset(engine, CITIES, failing_after(pages_of(drifted), 2), batch_size=500)
    assert schema_drift(engine) == []
    assert sync_dataset(engine, CITIES, pages_of(drifted), now=T1).new_fields == (("note", "1"),)
