"""Transports for client tests: ones that record or watch what was sent, one that answers from a script."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import httpx


class RecordingTransport(httpx.HTTPTransport):
    """The real transport, keeping every request it sends."""

    def __init__(self) -> None:
        super().__init__()
        self.requests: list[httpx.Request] = []

    @property
    def sent(self) -> list[tuple[str, str]]:
        """(nonce, path) of each request sent."""
        return [(r.headers.get("X-Nonce", ""), r.url.path) for r in self.requests]

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return super().handle_request(request)


def scripted(responses: list[httpx.Response]) -> httpx.MockTransport:
    """A transport that answers each request with the next of `responses`."""
    answers = iter(responses)
    return httpx.MockTransport(lambda request: next(answers))


def envelope(code: str, message: str = "") -> dict[str, Any]:
    """A failure envelope with `code`."""
    return {"version": "2.0.0", "success": False, "code": code, "message": message, "data": None}


def ok(data: Any) -> dict[str, Any]:
    """A success envelope carrying `data`."""
    return {"version": "2.0.0", "success": True, "code": "2000", "data": data}


class WatchingTransport(httpx.HTTPTransport):
    """The real transport, counting requests in flight; optionally slowed, or hooked.

    `delay` seconds pass before each request is forwarded (a distant partner); `before`
    sees each request first and may act (switch the sandbox's data) or raise (a fault).
    """

    def __init__(
        self,
        *,
        delay: float = 0.0,
        before: Callable[[httpx.Request], None] | None = None,
    ) -> None:
        super().__init__()
        self.delay = delay
        self.before = before
        self.requests: list[httpx.Request] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self._lock = threading.Lock()

    @property
    def pages(self) -> list[int]:
        """The `page` asked by each dataset request, in the order they were sent."""
        return [int(r.url.params["page"]) for r in self.requests if "page" in r.url.params]

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        with self._lock:
            self.requests.append(request)
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if self.before is not None:
                self.before(request)
            if self.delay:
                time.sleep(self.delay)
            response = super().handle_request(request)
            # The body is read here, so "in flight" covers the whole exchange.
            try:
                raw = b"".join(response.iter_raw())
            finally:
                response.close()
            return httpx.Response(response.status_code, headers=response.headers, content=raw)
        finally:
            with self._lock:
                self.in_flight -= 1
