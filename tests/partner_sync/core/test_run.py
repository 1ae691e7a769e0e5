"""The plain sync (no Prefect) from the sandbox into a real SQLite file."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import sqlalchemy as sa

from partner_sync.core.run import run_sync
from partner_sync.core.settings import Settings
from sandbox import AUTH_ONLY_API_KEY, AUTH_ONLY_API_SECRET, build_items
from tests.conftest import TEST_CITIES

KEYS = {"countries": "code", "currencies": "code", "languages": "code", "cities": "id"}


def live_keys(database_url: str, dataset: str) -> set[Any]:
    engine = sa.create_engine(database_url)
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text(f"SELECT {KEYS[dataset]} FROM {dataset} WHERE deleted_at IS NULL")
        )
        keys = {r[0] for r in rows}
    engine.dispose()
    return keys


def test_first_sync_inserts_every_dataset_then_a_resync_is_not_modified(
    settings: Settings,
) -> None:
    first = {o.dataset: o for o in run_sync(settings).outcomes}
    assert set(first) == set(KEYS)
    for name, outcome in first.items():
        expected = build_items(name, cities=TEST_CITIES)
        assert outcome.status == "succeeded", outcome.error
        assert outcome.result is not None and outcome.result.inserted == len(expected)
        assert live_keys(settings.database_url, name) == {i[KEYS[name]] for i in expected}
    second = run_sync(settings).outcomes
    assert {o.status for o in second} == {"not_modified"}
    assert all(
        o.result and o.result.inserted == o.result.updated == o.result.deleted == 0 for o in second
    )


def test_a_changed_source_updates_inserts_and_marks_deleted(
    settings: Settings, sandbox_control: Callable[..., Any]
) -> None:
    run_sync(settings, ["countries"])
    sandbox_control("data-version", {"version": 2})
    (outcome,) = run_sync(settings, ["countries"]).outcomes
    assert outcome.result is not None
    counts = outcome.result
    v1 = {i["code"]: i for i in build_items("countries", cities=TEST_CITIES, version=1)}
    v2 = {i["code"]: i for i in build_items("countries", cities=TEST_CITIES, version=2)}
    assert counts.inserted == len(v2.keys() - v1.keys())
    assert counts.deleted == len(v1.keys() - v2.keys())
    assert counts.updated == sum(1 for k in v1.keys() & v2.keys() if v1[k] != v2[k])
    assert live_keys(settings.database_url, "countries") == set(v2)


def test_a_key_without_the_scope_fails_every_dataset_in_one_line(settings: Settings) -> None:
    settings.api_key, settings.api_secret = (
        AUTH_ONLY_API_KEY,
        type(settings.api_secret)(AUTH_ONLY_API_SECRET),
    )
    outcomes = run_sync(settings).outcomes
    assert outcomes[0].status == "failed"
    assert "partner:constants:read" in (outcomes[0].error or "")
    assert [o.status for o in outcomes[1:]] == ["skipped"] * 3
