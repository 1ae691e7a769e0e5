"""A tampering proxy: forwards to a real sandbox and lets a test rewrite chosen answers.

It listens on a free loopback port with the sandbox's context path, so a client pointed at
it logs in through the sandbox for real (signatures, OTP, session token) while a test's
`script` answers the dataset requests it wants to break.
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx

_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "host"}


@dataclass
class Request:
    """What the client sent, and how to get the sandbox's own answer to it."""

    method: str
    path: str  # after the context path, without the query
    query: dict[str, str]
    headers: dict[str, str]
    forward: Callable[[], httpx.Response]

    @property
    def page(self) -> int | None:
        """The `page` parameter of a dataset request."""
        return int(self.query["page"]) if "page" in self.query else None


@dataclass
class Reply:
    """A scripted answer. `body` may be an iterable of chunks (sent chunked)."""

    status: int
    body: bytes | Iterable[bytes] = b""
    headers: list[tuple[str, str]] = field(default_factory=list)
    date: str | None = "now"  # "now": a correct Date; None: no Date; else this text

    @classmethod
    def of(cls, response: httpx.Response, body: bytes | None = None) -> Reply:
        """The sandbox's answer, optionally with another body."""
        headers = [
            (k, v)
            for k, v in response.headers.multi_items()
            if k.lower() not in _HOP_BY_HOP and k.lower() != "date"
        ]
        return cls(
            response.status_code,
            response.content if body is None else body,
            headers,
            date=response.headers.get("date"),
        )


#: A script answers a request (`None`: forward it unchanged).
Script = Callable[[Request], Reply | None]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the tests assert on outcomes, not on access logs."""

    def _serve(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length) if length else b""
        parts = urlsplit(self.path)
        context = self.server.context_path
        sub = parts.path[len(context) :] if parts.path.startswith(context) else parts.path
        headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}

        def forward() -> httpx.Response:
            return self.server.upstream.request(
                self.command, self.path, content=body, headers=headers
            )

        request = Request(
            self.command,
            sub,
            {k: v[0] for k, v in parse_qs(parts.query).items()},
            headers,
            forward,
        )
        self.server.requests.append(request)
        with self.server.busy:
            self.server.active += 1
        try:
            reply = self.server.script(request) or Reply.of(forward())
            self._send(reply)
        finally:
            with self.server.busy:
                self.server.active -= 1
                self.server.busy.notify_all()

    do_GET = do_POST = do_PUT = do_DELETE = _serve

    def _send(self, reply: Reply) -> None:
        self.send_response_only(reply.status)
        if reply.date == "now":
            self.send_header("Date", formatdate(usegmt=True))
        elif reply.date is not None:
            self.send_header("Date", reply.date)
        declared = False
        for name, value in reply.headers:
            self.send_header(name, value)
            declared |= name.lower() == "content-length"
        if isinstance(reply.body, bytes):
            if not declared:
                self.send_header("Content-Length", str(len(reply.body)))
            self.end_headers()
            self._write(reply.body)
            return
        if declared:  # a promised length: send the chunks raw
            self.end_headers()
            for chunk in reply.body:
                if not self._write(chunk):
                    return
            return
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for chunk in reply.body:
            if not self._write(b"%x\r\n%s\r\n" % (len(chunk), chunk)):
                return
        self._write(b"0\r\n\r\n")

    def _write(self, data: bytes) -> bool:
        try:
            self.wfile.write(data)
            self.wfile.flush()
        except OSError:  # the client hung up (a size cap did its job)
            self.close_connection = True
            return False
        self.server.bytes_sent += len(data)
        return True


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    upstream: httpx.Client
    context_path: str
    script: Script
    requests: list[Request]
    bytes_sent: int
    #: Requests being answered now, guarded by `busy`.
    active: int
    busy: threading.Condition


@dataclass
class Proxy:
    """A running tampering proxy."""

    base_url: str
    server: _Server

    def use(self, script: Script | None) -> None:
        """Answer with `script` from now on (None: forward everything)."""
        self.server.script = script or (lambda request: None)
        self.server.requests = []
        self.server.bytes_sent = 0

    @property
    def requests(self) -> list[Request]:
        """The requests seen since the last `use`."""
        return self.server.requests

    @property
    def bytes_sent(self) -> int:
        """Bytes written to clients since the last `use`."""
        return self.server.bytes_sent

    def settled_bytes_sent(self, timeout: float = 30.0) -> int:
        """`bytes_sent` once no answer is being written any more (a client that hung up
        stops the writing at the next chunk); raises if one is still going after `timeout`."""
        with self.server.busy:
            if not self.server.busy.wait_for(lambda: self.server.active == 0, timeout):
                raise TimeoutError(f"the proxy is still answering after {timeout:g} s")
            return self.server.bytes_sent


@contextlib.contextmanager
def tampering_proxy(upstream_base_url: str, host: str = "127.0.0.1") -> Iterator[Proxy]:
    """Run a proxy in front of `upstream_base_url` (a sandbox base URL with context path)."""
    upstream = urlsplit(upstream_base_url)
    server = _Server((host, 0), _Handler)
    server.active, server.busy = 0, threading.Condition()
    server.upstream = httpx.Client(base_url=f"{upstream.scheme}://{upstream.netloc}", timeout=30.0)
    server.context_path = upstream.path.rstrip("/")
    proxy = Proxy(f"http://{host}:{server.server_address[1]}{server.context_path}", server)
    proxy.use(None)
    thread = threading.Thread(target=server.serve_forever, name="tamper-proxy", daemon=True)
    thread.start()
    try:
        yield proxy
    finally:
        server.shutdown()
        server.server_close()
        server.upstream.close()
        thread.join(10)


def envelope_of(response: httpx.Response) -> dict[str, Any]:
    """The parsed JSON envelope of a sandbox answer."""
    value: dict[str, Any] = json.loads(response.content)
    return value
