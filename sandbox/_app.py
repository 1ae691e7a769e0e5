"""The sandbox as a Starlette application: routes, request limits, error envelopes, lifespan.

Routes, under the context path (`/prometheus` by default)::

    /api/v1/partner[/...], /web/v1[/...]   the partner chain  (sandbox._partner)
    /actuator/health                       health, no auth
    /_sandbox/...                          control, loopback only  (sandbox._control)

`SandboxApp` wraps the Starlette `Router` with what every request needs before routing: the
header and body size limits (answered with contract errors, not 413/431), the request count,
and one place where a `Reject` or an unknown route becomes the contract's error envelope and
an unexpected exception becomes `5000`.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Mount, Route, Router
from starlette.types import Message, Receive, Scope, Send

from sandbox._config import SandboxConfig
from sandbox._control import CONTROL_PREFIX, control_app
from sandbox._datasets import dataset_routes
from sandbox._faults import InjectedDisconnect, quiet_injected_disconnects
from sandbox._login import login_routes
from sandbox._partner import PartnerChain
from sandbox._responses import Reject, error, raw_response, rejected
from sandbox._state import SandboxState

logger = logging.getLogger("sandbox")

PARTNER_PREFIXES = ("/api/v1/partner", "/web/v1")
HEALTH_PATH = "/actuator/health"
# Bodies beyond the limit are still read (and dropped) up to this much, so the client gets
# its 400 instead of a connection reset; past it the connection is closed.
_DRAIN_LIMIT = 16 * 1024 * 1024
_TOO_LARGE = "body too large"


class SandboxApp:
    """The ASGI application; `state` is its live `SandboxState`, `config` its live settings."""

    def __init__(self, config: SandboxConfig) -> None:
        self.config = replace(config)
        self.state = state = SandboxState(self.config)
        self._control_prefix = self.config.context_path + CONTROL_PREFIX + "/"
        partner = PartnerChain(
            state, self.config.context_path, [*dataset_routes(state), *login_routes(state)]
        )

        async def health(request: Request) -> Response:
            return raw_response(state, 200, b'{"status":"UP"}')

        # One flat router with the context path in every route: the hot path (a dataset page)
        # costs one regex match here, not a mount per path segment.
        context = self.config.context_path
        partner_routes: list[Route | Mount] = []
        for prefix in PARTNER_PREFIXES:  # everything below the prefix, and the prefix itself
            partner_routes += [
                Mount(context + prefix, app=partner),
                Route(context + prefix, partner),
            ]
        self.router = Router(
            [
                *partner_routes,
                Route(context + HEALTH_PATH, health, methods=["GET", "HEAD"]),
                Mount(context + CONTROL_PREFIX, app=control_app(state, self._not_found)),
            ],
            redirect_slashes=False,
            default=self._not_found,
            lifespan=self._lifespan,
        )

    @contextlib.asynccontextmanager
    async def _lifespan(self, app: Any) -> AsyncIterator[None]:
        quiet_injected_disconnects()
        yield
        with self.state.lock:
            served = self.state.stats.requests
        logger.info("sandbox stopped after %d requests", served)

    async def _not_found(self, scope: Scope, receive: Receive, send: Send) -> None:
        await error(self.state, "4040", "unknown endpoint")(scope, receive, send)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one ASGI scope (HTTP requests and the lifespan)."""
        if scope["type"] != "http":
            await self.router(scope, receive, send)
            return
        # Starlette's routing raises `HTTPException` for unknown routes and methods when it
        # runs inside an app (`scope["app"]`); `_answer` turns those into the 4040 envelope.
        scope["app"] = self
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = True
            await send(message)

        try:
            await self._answer(scope, receive, tracking_send)
        except InjectedDisconnect:
            raise
        except (Reject, HTTPException) as exc:
            if started:
                raise
            reject = exc if isinstance(exc, Reject) else Reject("4040", "unknown endpoint")
            await rejected(self.state, reject)(scope, receive, tracking_send)
        except Exception:
            logger.exception("sandbox bug while answering %s %s", scope["method"], scope["path"])
            if started:
                raise
            await error(self.state, "5000", "internal server error")(scope, receive, tracking_send)

    async def _answer(self, scope: Scope, receive: Receive, send: Send) -> None:
        state, config = self.state, self.config
        header_bytes = 0
        declared: bytes | None = None
        for name, value in scope["headers"]:
            header_bytes += len(name) + len(value) + 4
            if declared is None and name.lower() == b"content-length":
                declared = value
        try:
            body, problem = await _read_body(
                Request(scope, receive), declared, config.max_body_bytes
            )
        except ClientDisconnect:
            return  # nobody is listening for an answer
        if not scope["path"].startswith(self._control_prefix):
            with state.lock:
                state.stats.requests += 1
        if header_bytes > config.max_header_bytes:
            response = error(state, "4000", "request headers too large")
        elif problem is not None:
            # Without the whole body read, the connection cannot carry another request.
            response = error(
                state, "4000", problem, {"connection": "close"} if body is None else None
            )
        else:
            assert body is not None
            await self.router(scope, _replay(body, receive), send)
            return
        await response(scope, receive, send)


async def _read_body(
    request: Request, declared: bytes | None, limit: int
) -> tuple[bytes | None, str | None]:
    """The request body: (body, None), or (b"" or None, why it is refused).

    `declared` is the `Content-Length` header. A `None` body means the rest of it was not
    read and the connection must close.
    """
    if declared is not None:
        try:
            declared_len = int(declared)
        except ValueError:
            declared_len = -1
        if declared_len > _DRAIN_LIMIT:
            return None, _TOO_LARGE
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size <= limit:
            chunks.append(chunk)
        elif size > _DRAIN_LIMIT:
            return None, _TOO_LARGE
    if size > limit:
        return b"", _TOO_LARGE
    return b"".join(chunks), None


def _replay(body: bytes, receive: Receive) -> Receive:
    """A `receive` that hands the already read `body` to the routes, then listens on."""
    pending = True

    async def replay() -> Message:
        nonlocal pending
        if pending:
            pending = False
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


def create_app(config: SandboxConfig | None = None) -> SandboxApp:
    """Build the sandbox ASGI application (its live state is `app.state`)."""
    return SandboxApp(config or SandboxConfig())
