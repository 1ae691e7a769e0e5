"""The partner chain: every request under `/api/v1/partner` and `/web/v1`.

Per request, in this order: counted as in flight, held for the configured latency (an
`asyncio` sleep, the loop keeps serving others), perhaps answered with an injected fault,
checked (`sandbox._checks`, docs/partner-api.md §2.5), then answered by its endpoint. The
endpoint is resolved among `PartnerRoute`s only when the checks reach that step, because an
unsigned request to an unknown path must get `4030`, not `4040`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Match, Route
from starlette.types import Receive, Scope, Send

from sandbox._checks import Verified, verify
from sandbox._faults import fault_response
from sandbox._responses import Reject, rejected
from sandbox._state import SandboxState

PartnerEndpoint = Callable[[Request], Awaitable[Response]]


def _header_dict(scope: Scope) -> dict[str, str]:
    """The request headers by lower-case name, first occurrence winning.

    The checks look up a dozen headers; a dict built once costs a fraction of as many scans
    of Starlette's `Headers` list.
    """
    headers: dict[str, str] = {}
    for name, value in scope["headers"]:
        headers.setdefault(name.decode("latin-1").lower(), value.decode("latin-1"))
    return headers


class PartnerRoute(Route):
    """A partner endpoint: a Starlette route plus what the checks need (scope, token)."""

    def __init__(
        self,
        path: str,
        endpoint: PartnerEndpoint,
        *,
        method: str,
        scope_required: str,
        needs_token: bool,
    ) -> None:
        super().__init__(path, endpoint, methods=[method])
        self.method = method
        self.scope_required = scope_required
        self.needs_token = needs_token
        self.partner_endpoint = endpoint


def verified_of(request: Request) -> Verified[PartnerRoute]:
    """What the checks established about this request (endpoint, key, scopes, token)."""
    found: Verified[PartnerRoute] = request.state.verified
    return found


class PartnerChain:
    """The ASGI app of the partner chain, mounted under the context path."""

    def __init__(
        self, state: SandboxState, context_path: str, routes: Sequence[PartnerRoute]
    ) -> None:
        self.state = state
        self.routes = tuple(routes)
        self._context = context_path
        self._context_bytes = context_path.encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer one partner request."""
        state = self.state
        state.enter()
        try:
            delay = state.draw_delay()
            if delay > 0:
                await asyncio.sleep(delay)
            fault = state.draw_fault()
            if fault is not None:
                response = fault_response(state, fault)
            else:
                response = await self._answer(scope, receive)
            await response(scope, receive, send)
        finally:
            state.leave()

    async def _answer(self, scope: Scope, receive: Receive) -> Response:
        request = Request(scope, receive)
        body = await request.body()
        method: str = scope["method"]
        sub_path = scope["path"][len(self._context) :]
        # The signed PATH is the raw path as sent (percent-escapes kept), after the context.
        signed_path = (scope.get("raw_path") or scope["path"].encode())[len(self._context_bytes) :]
        query: bytes = scope.get("query_string", b"")
        if query and self.state.config.sign_query:
            signed_path += b"?" + query
        state = self.state
        try:
            verified = verify(
                state,
                method=method,
                sub_path=sub_path,
                signed_path=signed_path,
                headers=_header_dict(scope),
                body=body,
                find_endpoint=lambda: self._find(scope, method, sub_path),
            )
            request.state.verified = verified
            # Called directly rather than through `route.handle`: this request's body is
            # already read and cached on `request`.
            return await verified.endpoint.partner_endpoint(request)
        except Reject as reject:
            return rejected(state, reject)

    def _find(self, scope: Scope, method: str, sub_path: str) -> PartnerRoute | None:
        """The endpoint for `method` and `sub_path`; its path parameters go into `scope`."""
        probe = {"type": "http", "path": sub_path, "root_path": "", "method": method}
        for route in self.routes:
            match, child_scope = route.matches(probe)
            # Only a full match with the declared method: Starlette lets GET routes answer
            # HEAD, the contract does not (docs/partner-api.md §2.4 lists GET).
            if match is Match.FULL and method == route.method:
                scope["path_params"] = child_scope["path_params"]
                return route
        return None
