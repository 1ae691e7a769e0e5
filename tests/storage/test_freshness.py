"""`dataset_freshness`: the last success and the newest run per dataset, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError

from storage import DATASET_TABLES, dataset_freshness, sync_dataset

from .data import CITIES, COUNTRIES, T0, T1, T2, cities, city


def test_a_new_database_has_no_success_and_no_run_for_any_dataset(engine: Engine) -> None:
    states = dataset_freshness(engine)
    assert [s.dataset for s in states] == list(DATASET_TABLES)
    assert all(s.last_success_at is None and s.last_status is None for s in states)


def test_the_last_success_survives_a_later_failure_which_is_the_last_run(engine: Engine) -> None:
    sync_dataset(engine, CITIES, [cities(3)], now=T0)
    sync_dataset(engine, CITIES, [cities(3)], now=T1)
    with pytest.raises(IntegrityError):  # NOT NULL column: the database refuses
        sync_dataset(engine, CITIES, [[city(1, name=None)]], now=T2)

    (state,) = dataset_freshness(engine, [CITIES])
    assert state.last_success_at == T1
    assert state.last_status == "failed"
    assert state.last_error is not None and "\n" not in state.last_error
    assert state.last_run_at == T2


def test_each_dataset_is_judged_on_its_own_rows(engine: Engine) -> None:
    sync_dataset(engine, CITIES, [cities(2)], now=T0)

    states = {s.dataset: s for s in dataset_freshness(engine, [COUNTRIES, CITIES])}
    assert list(states) == ["countries", "cities"]
    assert states["cities"].last_success_at == T0
    assert states["cities"].last_status == "succeeded"
    assert states["countries"].last_success_at is None
    assert states["countries"].last_status is None
