"""Free loopback ports without a bind-close-rebind race.

A server we start in-process binds port 0 itself and reports where it listens. A server in
another process that must be told its port (Dovecot, `prefect server start`) gets a port
that was free a moment ago, and `retry_on_port_clash` starts it again on fresh ports when
another process took one in between: the race is retried, not hoped away.
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

#: How many times a server is started on fresh ports before the clash is reported.
PORT_ATTEMPTS = 5


class PortInUse(RuntimeError):
    """A server could not bind the port it was given: someone else took it first."""


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nothing listened on a moment ago (use with `retry_on_port_clash`)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def retry_on_port_clash(start: Callable[[], T], attempts: int = PORT_ATTEMPTS) -> T:
    """`start()`, called again (it picks fresh ports each time) while it raises `PortInUse`."""
    for attempt in range(1, attempts + 1):
        try:
            return start()
        except PortInUse:
            if attempt == attempts:
                raise
    raise AssertionError("unreachable")  # pragma: no cover
