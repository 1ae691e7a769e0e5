"""`python -m benchmarks._first_request OUT ARGS...`: the CLI, noting when it first sends.

Runs `python -m partner_sync ARGS...` in this process, unchanged, except that the first
`socket.send` (the first partner request: a SQLite sync talks to nothing else) writes
`time.time()` to the file OUT. The parent notes `time.time()` just before it starts this
process, so OUT minus that is "process start to first partner request". The hook costs a
few microseconds once; everything else is the CLI as a user runs it.
"""

from __future__ import annotations

import runpy
import socket
import sys
import time
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


def main() -> None:
    """Note the first send to `sys.argv[1]`; run the CLI with the remaining arguments."""
    out, *args = sys.argv[1:]
    _note_first_send(out)
    sys.argv = ["partner-sync", *args]
    runpy.run_module("partner_sync", run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
