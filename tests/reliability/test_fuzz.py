"""Fuzzing both ends of the contract with hypothesis.

The sandbox's verifier gets signed requests with one part broken (and raw bytes no HTTP
client would send), straight through its ASGI interface: it never crashes, every rejection
is a contract error code, and a replayed request is refused as a replay. The client's
envelope parser gets arbitrary answers through `httpx.MockTransport`: every answer becomes
one `PartnerError` with a one-line message, or data that an independent reading of the
contract (`_accepted_items`) agrees is a valid answer, item for item.

Each test is a `ci` case (150 examples, `make test`) and a `full` case (2,000, `slow`).
"""

from __future__ import annotations

import asyncio
import json
import math
import string
import time
import uuid
from typing import Any

import httpx
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from partner_api import PartnerClient, PartnerError, RetryPolicy
from sandbox import DEMO_API_KEY, DEMO_API_SECRET, SandboxConfig, create_app
from tests.reliability.support import FIGURES, Size
from tests.support.signing import sign_request

CONTRACT_CODES = {
    "2000",
    "4000",
    "4010",
    "4011",
    "4012",
    "4013",
    "4030",
    "4031",
    "4032",
    "4033",
    "4034",
    "4040",
    "4290",
    "5000",
    "5030",
}
#: The sandbox's timestamp window (seconds either way).
WINDOW = 60
#: Clock skews of the signed timestamp: well inside the window or well outside it, never
#: near its edge, where the whole-second timestamp and the time the request takes decide.
INSIDE = (0, 30, -30)
SKEWS = (*INSIDE, 90, -90, 10**6)


def _fuzz(size: Size) -> settings:
    # Both sizes try the same examples every run (tests/conftest.py's hypothesis profile);
    # the full size tries more of them.
    return settings(
        max_examples=size(150, 2_000),
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


# -- the sandbox's verifier -----------------------------------------------------------------------

APP = create_app(SandboxConfig(cities=10))
CONTEXT = "/prometheus"
ROUTES = [
    ("POST", "/api/v1/partner/auth/login/initiate"),
    ("POST", "/api/v1/partner/auth/login/mfa/send"),
    ("POST", "/api/v1/partner/auth/login/mfa/verify"),
    ("POST", "/api/v1/partner/auth/logout"),
    ("GET", "/api/v1/partner/constants/countries"),
    ("GET", "/api/v1/partner/constants/cities"),
    ("GET", "/api/v1/partner/constants/nothing"),
    ("GET", "/web/v1/users"),
    ("DELETE", "/api/v1/partner/auth/logout"),
]
MUTATIONS = [
    "none",
    "signature",
    "path",
    "body",
    "query",
    "key",
    "drop-header",
    "garbage-header",
    "timestamp",
    "replay",
    "method",
]


def _asgi(
    method: str,
    raw_path: bytes,
    query: bytes,
    headers: list[tuple[bytes, bytes]],
    body: bytes,
) -> tuple[int, bytes]:
    """One request straight into the sandbox app: (status, body)."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": raw_path.decode("latin-1"),
        "raw_path": raw_path,
        "query_string": query,
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 40000),
        "server": ("127.0.0.1", 18020),
    }
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(APP(scope, receive, send))
    status = next(m["status"] for m in sent if m["type"] == "http.response.start")
    return status, b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")


_seen_codes: set[str] = set()


_VERIFIER_INPUTS = {
    "route": st.sampled_from(ROUTES),
    "body": st.one_of(
        st.binary(max_size=80),
        st.dictionaries(st.text(max_size=10), st.text(max_size=10), max_size=3).map(
            lambda d: json.dumps(d).encode()
        ),
        st.just(b'{"email":"partner@example.com","password":"Str0ngP@ss!"}'),
    ),
    "query": st.sampled_from([b"", b"page=0&size=5", b"page=-1", b"size=0", b"%ff%fe", b"a=b"]),
    "mutation": st.sampled_from(MUTATIONS),
    "garbage": st.binary(min_size=0, max_size=64),
    "skew": st.sampled_from(SKEWS),
}


def test_the_sandbox_verifier_answers_every_request_with_a_contract_code(size: Size) -> None:
    _fuzz(size)(given(**_VERIFIER_INPUTS)(_verifier_answers_with_a_contract_code))()


def _verifier_answers_with_a_contract_code(
    route: tuple[str, str],
    body: bytes,
    query: bytes,
    mutation: str,
    garbage: bytes,
    skew: int,
) -> None:
    method, sub = route
    path = sub.encode()
    timestamp = str(int(time.time()) + skew).encode()
    nonce = uuid.uuid4().hex.encode()
    signed_path = path + (b"?" + query if query else b"")
    parts = (signed_path.decode(), timestamp.decode(), nonce.decode())
    signature = sign_request(DEMO_API_SECRET, method, *parts, body).encode()
    headers = {
        b"authorization": b"HMAC-SHA256 " + signature,
        b"x-api-key": DEMO_API_KEY.encode(),
        b"x-timestamp": timestamp,
        b"x-nonce": nonce,
        b"x-session-token": b"not-a-token",
    }
    raw_path = CONTEXT.encode() + path
    if mutation == "signature":
        headers[b"authorization"] = b"HMAC-SHA256 " + (garbage or signature[::-1])
    elif mutation == "path":
        raw_path += b"/" + garbage.replace(b"?", b"")
    elif mutation == "body":
        body += garbage or b"x"
    elif mutation == "query":
        query += b"&" + garbage
    elif mutation == "key":
        headers[b"x-api-key"] = garbage
    elif mutation == "drop-header":
        del headers[list(headers)[len(garbage) % 4]]
    elif mutation == "garbage-header":
        headers[list(headers)[len(garbage) % 5]] = garbage
    elif mutation == "timestamp":
        headers[b"x-timestamp"] = garbage
    elif mutation == "method":
        method = "PUT"
    pairs = list(headers.items())
    status, answer = _asgi(method, raw_path, query, pairs, body)
    if mutation == "replay":
        first = json.loads(answer)["code"]
        status, answer = _asgi(method, raw_path, query, pairs, body)
        again = (status, json.loads(answer)["code"])
        # Signed right, the first request passes the signature and, inside the window, the
        # timestamp, so it used its nonce whatever came next: the copy is a replay. Outside
        # the window both copies fail the timestamp check.
        if skew in INSIDE:
            assert again == (403, "4032"), (skew, first, answer[:200])
        else:
            assert (first, *again) == ("4031", 403, "4031"), (skew, first, answer[:200])
    assert status in {200, 304, 400, 401, 403, 404, 429, 503}, (status, answer[:200])
    envelope = json.loads(answer)
    assert envelope["code"] in CONTRACT_CODES
    assert envelope["success"] is (envelope["code"] == "2000")
    if status != 200:
        assert envelope["data"] is None and isinstance(envelope["message"], str)
    _seen_codes.add(envelope["code"])
    FIGURES["fuzz: sandbox codes seen"] = ", ".join(sorted(_seen_codes))


# -- the client's envelope parser -----------------------------------------------------------------

_PRINTABLE = st.text(alphabet=string.printable.strip("\n\r\x0b\x0c") + " ", max_size=40)
_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
_CITY = st.fixed_dictionaries(
    {},
    optional={
        "id": st.one_of(st.integers(), st.text(max_size=5), st.floats(), st.none()),
        "name": st.one_of(st.text(max_size=30), st.none(), st.integers()),
        "countryCode": st.one_of(st.text(max_size=4), st.none()),
        "population": st.one_of(st.integers(min_value=-(2**70), max_value=2**70), st.floats()),
        "latitude": st.one_of(st.floats(), st.integers(), st.text(max_size=4)),
        "longitude": st.floats(),
        "timezone": st.one_of(st.text(max_size=20), _JSON),
        "extra": _JSON,
    },
)
_PAGE = st.fixed_dictionaries(
    {},
    optional={
        "content": st.one_of(st.lists(_CITY, max_size=4), _JSON),
        "page": st.one_of(st.integers(-2, 3), _JSON),
        "size": st.one_of(st.integers(-1, 11), _JSON),
        "totalElements": st.one_of(st.integers(-5, 50), st.floats(), _JSON),
        "totalPages": st.one_of(st.integers(-1, 6), _JSON),
    },
)
_ENVELOPE = st.fixed_dictionaries(
    {},
    optional={
        "version": st.one_of(st.sampled_from(["2.0.0", "2.1", "3.0.0", "", "2"]), _JSON),
        "success": st.one_of(st.booleans(), _JSON),
        "code": st.one_of(st.sampled_from(["2000", "4010", "4031", "4290", "5030"]), _JSON),
        "message": st.one_of(st.none(), st.text(max_size=300)),
        "data": st.one_of(_PAGE, _JSON),
    },
)
_BODY = st.one_of(
    st.binary(max_size=120),
    _JSON.map(lambda v: json.dumps(v).encode()),
    _ENVELOPE.map(lambda v: json.dumps(v).encode()),
    _ENVELOPE.map(lambda v: json.dumps(v).encode()[: len(json.dumps(v)) // 2]),
)
_HEADERS = st.fixed_dictionaries(
    {},
    optional={
        "Retry-After": st.one_of(_PRINTABLE, st.integers(0, 10**12).map(str)),
        "Date": st.one_of(
            _PRINTABLE, st.just("Mon, 01 Jan 2024 00:00:00 GMT"), st.just("Tue, 99 Foo 99999")
        ),
        "Location": _PRINTABLE,
        "Content-Type": _PRINTABLE,
        "ETag": _PRINTABLE,
    },
)


def _check_one_line(exc: PartnerError) -> None:
    message = str(exc)
    assert message, type(exc).__name__
    assert "\n" not in message and "\r" not in message, message
    assert len(message) <= 1500, len(message)


_STALE_DATE = {"Date": "Mon, 01 Jan 2024 00:00:00 GMT"}


def _good_page_with(**changes: Any) -> bytes:
    """A valid one-city page 0, with `changes` to the envelope, the page or the city."""
    city = {
        "id": 7,
        "name": "Aberdeen",
        "countryCode": "GB",
        "population": 198590,
        "latitude": 57.14,
        "longitude": -2.1,
        "timezone": "Europe/London",
        "extra": {"kept": True},
    }
    page = {"content": [city], "page": 0, "size": 10, "totalElements": 1, "totalPages": 1}
    envelope = {"version": "2.0.0", "success": True, "code": "2000", "data": page}
    for key, value in changes.items():
        next(part for part in (envelope, page, city) if key in part)[key] = value
    return json.dumps(envelope).encode()


_GOOD_PAGE = _good_page_with()
_TWO_LINES = json.dumps(
    {"version": "2.0.0", "success": False, "code": "4000", "message": "a\nb" + "c" * 5000}
).encode()


def test_the_client_turns_any_answer_into_data_or_one_partner_error(size: Size) -> None:
    @_fuzz(size)
    # Answers that broke the client once (found by this test, kept so CI always tries them).
    @example(status=301, headers={"Location": "A:0"}, body=b"", etag=None)
    @example(status=200, headers={}, body=b"[" * 50_000 + b"]" * 50_000, etag=None)
    @example(status=400, headers=_STALE_DATE, body=_TWO_LINES, etag=None)
    @example(status=200, headers={}, body=b'{"version":"2","success":true,"code":""}', etag=None)
    @example(
        status=200,
        headers={},
        body=json.dumps(
            {"version": "2.0.0", "success": False, "code": "5\n0" * 999, "message": None}
        ).encode(),
        etag=None,
    )
    # A valid one-page answer, so the accepted path is always taken too.
    @example(status=200, headers={}, body=_GOOD_PAGE, etag=None)
    # The same page, each with one thing the contract forbids.
    @example(status=200, headers={}, body=_good_page_with(version="3.0.0"), etag=None)
    @example(status=200, headers={}, body=_good_page_with(success=False), etag=None)
    @example(status=200, headers={}, body=_good_page_with(page=1), etag=None)
    @example(status=200, headers={}, body=_good_page_with(latitude=math.nan), etag=None)
    @example(status=200, headers={}, body=_good_page_with(name=""), etag=None)
    @example(status=200, headers={}, body=_good_page_with(id=None), etag=None)
    @example(status=304, headers={}, body=b"", etag=None)
    @example(status=304, headers={}, body=b"", etag='"e1"')
    @given(
        status=st.sampled_from(
            [200, 201, 204, 301, 302, 304, 400, 401, 403, 404, 418, 429, 500, 503]
        ),
        headers=_HEADERS,
        body=_BODY,
        etag=st.sampled_from([None, '"e1"']),
    )
    def answer_once(status: int, headers: dict[str, str], body: bytes, etag: str | None) -> None:
        _data_or_one_partner_error(status, headers, body, etag)

    _accepted[0] = 0
    answer_once()
    FIGURES[f"fuzz ({size.name}): client answers accepted as data"] = _accepted[0]


_accepted = [0]


def _data_or_one_partner_error(
    status: int, headers: dict[str, str], body: bytes, etag: str | None
) -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, headers=headers, content=body)

    client = PartnerClient(
        "http://127.0.0.1:1/prometheus",
        "key",
        "secret",
        transport=httpx.MockTransport(answer),
        retry_policy=RetryPolicy(max_attempts=1),
        sleep=lambda seconds: None,
    )
    try:
        try:
            page = client.fetch_page("cities", 0, 10, etag)
        except PartnerError as exc:
            _check_one_line(exc)
        else:
            items = [] if page.not_modified else page.data.content
            expected = _accepted_items(status, body, etag, page=None)
            assert _same(items, expected), (status, body[:300], items)
            _accepted[0] += 1
        try:
            read = client.read_dataset("cities", {"0/10": etag} if etag else None)
            items = [item for chunk in read for item in chunk]
        except PartnerError as exc:
            _check_one_line(exc)
        else:
            expected = _accepted_items(status, body, etag, page=0)
            assert _same(items, expected), (status, body[:300], items)
            if not read.not_modified:  # the whole dataset sits in this one page
                assert read.total_elements == len(items)
            _accepted[0] += 1
    finally:
        client.close()


# -- what the contract lets a client accept, read independently of the client -------------------


def _accepted_items(status: int, body: bytes, etag: str | None, *, page: int | None) -> list[Any]:
    """The cities an acceptable answer carries; fails when the answer is not acceptable.

    Acceptable: a 304 to a request with `If-None-Match` (no items), or a 2xx success
    envelope of major version 2 whose `data` is a page (`page`, when the caller checks
    which page came back, as a whole read does) and whose items are whole cities
    (docs/partner-api.md §2.1, §2.4). Numbers are compared as the values they denote
    (`"1.5"` and `1.5` are one latitude); anything else must be equal.
    """
    if status == 304:
        assert etag is not None, "a 304 to an unconditional request was accepted"
        return []
    assert 200 <= status < 300, f"a {status} answer was accepted as data"
    envelope = json.loads(body)
    assert isinstance(envelope, dict), envelope
    version = envelope.get("version")
    assert isinstance(version, str) and version.split(".", 1)[0] == "2", version
    assert envelope.get("success") in (True, 1, "true"), envelope.get("success")
    data = envelope.get("data")
    assert isinstance(data, dict), data
    content = data.get("content")
    assert isinstance(content, list), content
    for name in ("page", "size", "totalElements", "totalPages"):
        assert type(data.get(name)) is int, (name, data.get(name))
    assert page is None or data["page"] == page, (page, data)
    assert data["size"] >= 1, data
    assert data["totalElements"] >= 0 and data["totalPages"] >= 0, data
    return [_city(item) for item in content]


_CITY_FIELDS = {
    "id": int,
    "name": str,
    "countryCode": str,
    "population": int,
    "latitude": float,
    "longitude": float,
    "timezone": str,
}


def _city(item: Any) -> dict[str, Any]:
    """The city an item denotes; fails when it is not a whole, finite, sized city."""
    assert isinstance(item, dict), item
    city = dict(item)
    for name, kind in _CITY_FIELDS.items():
        assert name in item, f"a city without {name} was accepted: {item}"
        value = item[name]
        assert not isinstance(value, bool), (name, value)
        if kind is str:
            assert isinstance(value, str) and 1 <= len(value) <= 4096, (name, value)
            continue
        number = float(value) if kind is float else _whole(value)
        assert math.isfinite(number), (name, value)
        if kind is int:
            assert -(2**63) <= number <= 2**63 - 1, (name, value)
        city[name] = number
    return city


def _same(got: list[Any], expected: list[Any]) -> bool:
    """Equal as JSON (so a NaN kept in an extra field equals itself)."""
    return json.dumps(got, sort_keys=True) == json.dumps(expected, sort_keys=True)


def _whole(value: Any) -> int:
    number = float(value) if isinstance(value, float | str) else value
    assert isinstance(number, int) or (isinstance(number, float) and number.is_integer()), value
    return int(number)
