"""`sync_dataset`: what lands in the table, what does not, and what a run records."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import Engine, select, text

from storage import (
    DATASET_TABLES,
    SyncResult,
    SyncRun,
    dataset_counts,
    load_etags,
    recent_runs,
    sync_dataset,
)
from storage._canonical import content_hash
from storage.errors import InvalidItemError, MassDeleteRefusedError, StorageError

from .data import (
    CITIES,
    COUNTRIES,
    T0,
    T1,
    T2,
    T3,
    Read,
    by_key,
    cities,
    city,
    country,
    data_writes,
    failing_after,
    pages_of,
    snapshot,
)


def test_first_sync_inserts_every_row(engine: Engine) -> None:
    items = cities(2500)
    result = sync_dataset(engine, CITIES, pages_of(items), now=T0)

    assert (result.status, result.inserted, result.updated, result.unchanged, result.deleted) == (
        "succeeded",
        2500,
        0,
        0,
        0,
    )
    rows = by_key(snapshot(engine, "cities"))
    assert len(rows) == 2500
    row = rows[7]
    assert row["name"] == "City 7"
    assert row["country_code"] == "DE"
    assert row["population"] == 7000
    assert row["latitude"] == pytest.approx(50.007)
    assert row["timezone"] == "Europe/Berlin"
    assert row["extra"] == {}
    assert row["first_seen_at"] == row["updated_at"] == T0
    assert row["first_seen_at"].tzinfo is not None
    assert row["deleted_at"] is None
    assert row["last_seen_run_id"] == result.run_id
    assert row["content_hash"] == content_hash(city(7))


def test_changed_rows_are_updated_and_keep_first_seen(engine: Engine) -> None:
    sync_dataset(engine, CITIES, pages_of(cities(100)), now=T0)
    changed = cities(100)
    changed[9] = city(10, name="Renamed", population=1)
    changed[19] = city(20, latitude=-1.25)

    result = sync_dataset(engine, CITIES, pages_of(changed), now=T1)

    assert (result.inserted, result.updated, result.unchanged, result.deleted) == (0, 2, 98, 0)
    rows = by_key(snapshot(engine, "cities"))
    assert rows[10]["name"] == "Renamed"
    assert rows[10]["population"] == 1
    assert rows[20]["latitude"] == -1.25
    for key in (10, 20):
        assert rows[key]["first_seen_at"] == T0
        assert rows[key]["updated_at"] == T1
        assert rows[key]["last_seen_run_id"] == result.run_id
        assert rows[key]["content_hash"] == content_hash(changed[key - 1])
    assert rows[11]["updated_at"] == T0


#: Text that a streamed write (PostgreSQL's COPY) must escape: its delimiters, its NULL
#: marker and its escape character, beside quotes and characters outside ASCII.
AWKWARD_TEXT = ["tab\there", "new\nline", "back\\slash", "\\N", "", 'it\'s "quoted"', "Zürich 東京"]


def test_awkward_text_and_values_arrive_exactly(engine: Engine) -> None:
    items = [
        city(i + 1, name=name, timezone=name[::-1], population=-i)
        for i, name in enumerate(AWKWARD_TEXT)
    ]
    items.append(city(99, name="\\N", latitude=1e-300, longitude=-0.0, flag={"a\tb": [None]}))
    sync_dataset(engine, CITIES, pages_of(items), now=T0)
    changed = [dict(item, name=item["name"] + "\r\n") for item in items]

    result = sync_dataset(engine, CITIES, pages_of(changed), now=T1)

    assert result.updated == len(items)
    rows = by_key(snapshot(engine, "cities"))
    for item in changed:
        row = rows[item["id"]]
        assert (row["name"], row["timezone"], row["population"]) == (
            item["name"],
            item["timezone"],
            item["population"],
        )
        assert (row["latitude"], row["longitude"]) == (item["latitude"], item["longitude"])
        assert row["content_hash"] == content_hash(item)
    assert rows[99]["extra"] == {"flag": {"a\tb": [None]}}


def test_unchanged_resync_writes_no_data_row(engine: Engine) -> None:
    items = cities(3000)
    first = sync_dataset(engine, CITIES, pages_of(items), now=T0)
    before = snapshot(engine, "cities")

    with data_writes(engine, "cities") as writes:
        result = sync_dataset(engine, CITIES, pages_of(items), now=T1)

    assert (result.inserted, result.updated, result.unchanged, result.deleted) == (0, 0, 3000, 0)
    assert writes.statements == []
    after = snapshot(engine, "cities")
    assert after == before
    assert {row["last_seen_run_id"] for row in after} == {first.run_id}


def test_the_write_probe_sees_data_writes(engine: Engine) -> None:
    """The probe the no-write test relies on does see the upsert and the sweep."""
    sync_dataset(engine, CITIES, pages_of(cities(10)), now=T0)
    with data_writes(engine, "cities") as writes:
        sync_dataset(engine, CITIES, [[city(1, name="New"), *cities(8, start=2)]], now=T1)
    assert len(writes.statements) == 2  # one upsert batch, one sweep
    assert writes.rows == 2


def test_rows_missing_from_the_source_are_marked_deleted_not_removed(engine: Engine) -> None:
    sync_dataset(engine, CITIES, pages_of(cities(10)), now=T0)

    result = sync_dataset(engine, CITIES, [cities(8)], now=T1)

    assert (result.inserted, result.updated, result.unchanged, result.deleted) == (0, 0, 8, 2)
    rows = by_key(snapshot(engine, "cities"))
    assert len(rows) == 10
    assert rows[9]["deleted_at"] == rows[10]["deleted_at"] == T1
    assert rows[9]["updated_at"] == T1
    assert rows[9]["name"] == "City 9"
    assert rows[8]["deleted_at"] is None
    assert dataset_counts(engine)["cities"] == (8, 2)


def test_a_row_coming_back_clears_deleted_at(engine: Engine) -> None:
    sync_dataset(engine, CITIES, [cities(10)], now=T0)
    sync_dataset(engine, CITIES, [cities(9)], now=T1)

    result = sync_dataset(engine, CITIES, [cities(10)], now=T2)

    assert (result.inserted, result.updated, result.unchanged, result.deleted) == (0, 1, 9, 0)
    row = by_key(snapshot(engine, "cities"))[10]
    assert row["deleted_at"] is None
    assert row["updated_at"] == T2
    assert row["first_seen_at"] == T0
    assert row["last_seen_run_id"] == result.run_id
    assert dataset_counts(engine)["cities"] == (10, 0)


def test_fields_the_contract_does_not_list_land_in_extra(engine: Engine) -> None:
    items = [
        city(1, elevation=34, names={"de": "Köln", "en": "Cologne"}),
        city(2),
    ]
    sync_dataset(engine, CITIES, [items], now=T0)

    rows = by_key(snapshot(engine, "cities"))
    assert rows[1]["extra"] == {"elevation": 34, "names": {"de": "Köln", "en": "Cologne"}}
    assert rows[2]["extra"] == {}

    # A change in an extra field alone is a change.
    items[0] = city(1, elevation=35, names={"de": "Köln", "en": "Cologne"})
    result = sync_dataset(engine, CITIES, [items], now=T1)
    assert (result.updated, result.unchanged) == (1, 1)
    assert by_key(snapshot(engine, "cities"))[1]["extra"]["elevation"] == 35


def test_optional_fields_may_be_absent(engine: Engine) -> None:
    without = country("FR")
    del without["officialName"]
    sync_dataset(engine, COUNTRIES, [[country("DE"), without]], now=T0)

    rows = by_key(snapshot(engine, "countries"), "code")
    assert rows["DE"]["official_name"] == "Republic of DE"
    assert rows["FR"]["official_name"] is None
    assert rows["FR"]["extra"] == {}


@pytest.mark.parametrize(
    ("dataset", "items", "column", "expected"),
    [
        ("currencies", [{"code": "EUR", "numeric": "978", "name": "Euro"}], "name", "Euro"),
        ("languages", [{"code": "deu", "alpha2": "de", "name": "German"}], "alpha2", "de"),
        ("languages", [{"code": "gsw", "name": "Swiss German"}], "alpha2", None),
    ],
)
def test_every_dataset_is_stored(
    engine: Engine, dataset: str, items: list[dict[str, Any]], column: str, expected: Any
) -> None:
    result = sync_dataset(engine, DATASET_TABLES[dataset], [items], now=T0)
    assert result.inserted == 1
    (row,) = snapshot(engine, dataset)
    assert row[column] == expected


def test_a_failure_mid_dataset_leaves_the_previous_state_exactly(engine: Engine) -> None:
    first = sync_dataset(
        engine, CITIES, Read(pages_of(cities(5000)), etags={"0/1000": '"v1"'}), now=T0
    )
    before = snapshot(engine, "cities")
    changed = [city(i, name=f"New {i}") for i in range(1, 6001)]

    with pytest.raises(ConnectionError, match="connection reset"):
        sync_dataset(engine, CITIES, failing_after(pages_of(changed), 3), batch_size=500, now=T1)

    assert snapshot(engine, "cities") == before
    assert load_etags(engine, CITIES) == {"0/1000": '"v1"'}
    failed, succeeded = recent_runs(engine, 2)
    assert succeeded.id == first.run_id
    assert failed.status == "failed"
    assert failed.error == "ConnectionError: connection reset by peer after page 3"
    assert failed.finished_at == T1
    assert (failed.inserted, failed.updated, failed.deleted) == (0, 0, 0)
    with engine.connect() as conn:
        state = conn.execute(text("SELECT last_success_run_id FROM dataset_state")).one()
    assert state[0] == first.run_id


def test_empty_source_is_refused_even_when_the_fraction_would_allow_it(engine: Engine) -> None:
    sync_dataset(engine, CITIES, [cities(10)], now=T0)
    before = snapshot(engine, "cities")

    with pytest.raises(MassDeleteRefusedError) as raised:
        sync_dataset(engine, CITIES, [], max_delete_fraction=1.0, now=T1)

    message = str(raised.value)
    assert "no items" in message
    assert "10" in message
    assert "--allow-mass-delete" in message
    assert "\n" not in message
    assert snapshot(engine, "cities") == before
    assert recent_runs(engine, 1)[0].status == "failed"


def test_empty_source_with_override_marks_everything_deleted(engine: Engine) -> None:
    sync_dataset(engine, CITIES, [cities(10)], now=T0)

    result = sync_dataset(engine, CITIES, [[]], allow_mass_delete=True, now=T1)

    assert result.deleted == 10
    assert dataset_counts(engine)["cities"] == (0, 10)


def test_empty_source_into_an_empty_table_is_fine(engine: Engine) -> None:
    result = sync_dataset(engine, CITIES, [], now=T0)
    assert (result.status, result.inserted, result.deleted) == ("succeeded", 0, 0)


def test_deleting_more_than_the_fraction_is_refused(engine: Engine) -> None:
    sync_dataset(engine, CITIES, [cities(100)], now=T0)
    before = snapshot(engine, "cities")
    survivors = [city(i, name="changed too") for i in range(1, 41)]  # 60 of 100 would go

    with pytest.raises(MassDeleteRefusedError) as raised:
        sync_dataset(engine, CITIES, [survivors], max_delete_fraction=0.5, now=T1)

    error = raised.value
    assert (error.would_delete, error.live, error.limit) == (60, 100, 0.5)
    assert str(error) == (
        "refusing to mark 60 of 100 live cities rows deleted (60.0%, limit 50%); "
        "rerun with --allow-mass-delete if the source really dropped them"
    )
    # The changed names were written before the sweep refused: they must be gone too.
    assert snapshot(engine, "cities") == before


def test_deleting_exactly_the_fraction_is_allowed(engine: Engine) -> None:
    sync_dataset(engine, CITIES, [cities(100)], now=T0)
    result = sync_dataset(engine, CITIES, [cities(50)], max_delete_fraction=0.5, now=T1)
    assert result.deleted == 50


def test_mass_delete_override(engine: Engine) -> None:
    sync_dataset(engine, CITIES, [cities(100)], now=T0)
    result = sync_dataset(engine, CITIES, [cities(10)], allow_mass_delete=True, now=T1)
    assert result.deleted == 90
    assert dataset_counts(engine)["cities"] == (10, 90)


@pytest.mark.parametrize("batch_size", [1000, 3])
def test_a_duplicate_key_fails_the_whole_dataset(engine: Engine, batch_size: int) -> None:
    sync_dataset(engine, COUNTRIES, [[country("DE"), country("FR")]], now=T0)
    before = snapshot(engine, "countries")
    pages = [
        [country("AT"), country("DE", name="Changed")],
        [country("BE"), country("CH")],
        [country("DK"), country("AT")],
    ]

    with pytest.raises(InvalidItemError, match=r"^duplicate key 'AT' in countries response"):
        sync_dataset(engine, COUNTRIES, pages, batch_size=batch_size, now=T1)

    assert snapshot(engine, "countries") == before
    assert recent_runs(engine, 1)[0].error == (
        "InvalidItemError: duplicate key 'AT' in countries response; the partner sent the "
        "same row twice, nothing was changed"
    )


def test_a_duplicate_key_within_one_page(engine: Engine) -> None:
    with pytest.raises(InvalidItemError, match="duplicate key 5 in cities response"):
        sync_dataset(engine, CITIES, [[city(4), city(5), city(5)]], now=T0)
    assert snapshot(engine, "cities") == []


@pytest.mark.parametrize(
    ("item", "message"),
    [
        ({"name": "no id"}, "a cities item has no 'id' field"),
        (city(1) | {"id": "1"}, "key '1' of type str, expected a non-empty int"),
        (city(1) | {"id": True}, "key True of type bool"),
        ({k: v for k, v in city(1).items() if k != "timezone"}, "cities item 1 lacks timezone"),
    ],
)
def test_an_invalid_item_fails_cleanly(engine: Engine, item: dict[str, Any], message: str) -> None:
    sync_dataset(engine, CITIES, [cities(3, start=10)], now=T0)
    before = snapshot(engine, "cities")

    with pytest.raises(InvalidItemError, match=message):
        sync_dataset(engine, CITIES, [[*cities(3, start=10), item]], now=T1)

    assert snapshot(engine, "cities") == before


def test_not_modified_writes_nothing_and_keeps_state(engine: Engine) -> None:
    first = sync_dataset(engine, CITIES, Read([cities(20)], etags={"0/1000": '"a"'}), now=T0)
    before = snapshot(engine, "cities")

    with data_writes(engine, "cities") as writes:
        result = sync_dataset(
            engine, CITIES, Read([], etags={"0/1000": '"a"'}, not_modified=True), now=T1
        )

    assert result.status == "not_modified"
    assert (result.inserted, result.updated, result.unchanged, result.deleted) == (0, 0, 0, 0)
    assert writes.statements == []
    assert snapshot(engine, "cities") == before  # no sweep of the 20 rows either
    assert load_etags(engine, CITIES) == {"0/1000": '"a"'}
    run = recent_runs(engine, 1)[0]
    assert (run.id, run.status) == (result.run_id, "not_modified")
    assert result.run_id != first.run_id


def test_not_modified_with_items_is_refused(engine: Engine) -> None:
    sync_dataset(engine, CITIES, [cities(5)], now=T0)
    before = snapshot(engine, "cities")
    with pytest.raises(StorageError, match="says not modified but delivered 1 items"):
        sync_dataset(engine, CITIES, Read([[city(1, name="x")]], not_modified=True), now=T1)
    assert snapshot(engine, "cities") == before


def test_timestamps_default_to_now_in_utc(engine: Engine) -> None:
    before = datetime.now(UTC)
    result = sync_dataset(engine, CITIES, [cities(1)])
    after = datetime.now(UTC)
    (row,) = snapshot(engine, "cities")
    assert before <= row["first_seen_at"] <= after
    assert result.seconds >= 0


def test_bad_arguments_are_refused_before_touching_the_database(engine: Engine) -> None:
    with pytest.raises(TypeError, match=r"pass the dataset's DatasetTable .* not 'cities'"):
        sync_dataset(engine, "cities", [])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="max_delete_fraction"):
        sync_dataset(engine, CITIES, [], max_delete_fraction=1.5)
    with pytest.raises(ValueError, match="batch_size"):
        sync_dataset(engine, CITIES, [], batch_size=0)
    with pytest.raises(ValueError, match="timezone-aware"):
        sync_dataset(engine, CITIES, [], now=datetime(2026, 1, 1))  # noqa: DTZ001
    assert recent_runs(engine) == []


def test_the_result_names_the_dataset_its_run_and_what_it_wrote(engine: Engine) -> None:
    result = sync_dataset(engine, CITIES, [cities(2)], now=T3)
    assert isinstance(result, SyncResult)
    assert (result.dataset, result.status, result.inserted, result.error) == (
        "cities",
        "succeeded",
        2,
        None,
    )
    with engine.connect() as conn:
        run = conn.execute(select(SyncRun.__table__)).mappings().one()  # type: ignore[attr-defined]
    assert (run["id"], run["dataset"], run["inserted"]) == (result.run_id, "cities", 2)
    # The rows are keyed by the items' `id` and point at the run that wrote them.
    written = {row["id"]: row["last_seen_run_id"] for row in snapshot(engine, "cities")}
    assert written == {1: result.run_id, 2: result.run_id}


def test_a_duplicate_key_in_an_initial_load_across_batches(engine: Engine) -> None:
    """The first load of an empty table takes a shorter path; it catches duplicates too."""
    pages = [cities(5), cities(5, start=6), [city(7, name="again")]]
    with pytest.raises(InvalidItemError, match=r"^duplicate key 7 in cities response"):
        sync_dataset(engine, CITIES, pages, batch_size=4, now=T0)
    assert snapshot(engine, "cities") == []
    assert recent_runs(engine, 1)[0].status == "failed"


def test_a_table_with_only_deleted_rows_is_not_an_initial_load(engine: Engine) -> None:
    sync_dataset(engine, CITIES, [cities(3)], now=T0)
    sync_dataset(engine, CITIES, [[]], allow_mass_delete=True, now=T1)
    assert dataset_counts(engine)["cities"] == (0, 3)

    result = sync_dataset(engine, CITIES, [cities(2, start=3)], now=T2)

    assert (result.inserted, result.updated, result.deleted) == (1, 1, 0)
    assert dataset_counts(engine)["cities"] == (2, 2)
