"""Running the sandbox under uvicorn: in a background thread for tests, in the foreground for the CLI."""

from __future__ import annotations

import contextlib
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace

import httpx
import uvicorn

from sandbox._app import SandboxApp, create_app
from sandbox._config import SandboxConfig
from sandbox._state import SandboxState

_START_TIMEOUT = 10.0
_STOP_TIMEOUT = 10.0


def bind_socket(host: str, port: int) -> socket.socket:
    """A listening TCP socket on `host:port` (`port` 0: a free port the OS picks)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto=IPPROTO_TCP matters: asyncio only sets TCP_NODELAY on sockets that say they are TCP,
    # and without it every keep-alive answer waits ~40 ms for the client's delayed ACK.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen(128)
    except OSError:
        sock.close()
        raise
    sock.setblocking(False)
    return sock


def make_server(app: SandboxApp, *, log_level: str = "warning") -> uvicorn.Server:
    """A uvicorn server for `app`: no automatic `Date`/`Server` headers, the app sets `Date`."""
    config = app.config
    uv_config = uvicorn.Config(
        app,
        http="h11",
        # The app's lifespan quiets the deliberate disconnects in uvicorn's error log.
        lifespan="on",
        log_level=log_level,
        access_log=log_level in ("debug", "trace"),
        date_header=False,
        server_header=False,
        # Let oversized headers reach the app, which answers them with a contract error (4000).
        h11_max_incomplete_event_size=max(64 * 1024, 4 * config.max_header_bytes),
        timeout_graceful_shutdown=2,
        ssl_certfile=config.tls_certfile,
        ssl_keyfile=config.tls_keyfile,
    )
    return uvicorn.Server(uv_config)


def base_url_for(host: str, port: int, context_path: str, scheme: str = "http") -> str:
    """`http://host:port/context` (or `https://`) with IPv6 hosts in brackets."""
    shown = f"[{host}]" if ":" in host else host
    return f"{scheme}://{shown}:{port}{context_path}"


@dataclass
class SandboxHandle:
    """A running sandbox: where it listens and its live state."""

    base_url: str
    """`http://127.0.0.1:PORT/prometheus`."""
    host: str
    port: int
    app: SandboxApp
    server: uvicorn.Server

    @property
    def state(self) -> SandboxState:
        """The live server state (outbox, stats, data version, nonces...)."""
        return self.app.state

    @property
    def config(self) -> SandboxConfig:
        """The live configuration (changes made through `/_sandbox/config` show here)."""
        return self.app.config


@contextlib.contextmanager
def running_sandbox(
    config: SandboxConfig | None = None,
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    log_level: str = "warning",
) -> Iterator[SandboxHandle]:
    """Run a sandbox in a background thread until the block ends.

    `port=0` picks a free port. Waits until health answers before yielding the handle, and
    stops the server (and joins its thread) on exit.
    """
    config = replace(config or SandboxConfig(), host=host)
    sock = bind_socket(host, port)
    actual_port = sock.getsockname()[1]
    config.port = actual_port
    app = create_app(config)
    server = make_server(app, log_level=log_level)
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name="partner-sandbox", daemon=True
    )
    thread.start()
    handle = SandboxHandle(
        base_url=base_url_for(host, actual_port, config.context_path, config.scheme),
        host=host,
        port=actual_port,
        app=app,
        server=server,
    )
    try:
        _wait_healthy(handle, thread)
        yield handle
    finally:
        server.should_exit = True
        thread.join(_STOP_TIMEOUT)
        if thread.is_alive():
            server.force_exit = True
            thread.join(_STOP_TIMEOUT)
        sock.close()


def _wait_healthy(handle: SandboxHandle, thread: threading.Thread) -> None:
    deadline = time.monotonic() + _START_TIMEOUT
    url = handle.base_url + "/actuator/health"
    certfile = handle.config.tls_certfile
    verify: ssl.SSLContext | bool = (
        ssl.create_default_context(cafile=str(certfile)) if certfile is not None else True
    )
    while True:
        if not thread.is_alive():
            raise RuntimeError("sandbox server thread ended during start-up")
        if handle.server.started:
            try:
                if httpx.get(url, timeout=1.0, verify=verify).status_code == 200:
                    return
            except httpx.TransportError:
                pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"sandbox did not become healthy at {url}")
        time.sleep(0.01)
