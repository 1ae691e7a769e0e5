"""Partner faults: a body that stops half-way, headers that trickle in, a name that does not resolve.

The half-way body is the sandbox's real answer cut by the tampering proxy of the reliability
tests (`tests/reliability/tamper.py`): it promises the whole length, sends half and closes.
The trickle is a raw socket server that sends a status line and headers one byte every
0.5 s, each byte well inside `PARTNER_TIMEOUT` (1 s) but the whole far slower. The name is
`partner.invalid`, which no resolver answers (RFC 6761).
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest

from sandbox import SandboxHandle
from tests.faults.support import CliResult, Scenario, assert_one_line, run_cli
from tests.reliability.tamper import Reply, Request, tampering_proxy

CITIES = "/api/v1/partner/constants/cities"


def cut_in_half(request: Request) -> Reply | None:
    """The second page of cities: full length announced, half sent, connection closed."""
    if not request.path.startswith(CITIES) or request.page != 1:
        return None
    upstream = request.forward()
    reply = Reply.of(upstream)
    body = upstream.content
    reply.headers = [h for h in reply.headers if h[0].lower() != "content-length"]
    # A declared length makes the proxy send the chunks raw; `Connection: close` hangs up.
    reply.headers += [("Content-Length", str(len(body))), ("Connection", "close")]
    reply.body = iter([body[: len(body) // 2]])
    return reply


def test_a_body_that_stops_half_way_fails_the_dataset_and_changes_nothing(
    prepare: Callable[..., Scenario],
    sandbox: SandboxHandle,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with tampering_proxy(sandbox.base_url) as proxy:
        monkeypatch.setenv("PARTNER_BASE_URL", proxy.base_url)
        monkeypatch.setenv("PARTNER_PAGE_SIZE", "1000")
        # One page at a time: the count below is of one page's tries, which pages read
        # ahead concurrently (and cut as well) would blur.
        monkeypatch.setenv("PARTNER_CONCURRENCY", "1")
        scenario = prepare()
        proxy.use(cut_in_half)
        result = run_cli()
        cut = sum(1 for r in proxy.requests if r.path.startswith(CITIES) and r.page == 1)
        proxy.use(None)

        assert cut == 2, "each of PARTNER_MAX_ATTEMPTS=2 tries got the cut body"
        assert_one_line(
            result,
            r"^1 failed of 4 datasets: cities: GET /api/v1/partner/constants/cities failed "
            r"mid-exchange \(RemoteProtocolError: peer closed connection without sending "
            r"complete message body",
        )
        scenario.assert_untouched(faulted=("cities",))
        scenario.assert_next_run_completes()


@contextmanager
def trickling_server(interval: float) -> Iterator[str]:
    """A server that answers any request with headers trickled one byte per `interval` s."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    stop = threading.Event()

    def answer(conn: socket.socket) -> None:
        with conn:
            conn.recv(65536)
            for byte in (
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-Slow: " + b"a" * 600
            ):
                if stop.wait(interval):
                    return
                try:
                    conn.sendall(bytes([byte]))
                except OSError:
                    return

    def accept() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            threading.Thread(target=answer, args=(conn,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}/prometheus"
    finally:
        stop.set()
        listener.close()


#: `PARTNER_TIMEOUT` in the trickle test; each byte comes well within it.
TRICKLE_TIMEOUT = 1.0
#: Each try of a request may last 4 x PARTNER_TIMEOUT in all (EXCHANGE_DEADLINE_FACTOR);
#: the login makes 2 tries (PARTNER_MAX_ATTEMPTS) and restarts once: about 17 s here.
TRICKLE_PATIENCE = 30.0


def test_headers_that_trickle_in_slower_than_the_timeout_end_the_login_in_one_line(
    prepare: Callable[..., Scenario], monkeypatch: pytest.MonkeyPatch
) -> None:
    scenario = prepare()
    monkeypatch.setenv("PARTNER_TIMEOUT", str(TRICKLE_TIMEOUT))
    results: list[CliResult] = []
    with trickling_server(interval=TRICKLE_TIMEOUT / 2) as url:
        monkeypatch.setenv("PARTNER_BASE_URL", url)
        worker = threading.Thread(target=lambda: results.append(run_cli()), daemon=True)
        started = time.monotonic()
        worker.start()
        worker.join(TRICKLE_PATIENCE)
        hung = worker.is_alive()
    # Leaving the block stopped the trickle: the hung login now times out and ends.
    worker.join(30)
    monkeypatch.undo()
    assert not hung, f"the login still waited for headers after {time.monotonic() - started:.0f} s"
    assert_one_line(results[0], r"^4 skipped of 4 datasets: login: .*timed out")
    scenario.assert_untouched()


def test_a_name_that_does_not_resolve_is_one_line_naming_the_url(
    prepare: Callable[..., Scenario], sandbox: SandboxHandle, monkeypatch: pytest.MonkeyPatch
) -> None:
    scenario = prepare()
    monkeypatch.setenv("PARTNER_BASE_URL", "https://partner.invalid/prometheus")
    started = time.monotonic()
    result = run_cli()
    took = time.monotonic() - started

    assert_one_line(
        result,
        r"^4 skipped of 4 datasets: login: cannot reach the Partner API at "
        r"https://partner\.invalid/prometheus \(ConnectError: .+\); check PARTNER_BASE_URL",
    )
    assert took < 30, took
    scenario.assert_untouched()
    monkeypatch.setenv("PARTNER_BASE_URL", sandbox.base_url)
    scenario.assert_next_run_completes()
