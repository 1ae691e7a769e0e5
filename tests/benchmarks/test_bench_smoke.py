"""The benchmark harness at tiny sizes: every row present, every number sane.

Timings are never asserted (the numbers of a smoke run mean nothing). The dlt rows run
when the `bench` extra is installed and otherwise say so; the change-tracking row is a
hook with no number until its work fills it.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from benchmarks._change_tracking import CHANGE_TRACKING
from benchmarks._cli_figures import DLT_FIRST, DLT_RESYNC, START, dlt_installed
from benchmarks._report import ORDER, README_END, README_START, findings_block, rewrite_findings
from benchmarks._timing import Figure
from benchmarks.run import SMOKE, main, run_all


def test_smoke_run_has_every_figure_with_sane_numbers() -> None:
    figures, profile = run_all(SMOKE, skip=("latency",))
    assert [f.name for f in figures] == list(ORDER)
    by_name = {f.name: f for f in figures}
    assert by_name[CHANGE_TRACKING].kind == "ratio"
    expected_skips = {DLT_FIRST, DLT_RESYNC} if dlt_installed() else set()
    for name in expected_skips:
        assert "bench" in by_name[name].skipped
    ran = {name: f for name, f in by_name.items() if not f.skipped}
    assert set(ran) == set(ORDER) - expected_skips - {
        "first load at 20 ms per request, vs the sequential raw floor"
    }
    for figure in ran.values():
        assert math.isfinite(figure.ours) and figure.ours > 0, figure
        assert math.isfinite(figure.baseline) and figure.baseline > 0, figure
        assert math.isfinite(figure.value) and figure.value > 0, figure
    # The start-up row is seconds from spawn to the first request: less than the whole run.
    assert (
        0
        < ran[START].ours
        < ran["unchanged re-sync (CLI process, start included) vs the floor's full copy"].ours
    )
    assert profile is not None and "## Profile:" in profile


def test_main_prints_writes_and_exits_zero_under_smoke(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "RESULTS.md"
    status = main(
        [
            "--smoke",
            "--skip",
            "memory",
            "--skip",
            "dlt",
            "--skip",
            "latency",
            "--no-profile",
            "--out",
            str(out),
        ]
    )
    assert status == 0  # targets are not judged at smoke sizes
    printed = capsys.readouterr().out
    written = out.read_text()
    for name in ORDER:
        assert f"| {name} |" in printed
        assert f"| {name} |" in written
    assert "CPU:" in written and "Python:" in written and "load average" in written
    assert "/work/" not in written and str(Path.home()) not in written


def test_a_missed_target_makes_a_full_run_exit_non_zero(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import benchmarks.run as run

    met = Figure(ORDER[0], 1.0, 2.0, "s", 1.0)
    missed = Figure(ORDER[1], 3.0, 2.0, "s", 0.4)
    monkeypatch.setattr(run, "run_all", lambda *a, **k: ([met, missed], None))
    monkeypatch.setattr(run, "check_sane", lambda figures: [])
    assert run.main(["--out", str(tmp_path / "R.md")]) == 1
    monkeypatch.setattr(run, "run_all", lambda *a, **k: ([met], None))
    assert run.main(["--out", str(tmp_path / "R.md")]) == 0


def test_the_readme_findings_block_is_rewritten_between_its_markers(tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    readme.write_text(f"# Benchmarks\n\nbefore\n\n{README_START}\nold table\n{README_END}\nafter\n")
    figure = Figure(ORDER[0], 1.0, 2.0, "s", 1.0)
    rewrite_findings(
        readme, findings_block([figure], load_before="1.00, 1.00, 1.00", date="2026-01-01")
    )
    text = readme.read_text()
    assert "old table" not in text and "before" in text and text.endswith("after\n")
    assert f"| {ORDER[0]} |" in text and "every target holds" in text


def test_the_report_cuts_this_machines_paths() -> None:
    import sys

    from benchmarks._report import without_local_paths
    from benchmarks.run import ROOT_HINT

    text = without_local_paths(f"{ROOT_HINT}/storage/writer.py:3 {sys.prefix} {Path.home()}/x")
    assert str(ROOT_HINT) not in text and str(Path.home()) not in text
    assert "storage/writer.py:3" in text
