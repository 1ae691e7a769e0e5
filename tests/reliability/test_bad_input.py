"""Bad input from the partner: each case gets one clear error and leaves the database untouched.

Every case runs the real sync path (`run_sync`: real client, real login through the sandbox,
a real SQLite file that already holds a good sync) against a tampering proxy that breaks one
kind of answer. The sandbox serves changed data (version 2) meanwhile, so anything that got
through would show in the database. A refused case must end `failed` with one readable line
naming the problem, every table but `sync_runs` unchanged, and one `failed` run row more. The
few cases that are harmless ("accepted safely") must sync the new data correctly instead.
"""

from __future__ import annotations

import json
import re
import shutil
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import partner_sync.core.run
from partner_api._constants import MAX_DATASET_RESTARTS
from partner_sync.core.run import run_sync
from partner_sync.core.settings import Settings
from sandbox import SandboxConfig, SandboxHandle, running_sandbox
from storage.db import make_engine
from tests.reliability.support import (
    FIGURES,
    dump_tables,
    mismatch_with_source,
    source_items,
    sync_runs,
    table_rows,
)
from tests.reliability.tamper import Proxy, Reply, Request, Script, envelope_of, tampering_proxy
from tests.support.settings import demo_settings

CITIES = 300
SEED = 31
PAGE_SIZE = 50
MB = 1024 * 1024
CONSTANTS = "/api/v1/partner/constants/"


# -- the world: sandbox, proxy, a trap on another host, a database with a good sync ---------------


@dataclass
class World:
    sandbox: SandboxHandle
    proxy: Proxy
    trap_url: str
    trap_hits: list[str]
    template: Path


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    trap, hits = _start_trap()
    with (
        running_sandbox(SandboxConfig(cities=CITIES, seed=SEED)) as sandbox,
        tampering_proxy(sandbox.base_url) as proxy,
    ):
        template = tmp_path_factory.mktemp("bad-input") / "good.db"
        outcomes = run_sync(_settings(proxy, template), ["currencies", "cities"]).outcomes
        assert [o.status for o in outcomes] == ["succeeded", "succeeded"]
        # From now on the source has changed: whatever gets through would show.
        sandbox.state.set_data_version(2)
        trap_host, trap_port = trap.getsockname()
        yield World(sandbox, proxy, f"http://{trap_host}:{trap_port}", hits, template)
    trap.close()


def _start_trap() -> tuple[socket.socket, list[str]]:
    """A listener on another loopback host that records anything that reaches it."""
    trap = socket.socket()
    trap.bind(("127.0.0.2", 0))
    trap.listen(8)
    hits: list[str] = []

    def accept() -> None:
        while True:
            try:
                conn, _ = trap.accept()
            except OSError:
                return
            with conn:
                hits.append(conn.recv(65536).decode("latin-1"))

    threading.Thread(target=accept, daemon=True).start()
    return trap, hits


def _settings(proxy: Proxy, database: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {"page_size": PAGE_SIZE, "max_attempts": 2}
    values.update(overrides)
    return demo_settings(proxy.base_url, f"sqlite:///{database}", **values)


# -- scripts --------------------------------------------------------------------------------------


def on_pages(
    mutate: Callable[[dict[str, Any], int], dict[str, Any] | bytes | Reply],
    pages: tuple[int, ...] | None = (1,),
) -> Script:
    """Rewrite the sandbox's answer to the given pages of a dataset (None: every page)."""

    def script(request: Request) -> Reply | None:
        if not request.path.startswith(CONSTANTS) or request.page is None:
            return None
        if pages is not None and request.page not in pages:
            return None
        upstream = request.forward()
        if upstream.status_code != 200:
            return Reply.of(upstream)
        result = mutate(envelope_of(upstream), request.page)
        if isinstance(result, Reply):
            return result
        body = result if isinstance(result, bytes) else json.dumps(result).encode()
        return Reply.of(upstream, body)

    return script


def replace_page(reply: Reply, pages: tuple[int, ...] | None = (1,)) -> Script:
    """Answer the given pages with `reply` instead of asking the sandbox."""
    return on_pages(lambda envelope, page: reply, pages)


def content(change: Callable[[list[dict[str, Any]]], None]) -> Callable[..., dict[str, Any]]:
    """A mutation of the page's items."""

    def mutate(envelope: dict[str, Any], page: int) -> dict[str, Any]:
        change(envelope["data"]["content"])
        return envelope

    return mutate


def data(change: Callable[[dict[str, Any], int], None]) -> Callable[..., dict[str, Any]]:
    """A mutation of the page's `data`."""

    def mutate(envelope: dict[str, Any], page: int) -> dict[str, Any]:
        change(envelope["data"], page)
        return envelope

    return mutate


def error_envelope(code: str, message: str) -> bytes:
    return json.dumps(
        {"version": "2.0.0", "success": False, "code": code, "message": message, "data": None}
    ).encode()


def _zeros(total: int, chunk: int = MB) -> Iterator[bytes]:
    sent = 0
    while sent < total:
        piece = min(chunk, total - sent)
        sent += piece
        yield b" " * piece  # JSON whitespace: a parser would wait for more


def _set(item: dict[str, Any], key: str, value: Any) -> None:
    item[key] = value


def _duplicate(items: list[dict[str, Any]]) -> None:
    items[1] = dict(items[0])


def _past_the_end(envelope: dict[str, Any], page: int) -> dict[str, Any]:
    # The totals promise one page more than exists (the real last page padded to full with
    # made-up rows), so the client asks for a page past the end and gets it empty.
    d = envelope["data"]
    real_pages = d["totalPages"]
    if page == real_pages - 1:
        d["content"] += [
            {"code": f"Q{n:02d}", "numeric": "999", "name": f"Padding {n}"}
            for n in range(PAGE_SIZE - len(d["content"]))
        ]
    if page < real_pages or not d["content"]:
        d["totalElements"] = (real_pages + 1) * PAGE_SIZE
        d["totalPages"] = real_pages + 1
    return envelope


# -- the cases ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    name: str
    script: Script | None
    says: str  # a regex the one-line error must match; "" for an accepted case
    dataset: str = "currencies"
    build: Callable[[World], Script] | None = None  # for scripts that need the world
    failed_runs: int = 1

    @property
    def accepted(self) -> bool:
        return not self.says


def _overlapping(world: World) -> Script:
    first_page: list[dict[str, Any]] = []

    def mutate(envelope: dict[str, Any], page: int) -> dict[str, Any]:
        items = envelope["data"]["content"]
        if page == 0:
            first_page[:] = items
        else:
            envelope["data"]["content"] = first_page[-10:] + items[10:]
        return envelope

    return on_pages(mutate, pages=(0, 1))


def _redirect(world: World) -> Script:
    return replace_page(Reply(302, headers=[("Location", world.trap_url + "/steal")]))


def _garbage_date(request: Request) -> Reply:
    reply = Reply.of(request.forward())
    reply.date = "Someday, 99 Foo 20x9 25:61:61 XYZ"
    return reply


def _expires_once(world: World) -> Script:
    done: list[bool] = []

    def script(request: Request) -> Reply | None:
        if request.path.startswith(CONSTANTS) and request.page == 2 and not done:
            done.append(True)
            world.sandbox.state.expire_tokens()  # the real token dies mid-read
        return None

    return script


CASES = [
    Case(
        "non-JSON body",
        replace_page(Reply(200, b"hello, world", [("Content-Type", "text/plain")])),
        r"not the API's JSON envelope \(text/plain",
    ),
    Case(
        "HTML error page with 200",
        replace_page(
            Reply(
                200,
                b"<html><body><h1>502 Bad Gateway</h1>\n<p>nginx</p></body></html>",
                [("Content-Type", "text/html")],
            )
        ),
        r"not the API's JSON envelope \(text/html",
    ),
    Case(
        "success:false with 200",
        replace_page(Reply(200, error_envelope("5000", "database down"))),
        r"success:false \(code 5000: database down\)",
    ),
    Case(
        "unknown envelope version",
        on_pages(lambda e, p: {**e, "version": "3.0.0"}),
        r"envelope version '3.0.0'",
    ),
    Case(
        "data of the wrong type (a string)",
        on_pages(lambda e, p: {**e, "data": "surprise"}),
        r"breaks the contract: data",
    ),
    Case(
        "data of the wrong type (a bare list)",
        on_pages(lambda e, p: {**e, "data": e["data"]["content"]}),
        r"breaks the contract: data",
    ),
    Case(
        "an item missing its key",
        on_pages(content(lambda items: items[3].pop("code"))),
        r"currencies: field 'code' is not what the contract says \(Field required\) in item 3 "
        r"\(data\.content\.3\); currencies is refused, its stored rows are kept",
    ),
    Case(
        "a key of the wrong type",
        on_pages(content(lambda items: _set(items[0], "code", 978))),
        r"field 'code' is not what the contract says \(Input should be a valid string, got an "
        r"integer\) in item code 978 \(data\.content\.0\)",
    ),
    Case(
        "duplicate keys within one response",
        on_pages(content(_duplicate)),
        r"duplicate key '\w+' in currencies",
    ),
    Case("overlapping pages", None, r"duplicate key '\w+' in currencies", build=_overlapping),
    Case(
        "a null name",
        on_pages(content(lambda items: _set(items[2], "name", None))),
        r"field 'name' is not what the contract says \(Input should be a valid string, got null\) "
        r"in item code '\w+' \(data\.content\.2\)",
    ),
    Case(
        "a required field missing",
        on_pages(content(lambda items: items[0].pop("numeric"))),
        r"field 'numeric' is not what the contract says \(Field required\) in item code '\w+'",
    ),
    Case(
        "a string of 1 MB",
        on_pages(content(lambda items: _set(items[0], "name", "x" * MB))),
        r"field 'name' is not what the contract says \(String should have at most 4096 "
        r"characters\) in item code '\w+'",
    ),
    Case(
        "a 50 MB body with its length announced",
        replace_page(Reply(200, _zeros(50 * MB), [("Content-Length", str(50 * MB))])),
        r"announced a 52,428,800-byte body, over the 33,554,432-byte cap",
    ),
    Case(
        "a 50 MB body streamed without a length",
        replace_page(Reply(200, _zeros(50 * MB))),
        r"sent more than the 33,554,432-byte cap",
    ),
    Case(
        "totalPages that lies",
        on_pages(data(lambda d, p: _set(d, "totalPages", 1)), pages=None),
        r"totalPages 1 does not fit totalElements \d+",
    ),
    Case(
        "totals that change between pages",
        on_pages(data(lambda d, p: _set(d, "totalElements", d["totalElements"] + 1))),
        r"currencies changed while being read",
        failed_runs=1 + MAX_DATASET_RESTARTS,  # each read again is a run of its own
    ),
    Case(
        "a page past the end",
        on_pages(_past_the_end, pages=None),
        r"currencies page 4 has 0 items where the paging totals say 50",
    ),
    Case(
        "the wrong page number",
        on_pages(data(lambda d, p: _set(d, "page", 0))),
        r"asked for page 1, the server answered page 0",
    ),
    Case(
        "more items than the page size",
        on_pages(content(lambda items: items.append(dict(items[0], code="ZZZ")))),
        r"currencies page 1 has 51 items where the paging totals say 50",
    ),
    Case(
        "a negative totalElements",
        on_pages(data(lambda d, p: _set(d, "totalElements", -1)), pages=(0,)),
        r"data\.totalElements: Input should be greater than or equal to 0",
    ),
    Case(
        "invalid UTF-8",
        on_pages(
            lambda e, p: json.dumps(e).encode().replace(b'"name": "', b'"name": "\xff\xfe', 1)
        ),
        r"not the API's JSON envelope",
    ),
    Case("an empty 200 body", replace_page(Reply(200, b"")), r"not the API's JSON envelope"),
    Case("a JSON null body", replace_page(Reply(200, b"null")), r"not the API's JSON envelope"),
    Case(
        "a truncated JSON body",
        on_pages(lambda e, p: json.dumps(e).encode()[:700]),
        r"not the API's JSON envelope",
    ),
    Case(
        "JSON nested 100,000 deep",
        replace_page(Reply(200, b"[" * 100_000 + b"]" * 100_000)),
        r"not the API's JSON envelope",
    ),
    Case(
        "a 304 without a prior ETag",
        replace_page(Reply(304)),
        r"answered 304 Not Modified to a request without If-None-Match",
    ),
    Case(
        "a Retry-After of a year",
        replace_page(
            Reply(429, error_envelope("4290", "slow down"), [("Retry-After", "31536000")])
        ),
        r"wait 31,536,000 s, more than PARTNER_MAX_RETRY_AFTER",
    ),
    Case(
        "a redirect to another host",
        None,
        r"answered 302 redirecting to 'http://127\.0\.0\.2:\d+/steal'; redirects are not followed",
        build=_redirect,
    ),
    Case(
        "a session token that keeps expiring mid-sync",
        replace_page(Reply(401, error_envelope("4010", "session token unknown or expired"))),
        r"answered 401 4010: session token unknown or expired",
    ),
    Case(
        "an HTML 500 page on every try",
        replace_page(Reply(500, b"<html>oops</html>\n", [("Content-Type", "text/html")])),
        r"answered 500 \(text/html, 18 bytes\)",
    ),
    Case(
        "an error message with newlines and 100 kB of text",
        replace_page(Reply(400, error_envelope("4000", "bad\nrequest\r\n" + "y" * 100_000))),
        r"answered 400 4000: bad request y+",
    ),
    Case(
        "a NaN latitude",
        on_pages(
            lambda e, p: (
                json.dumps(e).encode().replace(b'"latitude": ', b'"latitude": NaN, "x": ', 1)
            )
        ),
        r"field 'latitude' is not what the contract says \(Input should be a finite number\) in "
        r"item id \d+ \(data\.content\.0\)",
        dataset="cities",
    ),
    Case(
        "an infinite population",
        on_pages(content(lambda items: _set(items[0], "population", 10**400))),
        r"field 'population' is not what the contract says \(Input should be "
        r"(a finite number|less than)",
        dataset="cities",
    ),
    # Accepted safely: harmless oddities that must not fail the sync.
    Case("a garbage Date header", _garbage_date, ""),
    Case("a session token that expires once mid-sync", None, "", build=_expires_once),
    Case(
        "unknown extra fields in items and envelope",
        on_pages(lambda e, p: {**e, "traceId": "abc", "data": e["data"]}),
        "",
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_input_is_refused_in_one_line_and_changes_nothing(
    case: Case, world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    database = tmp_path / "sync.db"
    shutil.copy(world.template, database)
    engine = make_engine(f"sqlite:///{database}")
    before = dump_tables(engine)
    runs_before = sync_runs(engine)
    raw_errors: list[str] = []
    real_one_line = partner_sync.core.run.one_line

    def recording_one_line(exc: BaseException) -> str:
        raw_errors.append(str(exc))
        return real_one_line(exc)

    monkeypatch.setattr(partner_sync.core.run, "one_line", recording_one_line)
    hits_before = len(world.trap_hits)
    world.proxy.use(case.build(world) if case.build else case.script)
    try:
        (outcome,) = run_sync(
            _settings(world.proxy, database), [case.dataset], full_refresh=True
        ).outcomes
        # Read before `use(None)` below resets the count.
        sent = world.proxy.settled_bytes_sent()
    finally:
        world.proxy.use(None)
    new_runs = sync_runs(engine)[len(runs_before) :]
    assert len(world.trap_hits) == hits_before, "a request reached the other host"
    if case.accepted:
        assert outcome.status == "succeeded", outcome.error
        source = source_items(case.dataset, CITIES, 2, SEED)
        assert mismatch_with_source(table_rows(engine, case.dataset), source) is None
        assert [r["status"] for r in new_runs] == ["succeeded"]
        FIGURES.setdefault("bad input: accepted safely", []).append(case.name)
    else:
        assert outcome.status == "failed"
        assert outcome.error is not None
        assert re.search(case.says, outcome.error), outcome.error
        # The client's own message is one line, and short enough to read.
        assert raw_errors, "the failure never reached one_line"
        assert all("\n" not in e and "\r" not in e for e in raw_errors), raw_errors
        assert all(len(e) <= 600 for e in raw_errors), [len(e) for e in raw_errors]
        assert dump_tables(engine) == before
        assert [r["status"] for r in new_runs] == ["failed"] * case.failed_runs
        assert all(r["error"] and "\n" not in r["error"] for r in new_runs)
        FIGURES.setdefault("bad input: refused", []).append(case.name)
    if "50 MB" in case.name:
        assert sent < 50 * MB, f"the 50 MB body was read whole ({sent:,} bytes sent)"
    engine.dispose()
