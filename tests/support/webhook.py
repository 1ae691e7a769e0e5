"""A local HTTP receiver for webhooks: what a Slack or Teams endpoint would get, kept in a list.

The server binds port 0 itself (no bind-close-rebind race, see `ports`) and runs in a
thread; each POST's JSON body is kept with the wall-clock time it arrived.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Received:
    """One request the receiver got."""

    at: float  # time.time() on arrival
    path: str
    body: dict[str, Any]
    raw: str


@dataclass
class WebhookReceiver:
    """The receiver's address and what it got so far (thread-safe reads)."""

    url: str
    _received: list[Received] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, item: Received) -> None:
        with self._lock:
            self._received.append(item)

    def received(self) -> list[Received]:
        """A copy of everything received, oldest first."""
        with self._lock:
            return list(self._received)


@contextmanager
def webhook_receiver() -> Iterator[WebhookReceiver]:
    """A receiver on `127.0.0.1:<free port>` for the block; stopped when the block ends."""
    holder: list[WebhookReceiver] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length).decode("utf-8", errors="replace")
            try:
                body = json.loads(raw) if raw else {}
            except json.JSONDecodeError:
                body = {}
            holder[0].add(Received(time.time(), self.path, body, raw))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:  # quiet test output
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    holder.append(WebhookReceiver(f"http://127.0.0.1:{server.server_address[1]}/hook"))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield holder[0]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
