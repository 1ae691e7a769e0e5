"""Injected faults: what a partner-chain request gets instead of its answer (`fault_rate`).

A fault is drawn before any check, so a faulted request uses no nonce and opens no login
(`SandboxState.draw_fault` counts it). The kinds are `sandbox.FAULT_KINDS`.
"""

from __future__ import annotations

import logging

from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from sandbox._responses import JSON, base_headers, error
from sandbox._state import SandboxState

_DROP_PROMISED_BYTES = 4096
_DROP_SENT = b'{"version":"2.0.0","succ'


class InjectedDisconnect(Exception):
    """Raised inside the app to make uvicorn drop a connection mid-response (a chaos fault)."""


class _QuietInjectedDisconnect(logging.Filter):
    """Keep uvicorn from logging our deliberate disconnects as application errors."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return not isinstance(exc, InjectedDisconnect)


_QUIET_FILTER = _QuietInjectedDisconnect()


def quiet_injected_disconnects() -> None:
    """Attach the filter to uvicorn's error logger (once per process, shared by sandboxes)."""
    uv = logging.getLogger("uvicorn.error")
    if _QUIET_FILTER not in uv.filters:
        uv.addFilter(_QUIET_FILTER)


class DroppedResponse(Response):
    """Promise a body, send part of it, then break the connection.

    The client reads a truncated body (httpx: `RemoteProtocolError`).
    """

    def __init__(self, state: SandboxState) -> None:
        headers = {**base_headers(state), "content-length": str(_DROP_PROMISED_BYTES)}
        super().__init__(_DROP_SENT, status_code=200, headers=headers, media_type=JSON)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Send the head and the first bytes, then raise so uvicorn closes the connection."""
        await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
        await send({"type": "http.response.body", "body": self.body, "more_body": True})
        raise InjectedDisconnect("injected fault: connection dropped mid-response")


def fault_response(state: SandboxState, fault: str) -> Response:
    """The answer of an injected fault of kind `fault` (one of `FAULT_KINDS`)."""
    config = state.config
    if fault == "500":
        return error(state, "5000", "injected fault: internal server error")
    if fault == "503":
        return error(state, "5030", "injected fault: service unavailable")
    if fault == "429":
        return error(
            state,
            "4290",
            "injected fault: rate limited",
            {"retry-after": str(config.retry_after)},
        )
    if fault == "4031":
        return error(state, "4031", f"timestamp outside the {config.window:g} s window")
    return DroppedResponse(state)
