"""The run report's "What changed": the first changes of each dataset, a count of the rest,
and fields the partner started sending, carried in the results (no query of its own)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from partner_sync.core.changes import describe
from partner_sync.core.report import DatasetOutcome, RunReport, report_markdown
from storage import DATASET_TABLES, Change, make_engine, sync_dataset, upgrade_database
from storage.changes import SAMPLE_SIZE


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    engine = make_engine(f"sqlite:///{tmp_path / 'report.db'}")
    upgrade_database(engine)
    yield engine
    engine.dispose()


def currency(code: str, name: str, **extra: str) -> dict[str, str]:
    return {"code": code, "numeric": "001", "name": name, **extra}


def test_the_report_lists_the_first_changes_and_counts_the_rest(engine: Engine) -> None:
    spec = DATASET_TABLES["currencies"]
    codes = [f"C{i:02d}" for i in range(60)]
    sync_dataset(engine, spec, [[currency(c, "Old") for c in codes]])
    result = sync_dataset(
        engine, spec, [[currency(c, "New", note="x" if c == "C00" else "") for c in codes]]
    )
    report = RunReport((DatasetOutcome.written(result, 1.0),), "a fresh login")

    text = report_markdown(report)

    lines = text.splitlines()
    listed = [line for line in lines if line.startswith("- updated ")]
    assert len(listed) == SAMPLE_SIZE
    assert '- updated C00: name: "Old" → "New"; note: null → "x"' in lines
    assert '- updated C01: name: "Old" → "New"; note: null → ""' in lines
    assert f"- … and 10 more: `partner-sync changes --run {result.run_id}`" in lines
    assert "- **new field** `note` (e.g. C00): not in the contract, kept in `extra`" in lines
    assert f"### currencies (run {result.run_id})" in lines


def test_a_first_load_is_one_line_and_an_unchanged_run_none(engine: Engine) -> None:
    spec = DATASET_TABLES["currencies"]
    first = sync_dataset(engine, spec, [[currency("EUR", "Euro")]])
    same = sync_dataset(engine, spec, [[currency("EUR", "Euro")]])
    text = report_markdown(RunReport((DatasetOutcome.written(first, 1.0),), "s"))
    assert "- loaded: first load: 1 row inserted" in text.splitlines()
    assert "What changed" not in report_markdown(
        RunReport((DatasetOutcome.written(same, 1.0),), "s")
    )


def test_a_change_reads_as_one_line() -> None:
    change = Change(7, "cities", "updated", "12", {"population": [1, 2], "name": ["A", None]})
    assert describe(change) == 'updated 12: population: 1 → 2; name: "A" → null'
    assert describe(Change(7, "cities", "deleted", "13")) == "deleted 13"
