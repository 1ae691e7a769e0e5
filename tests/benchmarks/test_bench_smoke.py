"""The benchmark harness at tiny sizes: every figure present, every number sane.

Timings are never asserted (the numbers of a smoke run mean nothing); the Prefect
orchestration figure is left out here because `prefect server start` alone takes longer
than the whole rest (`make bench-smoke` runs it too).
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from benchmarks._report import ORDER
from benchmarks.run import SMOKE, main, run_all


def test_smoke_run_has_every_figure_with_sane_numbers() -> None:
    figures, profile = run_all(SMOKE, skip=("orchestration",))
    assert [f.name for f in figures] == list(ORDER)
    ran = {f.name: f for f in figures if not f.skipped}
    assert set(ran) == set(ORDER) - {"orchestration"}
    for figure in ran.values():
        assert math.isfinite(figure.ours) and figure.ours > 0, figure
        assert math.isfinite(figure.baseline) and figure.baseline > 0, figure
        assert math.isfinite(figure.value) and figure.value > 0, figure
    # The memory figure reports peak RSS in MiB: a Python process is tens of MiB at least.
    assert 20 < ran["memory"].ours < 4096
    assert profile is not None and "## Profile:" in profile


def test_main_prints_and_writes_the_table(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "RESULTS.md"
    status = main(
        [
            "--smoke",
            "--skip",
            "orchestration",
            "--skip",
            "memory",
            "--no-profile",
            "--out",
            str(out),
        ]
    )
    assert status == 0
    printed = capsys.readouterr().out
    written = out.read_text()
    for name in ORDER:
        assert f"| {name} |" in printed
        assert f"| {name} |" in written
    assert "CPU:" in written and "Python:" in written and "date:" in written
