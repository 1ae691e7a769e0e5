"""The sandbox as a plain ASGI application: the partner chain, health, and `/_sandbox` control.

Plain ASGI (no framework) because the sandbox must control every byte: the `Date` header from
the sandbox clock on every answer, the exact order of the signature checks, a response that
breaks off mid-body. Handlers are synchronous between the `await`s that read and send, so the
state is never changed half-way by another request.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import json
import logging
import math
import time
import uuid
from collections import OrderedDict
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, replace
from email.utils import formatdate
from typing import Any
from urllib.parse import parse_qs

import pyotp

from sandbox._config import (
    API_KEYS,
    DEMO_EMAIL,
    DEMO_PASSWORD,
    DEMO_TOTP_SECRET,
    MFA_EMAIL,
    MFA_TOTP,
    SCOPE_AUTH,
    SCOPE_CONSTANTS_READ,
    SandboxConfig,
)
from sandbox._data import DatasetView
from sandbox._state import FAULT_KINDS, NonceMemoryFull, SandboxState

logger = logging.getLogger("sandbox")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

ENVELOPE_VERSION = "2.0.0"
MAX_PAGE_SIZE = 1000
DEFAULT_PAGE_SIZE = 100
_HMAC_PREFIX = b"HMAC-SHA256 "
_PAGE_CACHE_ENTRIES = 256
# Bodies beyond the limit are still read (and dropped) up to this much, so the client gets
# its 400 instead of a connection reset; past it the connection is closed.
_DRAIN_LIMIT = 16 * 1024 * 1024
_MFA_METHODS = [{"code": "EMAIL", "value": MFA_EMAIL}, {"code": "TOTP", "value": MFA_TOTP}]
_STATUS_OF_CODE = {
    "2000": 200,
    "4000": 400,
    "4010": 401,
    "4011": 401,
    "4012": 401,
    "4013": 401,
    "4030": 403,
    "4031": 403,
    "4032": 403,
    "4033": 403,
    "4034": 403,
    "4040": 404,
    "4290": 429,
    "5000": 500,
    "5030": 503,
}


class InjectedDisconnect(Exception):
    """Raised inside the app to make uvicorn drop a connection mid-response (a chaos fault)."""


class _QuietInjectedDisconnect(logging.Filter):
    """Keep uvicorn from logging our deliberate disconnects as application errors."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return not isinstance(exc, InjectedDisconnect)


_QUIET_FILTER = _QuietInjectedDisconnect()


def install_log_filter() -> None:
    """Attach the filter to uvicorn's error logger once per process."""
    uv = logging.getLogger("uvicorn.error")
    if _QUIET_FILTER not in uv.filters:
        uv.addFilter(_QUIET_FILTER)


class _Reject(Exception):
    """An answer with an error envelope, raised from deep inside a handler."""

    def __init__(self, code: str, message: str, headers: list[tuple[bytes, bytes]] | None = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.headers = headers or []


def _dumps_stdlib(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


try:  # orjson (installed with Prefect) serializes a page of cities ~15x faster; same bytes.
    import orjson

    _dumps: Callable[[Any], bytes] = orjson.dumps
except ImportError:  # pragma: no cover - the stdlib fallback
    _dumps = _dumps_stdlib


def _ok_body(data_json: bytes) -> bytes:
    return (
        b'{"version":"2.0.0","success":true,"code":"2000","message":"OK","data":' + data_json + b"}"
    )


def _error_body(code: str, message: str) -> bytes:
    return _dumps(
        {
            "version": ENVELOPE_VERSION,
            "success": False,
            "code": code,
            "message": message,
            "data": None,
        }
    )


def _is_loopback(scope: Scope) -> bool:
    client = scope.get("client")
    if not client:
        return False
    try:
        return ipaddress.ip_address(client[0]).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class _Route:
    name: str
    scope: str
    needs_token: bool
    dataset: str | None = None


_POST_ROUTES: dict[str, _Route] = {
    "/api/v1/partner/auth/login/initiate": _Route("initiate", SCOPE_AUTH, False),
    "/api/v1/partner/auth/login/mfa/send": _Route("send", SCOPE_AUTH, False),
    "/api/v1/partner/auth/login/mfa/verify": _Route("verify", SCOPE_AUTH, False),
    "/api/v1/partner/auth/logout": _Route("logout", SCOPE_AUTH, True),
}
_CONSTANTS_PREFIX = "/api/v1/partner/constants/"


def _find_route(method: str, sub: str) -> _Route | None:
    if method == "POST":
        return _POST_ROUTES.get(sub)
    if method == "GET" and sub.startswith(_CONSTANTS_PREFIX):
        name = sub[len(_CONSTANTS_PREFIX) :]
        if name and "/" not in name:
            return _Route("constants", SCOPE_CONSTANTS_READ, True, dataset=name)
    return None


def _etag(view: DatasetView, page: int | None, size: int | None) -> bytes:
    digest = hashlib.sha256(f"{view.name}|{view.fingerprint}|{page}|{size}".encode()).hexdigest()[
        :40
    ]
    return f'"{view.name[:3]}-{digest}"'.encode()


def _etag_matches(if_none_match: bytes, etag: bytes) -> bool:
    for candidate in if_none_match.split(b","):
        candidate = candidate.strip()
        if candidate.startswith(b"W/"):  # If-None-Match uses the weak comparison
            candidate = candidate[2:]
        if candidate in (b"*", etag):
            return True
    return False


class SandboxApp:
    """The ASGI application; `state` is its live `SandboxState`."""

    def __init__(self, config: SandboxConfig) -> None:
        self.config = replace(config)
        self.state = SandboxState(self.config)
        # Serialized page bodies: a benchmark reading the same pages again costs a dict lookup.
        self._pages: OrderedDict[tuple[str, str, int | None, int | None], bytes] = OrderedDict()
        install_log_filter()

    # -- ASGI ----------------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one ASGI connection scope."""
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = True
            await send(message)

        try:
            await self._handle(scope, receive, tracking_send)
        except InjectedDisconnect:
            raise
        except Exception:
            logger.exception("sandbox bug while answering %s %s", scope["method"], scope["path"])
            if not started:
                await self._send_error(tracking_send, "5000", "internal server error")
            else:
                raise

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return

    # -- sending -------------------------------------------------------------------------------

    def _base_headers(self) -> list[tuple[bytes, bytes]]:
        return [
            (b"date", formatdate(self.state.now(), usegmt=True).encode()),
            (b"x-request-id", uuid.uuid4().hex.encode()),
        ]

    async def _send(
        self,
        send: Send,
        status: int,
        body: bytes,
        headers: list[tuple[bytes, bytes]] | None = None,
        content_type: bytes = b"application/json",
    ) -> None:
        all_headers = self._base_headers()
        if body or status != 304:
            all_headers.append((b"content-type", content_type))
            all_headers.append((b"content-length", str(len(body)).encode()))
        if headers:
            all_headers.extend(headers)
        await send({"type": "http.response.start", "status": status, "headers": all_headers})
        await send({"type": "http.response.body", "body": body, "more_body": False})

    async def _send_error(
        self,
        send: Send,
        code: str,
        message: str,
        headers: list[tuple[bytes, bytes]] | None = None,
    ) -> None:
        self.state.count(code)
        await self._send(send, _STATUS_OF_CODE[code], _error_body(code, message), headers)

    async def _send_ok(
        self, send: Send, data_json: bytes, headers: list[tuple[bytes, bytes]] | None = None
    ) -> None:
        self.state.count("2000")
        await self._send(send, 200, _ok_body(data_json), headers)

    # -- dispatch ------------------------------------------------------------------------------

    async def _handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        config = self.config
        header_bytes = 0
        headers: dict[bytes, bytes] = {}
        for name, value in scope["headers"]:
            header_bytes += len(name) + len(value) + 4
            headers.setdefault(name.lower(), value)
        body, body_error = await self._read_body(receive, headers)
        path: str = scope["path"]
        ctx = config.context_path
        is_control = path.startswith(ctx + "/_sandbox/")
        if not is_control:
            with self.state.lock:
                self.state.stats.requests += 1
        if header_bytes > config.max_header_bytes:
            await self._send_error(send, "4000", "request headers too large")
            return
        if body_error is not None:
            await self._send_error(
                send, "4000", body_error, [(b"connection", b"close")] if body is None else None
            )
            return
        assert body is not None
        if not path.startswith(ctx + "/"):
            await self._send_error(send, "4040", "unknown endpoint")
            return
        sub = path[len(ctx) :]
        method: str = scope["method"]
        if sub == "/actuator/health":
            if method in ("GET", "HEAD"):
                await self._send(send, 200, b'{"status":"UP"}')
            else:
                await self._send_error(send, "4040", "unknown endpoint")
            return
        if is_control:
            await self._control(scope, method, sub, body, send)
            return
        if sub.startswith(("/api/v1/partner/", "/web/v1/")) or sub in (
            "/api/v1/partner",
            "/web/v1",
        ):
            await self._partner(scope, method, sub, headers, body, send)
            return
        await self._send_error(send, "4040", "unknown endpoint")

    async def _read_body(
        self, receive: Receive, headers: dict[bytes, bytes]
    ) -> tuple[bytes | None, str | None]:
        """Read the request body: (body, None), or (b"" or None, why it is refused).

        A `None` body means the connection must close (the rest of the body was not read).
        """
        limit = self.config.max_body_bytes
        declared = headers.get(b"content-length")
        if declared is not None:
            try:
                declared_len = int(declared)
            except ValueError:
                declared_len = -1
            if declared_len > _DRAIN_LIMIT:
                return None, "body too large"
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break  # http.disconnect: nobody is listening; answer anyway, it is dropped
            chunk = message.get("body", b"")
            size += len(chunk)
            if size <= limit:
                chunks.append(chunk)
            elif size > _DRAIN_LIMIT:
                return None, "body too large"
            if not message.get("more_body", False):
                break
        if size > limit:
            return b"", "body too large"
        return b"".join(chunks), None

    # -- the partner chain ---------------------------------------------------------------------

    async def _partner(
        self,
        scope: Scope,
        method: str,
        sub: str,
        headers: dict[bytes, bytes],
        body: bytes,
        send: Send,
    ) -> None:
        state = self.state
        with state.lock:
            state.stats.partner_requests += 1
        fault = state.draw_fault()
        if fault is not None:
            await self._inject(fault, send)
            return
        try:
            route, token = self._authenticate(scope, method, sub, headers, body)
            data_json, extra = self._dispatch(route, token, scope, headers, body)
        except _Reject as rejected:
            await self._send_error(send, rejected.code, rejected.message, rejected.headers)
            return
        if data_json is None:
            with state.lock:
                state.stats.not_modified += 1
            await self._send(send, 304, b"", extra)
            return
        if isinstance(data_json, bytes):
            await self._send_ok(send, data_json, extra)
            return
        # A whole large dataset, streamed chunk by chunk (chunked transfer encoding).
        state.count("2000")
        all_headers = [*self._base_headers(), (b"content-type", b"application/json"), *extra]
        await send({"type": "http.response.start", "status": 200, "headers": all_headers})
        await send(
            {
                "type": "http.response.body",
                "body": b'{"version":"2.0.0","success":true,"code":"2000","message":"OK","data":[',
                "more_body": True,
            }
        )
        first = True
        for chunk in data_json.chunks():
            if not chunk:
                continue
            piece = _dumps(chunk)[1:-1]
            await send(
                {
                    "type": "http.response.body",
                    "body": piece if first else b"," + piece,
                    "more_body": True,
                }
            )
            first = False
        await send({"type": "http.response.body", "body": b"]}", "more_body": False})

    def _authenticate(
        self,
        scope: Scope,
        method: str,
        sub: str,
        headers: dict[bytes, bytes],
        body: bytes,
    ) -> tuple[_Route, str | None]:
        """Run the contract's checks (§2.5) in order; return the route and the session token."""
        state = self.state
        config = self.config
        # 1. headers present and key known
        authorization = headers.get(b"authorization")
        api_key_raw = headers.get(b"x-api-key")
        timestamp_raw = headers.get(b"x-timestamp")
        nonce_raw = headers.get(b"x-nonce")
        for header, value in (
            ("Authorization", authorization),
            ("X-Api-Key", api_key_raw),
            ("X-Timestamp", timestamp_raw),
            ("X-Nonce", nonce_raw),
        ):
            if not value:
                raise _Reject("4030", f"missing header {header}")
        assert authorization and api_key_raw and timestamp_raw and nonce_raw
        if not authorization.startswith(_HMAC_PREFIX):
            raise _Reject("4030", "Authorization must be 'HMAC-SHA256 <signature>'")
        api_key = api_key_raw.decode("latin-1")
        known = API_KEYS.get(api_key)
        if known is None:
            raise _Reject("4030", "unknown API key")
        secret, scopes = known
        retry_after = state.take_rate_token(api_key)
        if retry_after is not None:
            raise _Reject(
                "4290", "rate limit exceeded", [(b"retry-after", str(retry_after).encode())]
            )
        # 2. signature over METHOD\nPATH\nTIMESTAMP\nNONCE\nBODY
        raw_path: bytes = scope.get("raw_path") or scope["path"].encode()
        signed_path = raw_path[len(config.context_path.encode()) :]
        query: bytes = scope.get("query_string", b"")
        if config.sign_query and query:
            signed_path += b"?" + query
        to_sign = b"\n".join((method.encode(), signed_path, timestamp_raw, nonce_raw, body))
        expected = base64.b64encode(hmac.new(secret.encode(), to_sign, hashlib.sha256).digest())
        given = authorization[len(_HMAC_PREFIX) :].strip()
        if not hmac.compare_digest(expected, given):
            raise _Reject("4030", "signature mismatch")
        # 3. timestamp within the window of the sandbox clock
        try:
            # The length cap keeps a 4,000-digit "timestamp" from overflowing the float compare.
            timestamp = int(timestamp_raw) if len(timestamp_raw) <= 20 else None
        except ValueError:
            timestamp = None
        if timestamp is None:
            raise _Reject("4031", "X-Timestamp is not Unix epoch seconds")
        if abs(state.now() - timestamp) > config.window:
            raise _Reject("4031", f"timestamp outside the {config.window:g} s window")
        # 4. nonce unused (used from here on, whatever comes next)
        try:
            fresh = state.use_nonce(api_key, nonce_raw.decode("latin-1"))
        except NonceMemoryFull:
            raise _Reject("5030", "replay protection is at capacity; try again shortly") from None
        if not fresh:
            raise _Reject("4032", "nonce already used")
        # 5. portal paths
        if sub == "/web/v1" or sub.startswith("/web/v1/"):
            raise _Reject("4034", "/web/v1 paths belong to the portal, not the partner chain")
        route = _find_route(method, sub)
        if route is None:
            raise _Reject("4040", "unknown endpoint")
        # 6. scope
        if route.scope not in scopes:
            raise _Reject("4033", f"API key lacks scope {route.scope}")
        # 7. session token
        token: str | None = None
        if route.needs_token:
            token = headers.get(b"x-session-token", b"").decode("latin-1").strip()
            if not token:
                raise _Reject("4010", "session token missing")
            if state.check_token(token) is None:
                raise _Reject("4010", "session token unknown or expired")
        return route, token

    def _dispatch(
        self,
        route: _Route,
        token: str | None,
        scope: Scope,
        headers: dict[bytes, bytes],
        body: bytes,
    ) -> tuple[bytes | DatasetView | None, list[tuple[bytes, bytes]]]:
        """The endpoint's own work: (data JSON | a view to stream | None for 304, headers)."""
        if route.name == "constants":
            assert route.dataset is not None
            return self._constants(route.dataset, scope, headers)
        if route.name == "logout":
            assert token is not None
            self.state.revoke_token(token)
            return b'{"loggedOut":true}', []
        payload = _json_object(body)
        if route.name == "initiate":
            return self._initiate(payload), []
        if route.name == "send":
            return self._mfa_send(payload), []
        return self._mfa_verify(payload, API_KEYS[_api_key(headers)][1]), []

    # -- login ---------------------------------------------------------------------------------

    def _initiate(self, payload: dict[str, Any]) -> bytes:
        email = _field(payload, "email")
        password = _field(payload, "password")
        good = hmac.compare_digest(email.strip().lower().encode(), DEMO_EMAIL.encode())
        good &= hmac.compare_digest(password.encode(), DEMO_PASSWORD.encode())
        if not good:
            raise _Reject("4011", "wrong email or password")
        session = self.state.start_login(DEMO_EMAIL)
        return _dumps(
            {
                "sessionId": session.session_id,
                "mfaMethods": _MFA_METHODS,
                "expiresIn": self.config.login_expires_in,
            }
        )

    def _mfa_send(self, payload: dict[str, Any]) -> bytes:
        session_id = _field(payload, "sessionId")
        method = _mfa_method(payload)
        session = self.state.live_login(session_id)
        if session is None:
            raise _Reject("4013", "login session expired or used up")
        remaining = max(0, math.ceil(session.expires_at - time.monotonic()))
        if method == MFA_TOTP:
            # Nothing to send: the code comes from the user's authenticator.
            return _dumps(
                {"sent": False, "destination": "authenticator app", "expiresIn": remaining}
            )
        self.state.send_email_otp(session)
        return _dumps({"sent": True, "destination": _mask(session.email), "expiresIn": remaining})

    def _mfa_verify(self, payload: dict[str, Any], scopes: tuple[str, ...]) -> bytes:
        session_id = _field(payload, "sessionId")
        method = _mfa_method(payload)
        otp_value = payload.get("otp")
        if isinstance(otp_value, int) and not isinstance(otp_value, bool):
            otp_value = f"{otp_value:06d}"
        if not isinstance(otp_value, str):
            raise _Reject("4000", "otp must be a string of 6 digits")
        session = self.state.live_login(session_id)
        if session is None:
            raise _Reject("4013", "login session expired or used up")
        if method == MFA_EMAIL:
            good = session.otp is not None and hmac.compare_digest(
                otp_value.encode(), session.otp.encode()
            )
        else:
            # The server clock is the truth: verify against the sandbox clock, skew included.
            good = pyotp.TOTP(DEMO_TOTP_SECRET).verify(
                otp_value, for_time=int(self.state.now()), valid_window=1
            )
        if not good:
            used = self.state.fail_otp(session)
            raise _Reject(
                "4012", f"wrong OTP ({used} of {self.config.max_otp_attempts} attempts used)"
            )
        token = self.state.finish_login(session, scopes)
        return _dumps(
            {
                "accessToken": token,
                "tokenType": "Bearer",
                "expiresIn": self.config.token_expires_in,
                "scopes": list(scopes),
            }
        )

    # -- datasets ------------------------------------------------------------------------------

    def _constants(
        self, dataset: str, scope: Scope, headers: dict[bytes, bytes]
    ) -> tuple[bytes | DatasetView | None, list[tuple[bytes, bytes]]]:
        try:
            view = self.state.catalog.view(dataset, self.state.data_version)
        except KeyError:
            raise _Reject("4040", f"unknown dataset {dataset}") from None
        page, size = _paging(scope.get("query_string", b""))
        etag = _etag(view, page, size)
        extra = [(b"etag", etag)]
        inm = headers.get(b"if-none-match")
        if inm is not None and _etag_matches(inm, etag):
            return None, extra
        key = (dataset, view.fingerprint, page, size)
        cached = self._pages.get(key)
        if cached is not None:
            self._pages.move_to_end(key)
            return cached, extra
        if page is None or size is None:
            if view.name == "cities":
                return view, extra  # streamed: a million cities never sit in memory at once
            data = _dumps(view.slice(0, view.total))
        else:
            start = min(page * size, view.total)
            content = view.slice(start, min(start + size, view.total))
            data = _dumps(
                {
                    "content": content,
                    "page": page,
                    "size": size,
                    "totalElements": view.total,
                    "totalPages": math.ceil(view.total / size),
                }
            )
        self._pages[key] = data
        while len(self._pages) > _PAGE_CACHE_ENTRIES:
            self._pages.popitem(last=False)
        return data, extra

    # -- control surface -----------------------------------------------------------------------

    async def _control(self, scope: Scope, method: str, sub: str, body: bytes, send: Send) -> None:
        if not _is_loopback(scope):
            await self._send_error(send, "4040", "unknown endpoint")
            return
        state = self.state
        name = sub[len("/_sandbox/") :]
        try:
            if method == "GET" and name == "outbox":
                query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
                session_id = query.get("sessionId", [None])[0]
                result: Any = {"messages": state.outbox_for(session_id)}
            elif method == "GET" and name == "stats":
                with state.lock:
                    result = state.stats.as_json()
            elif method == "POST" and name == "data-version":
                version = _json_object(body).get("version")
                if version not in (1, 2) or isinstance(version, bool):
                    raise _Reject("4000", "version must be 1 or 2")
                state.set_data_version(version)
                result = {"version": version}
            elif name == "config" and method in ("GET", "POST"):
                if method == "POST":
                    self._change_config(_json_object(body))
                result = self._config_json()
            elif method == "POST" and name == "expire-sessions":
                result = {"expired": state.expire_tokens()}
            else:
                raise _Reject("4040", "unknown endpoint")
        except _Reject as rejected:
            await self._send_error(send, rejected.code, rejected.message)
            return
        await self._send(send, 200, _dumps(result))

    def _config_json(self) -> dict[str, Any]:
        c = self.config
        return {
            "clockSkew": c.clock_skew,
            "faultRate": c.fault_rate,
            "faultKinds": list(c.fault_kinds) if c.fault_kinds else None,
            "rateLimit": c.rate_limit,
            "retryAfter": c.retry_after,
            "signQuery": c.sign_query,
            "window": c.window,
            "dataVersion": c.data_version,
        }

    def _change_config(self, payload: dict[str, Any]) -> None:
        changes: dict[str, Any] = {}
        for wire, attr in (("clockSkew", "clock_skew"), ("window", "window")):
            if wire in payload:
                changes[attr] = _number(payload[wire], wire)
        if "faultRate" in payload:
            rate = _number(payload["faultRate"], "faultRate")
            if not 0.0 <= rate <= 1.0:
                raise _Reject("4000", "faultRate must be between 0 and 1")
            changes["fault_rate"] = rate
        if "rateLimit" in payload:
            limit = payload["rateLimit"]
            if limit is not None:
                limit = _number(limit, "rateLimit")
                if limit <= 0:
                    raise _Reject("4000", "rateLimit must be positive or null")
            changes["rate_limit"] = limit
        if "retryAfter" in payload:
            retry_after = payload["retryAfter"]
            if not isinstance(retry_after, int) or isinstance(retry_after, bool) or retry_after < 0:
                raise _Reject("4000", "retryAfter must be a non-negative integer")
            changes["retry_after"] = retry_after
        if "faultKinds" in payload:
            kinds = payload["faultKinds"]
            if kinds is not None and (
                not isinstance(kinds, list) or not kinds or not set(kinds) <= set(FAULT_KINDS)
            ):
                raise _Reject("4000", f"faultKinds must be null or a list drawn from {FAULT_KINDS}")
            changes["fault_kinds"] = tuple(kinds) if kinds else None
        if "signQuery" in payload:
            if not isinstance(payload["signQuery"], bool):
                raise _Reject("4000", "signQuery must be a boolean")
            changes["sign_query"] = payload["signQuery"]
        with self.state.lock:
            for attr, value in changes.items():
                setattr(self.config, attr, value)

    # -- faults --------------------------------------------------------------------------------

    async def _inject(self, fault: str, send: Send) -> None:
        if fault == "500":
            await self._send_error(send, "5000", "injected fault: internal server error")
        elif fault == "503":
            await self._send_error(send, "5030", "injected fault: service unavailable")
        elif fault == "429":
            retry_after = str(self.config.retry_after).encode()
            await self._send_error(
                send, "4290", "injected fault: rate limited", [(b"retry-after", retry_after)]
            )
        elif fault == "4031":
            await self._send_error(
                send, "4031", f"timestamp outside the {self.config.window:g} s window"
            )
        else:
            # Promise a body, send part of it, then make uvicorn close the connection: the
            # client reads a truncated body (httpx: RemoteProtocolError).
            headers = [
                *self._base_headers(),
                (b"content-type", b"application/json"),
                (b"content-length", b"4096"),
            ]
            await send({"type": "http.response.start", "status": 200, "headers": headers})
            await send(
                {
                    "type": "http.response.body",
                    "body": b'{"version":"2.0.0","succ',
                    "more_body": True,
                }
            )
            raise InjectedDisconnect("injected fault: connection dropped mid-response")


# -- small parsing helpers -------------------------------------------------------------------


def _api_key(headers: dict[bytes, bytes]) -> str:
    return headers[b"x-api-key"].decode("latin-1")


def _json_object(body: bytes) -> dict[str, Any]:
    try:
        value = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise _Reject("4000", "body is not valid JSON") from None
    if not isinstance(value, dict):
        raise _Reject("4000", "body must be a JSON object")
    return value


def _field(payload: dict[str, Any], name: str) -> str:
    value = payload.get(name)
    if not isinstance(value, str) or not value:
        raise _Reject("4000", f"{name} must be a non-empty string")
    return value


def _mfa_method(payload: dict[str, Any]) -> int:
    value = payload.get("mfaMethod")
    if value in ("EMAIL", "TOTP"):
        return MFA_EMAIL if value == "EMAIL" else MFA_TOTP
    if isinstance(value, bool) or value not in (MFA_EMAIL, MFA_TOTP):
        raise _Reject("4000", f"mfaMethod must be {MFA_EMAIL} (EMAIL) or {MFA_TOTP} (TOTP)")
    return int(value)


def _number(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise _Reject("4000", f"{name} must be a number")
    return float(value)


def _mask(email: str) -> str:
    local, _, domain = email.partition("@")
    return f"{local[:1]}***@{domain}"


def _paging(query_string: bytes) -> tuple[int | None, int | None]:
    """(page, size) from the query, or (None, None) without paging parameters."""
    if not query_string:
        return None, None
    try:
        query = parse_qs(query_string.decode("utf-8"), keep_blank_values=True)
    except UnicodeDecodeError:
        raise _Reject("4000", "query string is not UTF-8") from None
    if "page" not in query and "size" not in query:
        return None, None
    try:
        page = int(query.get("page", ["0"])[0])
        size = int(query.get("size", [str(DEFAULT_PAGE_SIZE)])[0])
    except ValueError:
        raise _Reject("4000", "page and size must be integers") from None
    if page < 0:
        raise _Reject("4000", "page must be 0 or more")
    if not 1 <= size <= MAX_PAGE_SIZE:
        raise _Reject("4000", f"size must be between 1 and {MAX_PAGE_SIZE}")
    return page, size


def create_app(config: SandboxConfig | None = None) -> SandboxApp:
    """Build the sandbox ASGI application (its live state is `app.state`)."""
    return SandboxApp(config or SandboxConfig())
