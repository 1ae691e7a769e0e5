"""`python -m benchmarks._run_child PEAK [--first-request NOTE] ARGS...`: one measured child.

Every process a figure times runs through this module, unchanged, except for two notes:

- its own peak RSS (`VmHWM`), written to the file PEAK when it exits. `os.wait4`'s
  `ru_maxrss` cannot give it: Linux starts a child's figure from its parent's peak
  (`subprocess` spawns with `vfork`, and exec keeps the old address space's high-water
  mark), so every child of a benchmark that once held 200,000 rows in memory would
  report at least that. `VmHWM` after exec counts only this program's pages.
- with `--first-request`, ARGS are the CLI's (`partner-sync ARGS...`), and the first
  `socket.send` (the first partner request: a SQLite sync talks to nothing else) writes
  `time.time()` to the file NOTE. The parent notes `time.time()` just before it starts
  this process, so NOTE minus that is "process start to first partner request".

Otherwise ARGS are `-m MODULE ARGS...` or `-c CODE`, as for `python`. The hooks cost a
few microseconds once.
"""

from __future__ import annotations

import atexit
import runpy
import socket
import sys
import time
from pathlib import Path
from typing import Any


def _note_first_send(out: str) -> None:
    # httpcore writes plain TCP with `socket.send` (`sendall` only under TLS).
    original = socket.socket.send

    def send(self: socket.socket, data: Any, *args: Any) -> int:
        socket.socket.send = original  # type: ignore[method-assign]
        with open(out, "w") as file:
            file.write(repr(time.time()))
        return original(self, data, *args)

    socket.socket.send = send  # type: ignore[method-assign,assignment]


def _write_peak(out: str) -> None:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            Path(out).write_text(line.split()[1])


def main() -> None:
    """Run ARGS as `python` would, noting the peak RSS (and maybe the first request)."""
    peak, *args = sys.argv[1:]
    atexit.register(_write_peak, peak)
    if args[0] == "--first-request":
        _note_first_send(args[1])
        sys.argv = ["partner-sync", *args[2:]]
        runpy.run_module("partner_sync", run_name="__main__", alter_sys=True)
    elif args[0] == "-c":
        sys.argv = ["-c", *args[2:]]
        exec(compile(args[1], "<string>", "exec"), {"__name__": "__main__"})
    elif args[0] == "-m":
        sys.argv = [args[1], *args[2:]]
        runpy.run_module(args[1], run_name="__main__", alter_sys=True)
    else:
        raise SystemExit(f"usage: python -m benchmarks._run_child PEAK ARGS; got {args[:2]}")


if __name__ == "__main__":
    main()
