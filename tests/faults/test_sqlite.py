"""SQLite faults: the disk fills up, the file system turns read-only, another process locks the file.

The disk is a real one: a 4 MiB tmpfs mounted for the test (the tests run as root, as
`.ci/run` and `make test` do here), filled with a file until 64 KiB are left, so SQLite
meets ENOSPC from the kernel, not from a setting. Read-only is the same tmpfs remounted
`ro` (root ignores `chmod 0444`, a read-only mount it cannot). The lock is a second process
holding `BEGIN EXCLUSIVE` on the file past `PARTNER_LOCK_TIMEOUT`.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.faults.support import Scenario, assert_one_line, run_cli
from tests.support.processes import start_process, stop_process

#: Big enough for a good sync of the test sandbox (about 2 MiB), small enough to fill at once.
DISK_BYTES = 4 * 1024 * 1024
#: What the filler leaves free: less than any dataset's changes need.
LEFT_FREE = 64 * 1024


@contextlib.contextmanager
def small_disk(path: Path) -> Iterator[Path]:
    """A real `DISK_BYTES` tmpfs mounted at `path` for the block."""
    if os.geteuid() != 0:
        pytest.fail("the disk-full and read-only faults mount a tmpfs: run as root", pytrace=False)
    path.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={DISK_BYTES},mode=0755", "tmpfs", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.fail(f"cannot mount a tmpfs at {path}: {done.stderr.strip()}", pytrace=False)
    try:
        yield path
    finally:
        subprocess.run(["umount", "--lazy", str(path)], check=False)


def remount(path: Path, mode: str) -> None:
    """Remount the tmpfs at `path` `ro` or `rw`."""
    subprocess.run(["mount", "-o", f"remount,{mode}", str(path)], check=True)


def test_a_full_disk_fails_each_dataset_in_one_line_and_keeps_the_last_good_sync(
    prepare: Callable[..., Scenario], tmp_path: Path
) -> None:
    with small_disk(tmp_path / "disk") as disk:
        scenario = prepare(f"sqlite:///{disk / 'partner_sync.db'}")
        filler = disk / "filler"
        filler.write_bytes(b"\0" * (shutil.disk_usage(disk).free - LEFT_FREE))

        result = run_cli()

        # A dataset whose few changes still fit may sync; the big one cannot.
        line = assert_one_line(
            result,
            r"failed of 4 datasets: .*cities: SQLite error \(OperationalError\): database or disk is full",
        )
        assert "cities" in line
        scenario.assert_untouched(faulted=("cities",))
        filler.unlink()
        scenario.assert_next_run_completes()


def test_a_read_only_file_system_is_named_in_one_line_and_nothing_changes(
    prepare: Callable[..., Scenario], tmp_path: Path
) -> None:
    with small_disk(tmp_path / "disk") as disk:
        database = disk / "partner_sync.db"
        scenario = prepare(f"sqlite:///{database}")
        scenario.engine.dispose()
        remount(disk, "ro")
        try:
            result = run_cli()
        finally:
            remount(disk, "rw")

        line = assert_one_line(
            result, r"^the SQLite database \S+ cannot be opened for writing \(.+\): check"
        )
        assert str(database) in line
        scenario.assert_untouched()
        scenario.assert_next_run_completes()


#: A second process that takes SQLite's write lock on the file and keeps it until killed.
HOLDER = """
import sqlite3, sys, time
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("BEGIN EXCLUSIVE")
print("locked", flush=True)
time.sleep(600)
"""


def test_a_file_locked_by_another_process_is_given_up_after_the_lock_timeout(
    prepare: Callable[..., Scenario], fault_env: dict[str, str]
) -> None:
    scenario = prepare()
    path = scenario.engine.url.database
    assert path is not None
    holder = start_process([sys.executable, "-c", HOLDER, path], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        started = time.monotonic()
        result = run_cli()
        waited = time.monotonic() - started
    finally:
        stop_process(holder)

    line = assert_one_line(
        result,
        r"^the SQLite database \S+ is locked by another process \(gave up after waiting 1 s",
    )
    assert path in line
    # PARTNER_LOCK_TIMEOUT (1 s), not the engine's 30 s default, bounds the wait.
    assert waited < 1 + 10, waited
    assert float(fault_env["PARTNER_LOCK_TIMEOUT"]) == 1
    scenario.assert_untouched()
    scenario.assert_next_run_completes()
