"""`benchmarks._processes.run_measured`: the peak memory a child reports is its own."""

from __future__ import annotations

from pathlib import Path

from benchmarks._processes import child_env, run_measured

MIB = 1024


def test_a_childs_peak_is_its_own_not_its_parents(tmp_path: Path) -> None:
    # The parent holds 300 MiB while it spawns: `ru_maxrss` would report at least that.
    ballast = bytearray(300 * MIB * MIB)
    ballast[::4096] = b"x" * len(ballast[::4096])
    small = run_measured(["-c", "pass"], env=child_env({}), cwd=str(tmp_path))
    big = run_measured(
        ["-c", "b = bytearray(200 * 1024 * 1024); b[::4096] = b'x' * len(b[::4096])"],
        env=child_env({}),
        cwd=str(tmp_path),
    )
    del ballast

    assert small.peak_kib < 100 * MIB, small
    assert 200 * MIB < big.peak_kib < 300 * MIB, big
