"""`DATASET_TABLES`: every dataset of the registry, with the table and fields derived from it."""

from __future__ import annotations

from typing import NotRequired

import pytest
from typing_extensions import TypedDict

from partner_api.datasets import DATASETS, Dataset
from storage import DATASET_TABLES, City, Country, DatasetTable


def test_every_dataset_of_the_registry_has_its_table_in_order() -> None:
    assert list(DATASET_TABLES) == list(DATASETS)
    for name, table in DATASET_TABLES.items():
        assert table.dataset is DATASETS[name]
        assert table.core.name == name


def test_wire_fields_map_to_snake_case_columns_and_optional_ones_are_not_required() -> None:
    countries = DATASET_TABLES["countries"]
    assert countries.model is Country
    assert countries.fields["officialName"] == "official_name"
    assert countries.required == {"code", "alpha3", "numeric", "name"}
    assert countries.key_type is str
    cities = DATASET_TABLES["cities"]
    assert (cities.key, cities.key_type, cities.fields["countryCode"]) == (
        "id",
        int,
        "country_code",
    )
    assert cities.required == set(cities.fields)


class _PlanetItem(TypedDict):
    id: int
    name: str
    ringCount: NotRequired[int]


def test_a_field_without_a_column_fails_at_import_time() -> None:
    planets = Dataset("cities", key="id", item=_PlanetItem)
    with pytest.raises(RuntimeError, match="table cities: no column 'ring_count'"):
        DatasetTable(planets, City)


def test_a_key_that_is_not_the_primary_key_fails_at_import_time() -> None:
    by_name = Dataset("countries", key="name", item=DATASETS["countries"].item)
    with pytest.raises(RuntimeError, match="the key 'name' is not its primary key"):
        DatasetTable(by_name, Country)
