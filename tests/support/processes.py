"""Starting and stopping the servers the tests run in other processes.

Each process starts in a session of its own, so stopping it stops whatever it spawned
(Dovecot's workers, uvicorn's reloader) and a Ctrl-C in the terminal reaches pytest only;
pytest's `finally` blocks then stop every process in order.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import IO, Any

#: How long a process gets to stop after the polite signal before it is killed.
STOP_TIMEOUT = 10.0


def start_process(
    argv: Sequence[str],
    *,
    cwd: str | Path | None = None,
    env: Mapping[str, str] | None = None,
    stdout: int | IO[Any] | None = subprocess.DEVNULL,
    stderr: int | IO[Any] | None = subprocess.DEVNULL,
    text: bool = False,
) -> subprocess.Popen[Any]:
    """Start `argv` in its own session with no stdin; stop it with `stop_process`."""
    return subprocess.Popen(
        list(argv),
        cwd=cwd,
        env=dict(env) if env is not None else None,
        stdin=subprocess.DEVNULL,
        stdout=stdout,
        stderr=stderr,
        text=text,
        start_new_session=True,
    )


def stop_process(
    process: subprocess.Popen[Any],
    *,
    sig: signal.Signals = signal.SIGTERM,
    timeout: float = STOP_TIMEOUT,
) -> None:
    """Send `sig` to the process's group, wait `timeout`, then kill the group and reap it.

    The group is signalled only while its leader lives (its id cannot have been reused).
    """
    if process.poll() is None:
        _signal_group(process, sig)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            _signal_group(process, signal.SIGKILL)
            process.wait(timeout=timeout)
    for stream in (process.stdout, process.stderr):
        if stream is not None:
            stream.close()


@contextlib.contextmanager
def running_process(
    argv: Sequence[str],
    *,
    sig: signal.Signals = signal.SIGTERM,
    timeout: float = STOP_TIMEOUT,
    **options: Any,
) -> Iterator[subprocess.Popen[Any]]:
    """`start_process(argv, **options)` for the block, `stop_process` (`sig`, `timeout`) after."""
    process = start_process(argv, **options)
    try:
        yield process
    finally:
        stop_process(process, sig=sig, timeout=timeout)


def _signal_group(process: subprocess.Popen[Any], sig: signal.Signals) -> None:
    # The group id is the leader's pid (start_new_session); the leader may just have exited.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, sig)
