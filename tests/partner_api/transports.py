"""Transports for client tests: one that records what was sent, one that answers from a script."""

from __future__ import annotations

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
