"""The datasets: shapes, determinism, and what data version 2 changes."""

from __future__ import annotations

import re
from typing import Any

import pytest

from partner_api.datasets import DATASETS
from sandbox import build_items
from sandbox._data import Catalog


def _by_key(dataset: str, items: list[dict[str, Any]]) -> dict[Any, dict[str, Any]]:
    return {item[DATASETS[dataset].key]: item for item in items}


def test_code_datasets_have_the_contract_fields() -> None:
    countries = build_items("countries")
    assert 240 <= len(countries) <= 260
    for country in countries:
        assert set(country) <= {"code", "alpha3", "numeric", "name", "officialName"}
        assert re.fullmatch(r"[A-Z]{2}", country["code"])
    assert any("officialName" in c for c in countries)
    assert any("officialName" not in c for c in countries)
    currencies = build_items("currencies")
    assert 170 <= len(currencies) <= 190
    assert all(set(c) == {"code", "numeric", "name"} for c in currencies)
    languages = build_items("languages")
    assert len(languages) > 7000
    assert all(set(lang) <= {"code", "alpha2", "name"} for lang in languages)
    assert any("alpha2" in lang for lang in languages)


def test_cities_are_generated_deterministically_from_seed_and_id() -> None:
    cities = build_items("cities", cities=300, seed=1)
    assert [c["id"] for c in cities] == list(range(1, 301))
    assert cities == build_items("cities", cities=300, seed=1)
    assert cities != build_items("cities", cities=300, seed=2)
    # a city does not depend on how many there are
    assert build_items("cities", cities=10, seed=1) == cities[:10]
    countries = {c["code"] for c in build_items("countries")}
    for city in cities:
        assert set(city) == {
            "id", "name", "countryCode", "population", "latitude", "longitude", "timezone",
        }  # fmt: skip
        assert city["countryCode"] in countries
        assert -90 <= city["latitude"] <= 90 and -180 <= city["longitude"] <= 180
        assert city["population"] >= 1000


def test_a_million_cities_are_served_without_building_them_all() -> None:
    view = Catalog(cities=1_000_000).view("cities", 1)
    assert view.total == 1_000_000
    last = view.slice(999_000, 1_000_000)
    assert [c["id"] for c in last] == list(range(999_001, 1_000_001))


@pytest.mark.parametrize("dataset", list(DATASETS))
def test_version_2_renames_removes_and_adds_about_one_percent(dataset: str) -> None:
    v1 = _by_key(dataset, build_items(dataset, cities=5_000, version=1))
    v2 = _by_key(dataset, build_items(dataset, cities=5_000, version=2))
    gone = v1.keys() - v2.keys()
    new = v2.keys() - v1.keys()
    kept = v1.keys() & v2.keys()
    renamed = {k for k in kept if v1[k]["name"] != v2[k]["name"]}
    n = len(v1)
    for changed in (gone, new, renamed):
        assert 1 <= len(changed) <= max(2, n * 0.02), (dataset, len(changed), n)
    assert len(gone) < n / 2
    # nothing else changes in the rows that stay
    for k in kept:
        assert {**v1[k], "name": None} == {**v2[k], "name": None}
    if dataset == "cities":
        assert min(new) > max(v1)
    else:
        pattern = {"countries": r"X[A-Z]", "currencies": r"XQ[A-Z]", "languages": r"q[a-t][a-z]"}
        assert all(re.fullmatch(pattern[dataset], code) for code in new)
        if dataset == "countries":
            assert {v2[k]["alpha3"] for k in new}.isdisjoint(c["alpha3"] for c in v1.values())


def test_fingerprints_change_iff_the_data_changes() -> None:
    catalog = Catalog(cities=100)
    for dataset in DATASETS:
        one, two = catalog.view(dataset, 1), catalog.view(dataset, 2)
        assert one.fingerprint != two.fingerprint
        assert Catalog(cities=100).view(dataset, 1).fingerprint == one.fingerprint
    assert (
        Catalog(cities=101).view("cities", 1).fingerprint != catalog.view("cities", 1).fingerprint
    )
    assert (
        Catalog(cities=101).view("countries", 1).fingerprint
        == catalog.view("countries", 1).fingerprint
    )
