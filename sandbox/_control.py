"""The control surface under `{context}/_sandbox/`: unauthenticated, loopback clients only.

`GET outbox[?sessionId=]` (mailed OTPs), `GET stats` and `POST reset-stats` (counters,
requests in flight and their peak), `POST data-version` `{"version": 1|2}`, `GET`/`POST config`
(clock skew, faults, rate limit, latency, schema drift...), `POST expire-sessions`.
Any other client gets `4040`, as if the surface were not there.
"""

from __future__ import annotations

import ipaddress
import math
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route, Router
from starlette.types import ASGIApp, Receive, Scope, Send

from sandbox._config import FAULT_KINDS, check_datasets
from sandbox._responses import Reject, dumps, json_object, raw_response
from sandbox._state import SandboxState

CONTROL_PREFIX = "/_sandbox"


def control_app(state: SandboxState, not_found: ASGIApp) -> ASGIApp:
    """The control routes of one sandbox, behind the loopback gate."""

    def answer(result: Any) -> Response:
        return raw_response(state, 200, dumps(result))

    async def outbox(request: Request) -> Response:
        given = request.query_params.getlist("sessionId")
        # An empty `sessionId=` means no filter, as a missing one does.
        return answer({"messages": state.outbox_for((given[0] if given else None) or None)})

    async def stats(request: Request) -> Response:
        with state.lock:
            return answer(state.stats.as_json())

    async def reset_stats(request: Request) -> Response:
        fresh = state.reset_stats()
        with state.lock:
            return answer(fresh.as_json())

    async def data_version(request: Request) -> Response:
        version = json_object(await request.body()).get("version")
        if version not in (1, 2) or isinstance(version, bool):
            raise Reject("4000", "version must be 1 or 2")
        state.set_data_version(version)
        return answer({"version": version})

    async def config(request: Request) -> Response:
        if request.method == "POST":
            change_config(state, json_object(await request.body()))
        return answer(config_json(state))

    async def expire_sessions(request: Request) -> Response:
        return answer({"expired": state.expire_tokens()})

    router = Router(
        [
            Route("/outbox", outbox, methods=["GET"]),
            Route("/stats", stats, methods=["GET"]),
            Route("/reset-stats", reset_stats, methods=["POST"]),
            Route("/data-version", data_version, methods=["POST"]),
            Route("/config", config, methods=["GET", "POST"]),
            Route("/expire-sessions", expire_sessions, methods=["POST"]),
        ],
        redirect_slashes=False,
        default=not_found,
    )
    return _LoopbackOnly(router, not_found)


class _LoopbackOnly:
    """Pass loopback clients to `app`; answer everyone else as an unknown endpoint."""

    def __init__(self, app: ASGIApp, not_found: ASGIApp) -> None:
        self.app = app
        self.not_found = not_found

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        target = self.app if _is_loopback(scope) else self.not_found
        await target(scope, receive, send)


def _is_loopback(scope: Scope) -> bool:
    client = scope.get("client")
    if not client:
        return False
    try:
        return ipaddress.ip_address(client[0]).is_loopback
    except ValueError:
        return False


def config_json(state: SandboxState) -> dict[str, Any]:
    """The run-time settings, as `GET /_sandbox/config` shows them."""
    c = state.config
    return {
        "clockSkew": c.clock_skew,
        "faultRate": c.fault_rate,
        "faultKinds": list(c.fault_kinds) if c.fault_kinds else None,
        "rateLimit": c.rate_limit,
        "retryAfter": c.retry_after,
        "latencyMs": c.latency_ms,
        "latencyJitterMs": c.latency_jitter_ms,
        "driftNewField": list(c.drift_new_field),
        "driftType": list(c.drift_type),
        "signQuery": c.sign_query,
        "window": c.window,
        "dataVersion": c.data_version,
    }


def change_config(state: SandboxState, payload: dict[str, Any]) -> None:
    """Apply a `POST /_sandbox/config` body: all of it, or nothing if any value is wrong."""
    changes: dict[str, Any] = {}
    for wire, attr in (("clockSkew", "clock_skew"), ("window", "window")):
        if wire in payload:
            changes[attr] = _number(payload[wire], wire)
    for wire, attr in (("latencyMs", "latency_ms"), ("latencyJitterMs", "latency_jitter_ms")):
        if wire in payload:
            value = _number(payload[wire], wire)
            if value < 0:
                raise Reject("4000", f"{wire} must not be negative")
            changes[attr] = value
    if "faultRate" in payload:
        rate = _number(payload["faultRate"], "faultRate")
        if not 0.0 <= rate <= 1.0:
            raise Reject("4000", "faultRate must be between 0 and 1")
        changes["fault_rate"] = rate
    if "rateLimit" in payload:
        limit = payload["rateLimit"]
        if limit is not None:
            limit = _number(limit, "rateLimit")
            if limit <= 0:
                raise Reject("4000", "rateLimit must be positive or null")
        changes["rate_limit"] = limit
    if "retryAfter" in payload:
        retry_after = payload["retryAfter"]
        if not isinstance(retry_after, int) or isinstance(retry_after, bool) or retry_after < 0:
            raise Reject("4000", "retryAfter must be a non-negative integer")
        changes["retry_after"] = retry_after
    if "faultKinds" in payload:
        kinds = payload["faultKinds"]
        if kinds is not None and (
            not isinstance(kinds, list) or not kinds or not set(kinds) <= set(FAULT_KINDS)
        ):
            raise Reject("4000", f"faultKinds must be null or a list drawn from {FAULT_KINDS}")
        changes["fault_kinds"] = tuple(kinds) if kinds else None
    for wire, attr in (("driftNewField", "drift_new_field"), ("driftType", "drift_type")):
        if wire in payload:
            try:
                changes[attr] = check_datasets(payload[wire], wire)
            except ValueError as exc:
                raise Reject("4000", str(exc)) from None
    if "signQuery" in payload:
        if not isinstance(payload["signQuery"], bool):
            raise Reject("4000", "signQuery must be a boolean")
        changes["sign_query"] = payload["signQuery"]
    with state.lock:
        for attr, value in changes.items():
            setattr(state.config, attr, value)


def _number(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise Reject("4000", f"{name} must be a number")
    return float(value)
