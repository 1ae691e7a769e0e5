"""The sandbox's partner chain over real HTTP: login, every error code, the check order, datasets."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from email.utils import parsedate_to_datetime

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sandbox import (
    AUTH_ONLY_API_KEY,
    AUTH_ONLY_API_SECRET,
    DEMO_EMAIL,
    MFA_EMAIL,
    MFA_TOTP,
    SandboxConfig,
    SandboxHandle,
    build_items,
    create_app,
)
from tests.conftest import TEST_CITIES
from tests.sandbox.conftest import TEST_SEED
from tests.support.caller import Caller, assert_error, now

INITIATE = "/api/v1/partner/auth/login/initiate"
LOGOUT = "/api/v1/partner/auth/logout"
CREDENTIALS = {"email": DEMO_EMAIL, "password": "Str0ngP@ss!"}


# -- health and envelope ------------------------------------------------------------------------


def test_health_answers_up_without_auth_and_with_a_date(raw_sandbox: SandboxHandle) -> None:
    answer = httpx.get(raw_sandbox.base_url + "/actuator/health")
    assert answer.status_code == 200
    assert answer.json() == {"status": "UP"}
    assert abs(parsedate_to_datetime(answer.headers["date"]).timestamp() - now()) < 60
    assert "server" not in answer.headers


def test_unknown_path_outside_the_context_is_a_4040_envelope(raw_sandbox: SandboxHandle) -> None:
    root = raw_sandbox.base_url.removesuffix("/prometheus")
    assert_error(httpx.get(root + "/nothing/here"), 404, "4040")


# -- login --------------------------------------------------------------------------------------


def test_email_login_reads_the_otp_from_the_outbox(
    raw_sandbox: SandboxHandle, caller: Caller
) -> None:
    initiated = caller.request("POST", INITIATE, body=CREDENTIALS).json()
    assert initiated["success"] is True and initiated["code"] == "2000"
    data = initiated["data"]
    assert data["expiresIn"] == 300
    assert {"code": "EMAIL", "value": MFA_EMAIL} in data["mfaMethods"]
    assert {"code": "TOTP", "value": MFA_TOTP} in data["mfaMethods"]
    session_id = data["sessionId"]
    assert uuid.UUID(session_id).version == 4

    sent = caller.send_otp(session_id).json()["data"]
    assert sent["sent"] is True
    assert sent["destination"] == "p***@example.com"
    assert 0 < sent["expiresIn"] <= 300

    outbox = httpx.get(raw_sandbox.base_url + "/_sandbox/outbox", params={"sessionId": session_id})
    messages = outbox.json()["messages"]
    assert len(messages) == 1
    assert set(messages[0]) == {"to", "sessionId", "otp", "sentAt"}
    assert messages[0]["to"] == DEMO_EMAIL
    otp = messages[0]["otp"]
    assert len(otp) == 6 and otp.isdigit()

    verified = caller.verify(session_id, otp).json()["data"]
    assert verified["tokenType"] == "Bearer"
    assert verified["expiresIn"] == 3600
    assert set(verified["scopes"]) == {"partner:auth", "partner:constants:read"}
    countries = caller.dataset("countries", token=verified["accessToken"])
    assert countries.status_code == 200
    # the login session is used up by the successful verify
    assert_error(caller.verify(session_id, otp), 401, "4013")


def test_only_the_newest_email_otp_is_valid(caller: Caller) -> None:
    session_id = caller.initiate()
    caller.send_otp(session_id)
    first = caller.sandbox.state.latest_otp(session_id)
    caller.send_otp(session_id)
    second = caller.sandbox.state.latest_otp(session_id)
    assert first and second
    if first != second:  # one chance in a million they coincide
        assert_error(caller.verify(session_id, first), 401, "4012")
    assert caller.verify(session_id, second).status_code == 200


def test_totp_login_sends_nothing_and_verifies_the_authenticator_code(caller: Caller) -> None:
    session_id = caller.initiate()
    sent = caller.send_otp(session_id, MFA_TOTP).json()["data"]
    assert sent["sent"] is False
    assert caller.sandbox.state.latest_otp(session_id) is None
    token = caller.login(MFA_TOTP)
    assert caller.dataset("currencies", token=token).status_code == 200


def test_wrong_password_is_4011(caller: Caller) -> None:
    answer = caller.request("POST", INITIATE, body={**CREDENTIALS, "password": "nope"})
    assert_error(answer, 401, "4011")


def test_five_wrong_otps_use_the_login_session_up(caller: Caller) -> None:
    session_id = caller.initiate()
    caller.send_otp(session_id)
    right = caller.sandbox.state.latest_otp(session_id)
    wrong = "000000" if right != "000000" else "111111"
    for _ in range(5):
        assert_error(caller.verify(session_id, wrong), 401, "4012")
    assert_error(caller.verify(session_id, right or ""), 401, "4013")


def test_unknown_login_session_is_4013(caller: Caller) -> None:
    assert_error(caller.send_otp(str(uuid.uuid4())), 401, "4013")
    assert_error(caller.verify(str(uuid.uuid4()), "123456"), 401, "4013")


def test_logout_ends_the_token(logged_in_caller: Caller) -> None:
    assert logged_in_caller.request("POST", LOGOUT).status_code == 200
    assert_error(logged_in_caller.dataset("countries"), 401, "4010")


def test_expire_sessions_expires_every_token(
    raw_sandbox: SandboxHandle, logged_in_caller: Caller
) -> None:
    assert logged_in_caller.dataset("countries").status_code == 200
    expired = httpx.post(raw_sandbox.base_url + "/_sandbox/expire-sessions").json()
    assert expired["expired"] >= 1
    assert_error(logged_in_caller.dataset("countries"), 401, "4010")


def test_missing_session_token_is_4010(caller: Caller) -> None:
    envelope = assert_error(caller.dataset("countries"), 401, "4010")
    assert "missing" in envelope["message"]
    assert_error(caller.dataset("countries", token="not-a-token"), 401, "4010")


# -- the signature chain ------------------------------------------------------------------------


def test_bad_signature_is_4030(caller: Caller) -> None:
    answer = caller.request("POST", INITIATE, body=CREDENTIALS, secret="wrong-secret")
    assert_error(answer, 403, "4030")


@pytest.mark.parametrize("header", ["Authorization", "X-Api-Key", "X-Timestamp", "X-Nonce"])
def test_missing_header_is_4030_naming_it(caller: Caller, header: str) -> None:
    answer = caller.request("POST", INITIATE, body=CREDENTIALS, omit=(header,))
    assert header in assert_error(answer, 403, "4030")["message"]


def test_unknown_api_key_is_4030(caller: Caller) -> None:
    answer = caller.request("POST", INITIATE, body=CREDENTIALS, api_key="sk_test_nobody")
    assert_error(answer, 403, "4030")


def test_other_authorization_scheme_is_4030(caller: Caller) -> None:
    answer = caller.request(
        "POST", INITIATE, body=CREDENTIALS, headers={"Authorization": "Bearer abc"}
    )
    assert_error(answer, 403, "4030")


# Well past the 60 s window: the caller's timestamp is truncated to the second and the request
# takes time to arrive, so +61 could land back inside the window (issue 12's flaky edge).
@pytest.mark.parametrize("offset", [-75, 75, 3600])
def test_timestamp_outside_the_window_is_4031(caller: Caller, offset: int) -> None:
    timestamp = str(caller.server_time() + offset)
    answer = caller.request("POST", INITIATE, body=CREDENTIALS, timestamp=timestamp)
    assert_error(answer, 403, "4031")


def test_replayed_nonce_is_4032(raw_sandbox: SandboxHandle, caller: Caller) -> None:
    nonce = str(uuid.uuid4())
    before = httpx.get(raw_sandbox.base_url + "/_sandbox/stats").json()["nonceRejections"]
    assert caller.request("POST", INITIATE, body=CREDENTIALS, nonce=nonce).status_code == 200
    assert_error(caller.request("POST", INITIATE, body=CREDENTIALS, nonce=nonce), 403, "4032")
    after = httpx.get(raw_sandbox.base_url + "/_sandbox/stats").json()["nonceRejections"]
    assert after == before + 1


def test_nonces_are_remembered_per_api_key(make_caller: Callable[..., Caller]) -> None:
    full, auth_only = make_caller(), make_caller(AUTH_ONLY_API_KEY, AUTH_ONLY_API_SECRET)
    nonce = str(uuid.uuid4())
    assert full.request("POST", INITIATE, body=CREDENTIALS, nonce=nonce).status_code == 200
    assert auth_only.request("POST", INITIATE, body=CREDENTIALS, nonce=nonce).status_code == 200


def test_auth_only_key_on_constants_is_4033_naming_the_scope(
    make_caller: Callable[..., Caller],
) -> None:
    auth_only = make_caller(AUTH_ONLY_API_KEY, AUTH_ONLY_API_SECRET)
    token = auth_only.login()
    envelope = assert_error(auth_only.dataset("countries", token=token), 403, "4033")
    assert "partner:constants:read" in envelope["message"]


def test_web_path_is_4034(caller: Caller) -> None:
    assert_error(caller.request("GET", "/web/v1/constants/countries"), 403, "4034")


def test_unknown_endpoint_and_dataset_are_4040(logged_in_caller: Caller) -> None:
    assert_error(logged_in_caller.request("GET", "/api/v1/partner/nothing"), 404, "4040")
    assert_error(logged_in_caller.dataset("planets"), 404, "4040")
    assert_error(logged_in_caller.request("GET", INITIATE), 404, "4040")


# -- check order (docs/partner-api.md §2.5) -------------------------------------------------------


def test_bad_signature_wins_over_a_reused_nonce(caller: Caller) -> None:
    nonce = str(uuid.uuid4())
    assert caller.request("POST", INITIATE, body=CREDENTIALS, nonce=nonce).status_code == 200
    answer = caller.request("POST", INITIATE, body=CREDENTIALS, nonce=nonce, secret="wrong")
    assert_error(answer, 403, "4030")


def test_stale_timestamp_wins_over_a_reused_nonce(caller: Caller) -> None:
    nonce = str(uuid.uuid4())
    assert caller.request("POST", INITIATE, body=CREDENTIALS, nonce=nonce).status_code == 200
    stale = str(caller.server_time() - 600)
    answer = caller.request("POST", INITIATE, body=CREDENTIALS, nonce=nonce, timestamp=stale)
    assert_error(answer, 403, "4031")


def test_a_rejected_signature_does_not_consume_the_nonce(caller: Caller) -> None:
    nonce = str(uuid.uuid4())
    bad = caller.request("POST", INITIATE, body=CREDENTIALS, nonce=nonce, secret="wrong")
    assert_error(bad, 403, "4030")
    assert caller.request("POST", INITIATE, body=CREDENTIALS, nonce=nonce).status_code == 200


def test_nonce_is_consumed_even_when_the_scope_check_fails(
    make_caller: Callable[..., Caller],
) -> None:
    auth_only = make_caller(AUTH_ONLY_API_KEY, AUTH_ONLY_API_SECRET)
    nonce = str(uuid.uuid4())
    assert_error(auth_only.dataset("countries", nonce=nonce), 403, "4033")
    assert_error(auth_only.dataset("countries", nonce=nonce), 403, "4032")


def test_reused_nonce_wins_over_web_path_and_missing_token(caller: Caller) -> None:
    nonce = str(uuid.uuid4())
    assert_error(caller.request("GET", "/web/v1/x", nonce=nonce), 403, "4034")
    assert_error(caller.request("GET", "/web/v1/x", nonce=nonce), 403, "4032")
    assert_error(caller.dataset("countries", nonce=nonce), 403, "4032")


def test_scope_wins_over_missing_token(make_caller: Callable[..., Caller]) -> None:
    auth_only = make_caller(AUTH_ONLY_API_KEY, AUTH_ONLY_API_SECRET)
    assert_error(auth_only.dataset("countries"), 403, "4033")


def test_the_query_is_part_of_the_signed_path(logged_in_caller: Caller) -> None:
    path = "/api/v1/partner/constants/countries"
    answer = logged_in_caller.request("GET", path + "?page=0&size=5", signed_path=path)
    assert_error(answer, 403, "4030")


def test_sign_query_off_signs_the_path_alone(make_caller: Callable[..., Caller]) -> None:
    from sandbox import running_sandbox

    with running_sandbox(SandboxConfig(cities=10, sign_query=False)) as other:
        caller = make_caller(on=other)
        caller.login()
        path = "/api/v1/partner/constants/cities"
        answer = caller.request("GET", path + "?page=0&size=5", signed_path=path)
        assert answer.status_code == 200
        assert len(answer.json()["data"]["content"]) == 5


# -- validation and hostile input ---------------------------------------------------------------


@pytest.mark.parametrize("query", ["page=0&size=0", "page=0&size=1001", "page=x&size=5", "page=-1"])
def test_bad_paging_is_4000(logged_in_caller: Caller, query: str) -> None:
    assert_error(logged_in_caller.dataset("countries", query), 400, "4000")


def test_body_too_large_is_4000(caller: Caller) -> None:
    content = b'{"email":"' + b"a" * (70 * 1024) + b'"}'
    envelope = assert_error(caller.request("POST", INITIATE, content=content), 400, "4000")
    assert "too large" in envelope["message"]


def test_headers_too_large_are_4000(caller: Caller) -> None:
    answer = caller.request("POST", INITIATE, body=CREDENTIALS, headers={"X-Junk": "j" * 9000})
    assert_error(answer, 400, "4000")


@pytest.mark.parametrize(
    "content",
    [b"not json", b"[1,2]", b'{"email":1,"password":2}', b"\xff\xfe", b'{"email":"x"}'],
)
def test_malformed_login_bodies_are_4000(caller: Caller, content: bytes) -> None:
    assert_error(caller.request("POST", INITIATE, content=content), 400, "4000")


@pytest.mark.parametrize(
    "body",
    [
        {"sessionId": "x", "mfaMethod": 1},
        {"sessionId": "x", "mfaMethod": True},
        {"sessionId": 5, "mfaMethod": MFA_EMAIL},
        {"mfaMethod": MFA_EMAIL},
    ],
)
def test_malformed_mfa_bodies_are_4000(caller: Caller, body: dict[str, object]) -> None:
    answer = caller.request("POST", "/api/v1/partner/auth/login/mfa/send", body=body)
    assert_error(answer, 400, "4000")


def test_non_numeric_timestamp_is_4031(caller: Caller) -> None:
    answer = caller.request("POST", INITIATE, body=CREDENTIALS, timestamp="yesterday")
    assert_error(answer, 403, "4031")


# -- datasets -----------------------------------------------------------------------------------


@pytest.mark.parametrize("dataset", ["countries", "currencies", "languages", "cities"])
def test_pages_add_up_to_the_whole_dataset(logged_in_caller: Caller, dataset: str) -> None:
    expected = build_items(dataset, cities=TEST_CITIES, seed=TEST_SEED)
    size = 1000
    first = logged_in_caller.dataset(dataset, f"page=0&size={size}").json()["data"]
    assert first["totalElements"] == len(expected)
    assert first["totalPages"] == -(-len(expected) // size)
    assert first["page"] == 0 and first["size"] == size
    items = list(first["content"])
    for page in range(1, first["totalPages"]):
        items += logged_in_caller.dataset(dataset, f"page={page}&size={size}").json()["data"][
            "content"
        ]
    assert items == expected
    beyond = logged_in_caller.dataset(dataset, f"page={first['totalPages']}&size={size}").json()
    assert beyond["data"]["content"] == []


@pytest.mark.parametrize("dataset", ["currencies", "cities"])
def test_without_paging_data_is_the_whole_list(logged_in_caller: Caller, dataset: str) -> None:
    answer = logged_in_caller.dataset(dataset)
    assert answer.status_code == 200
    assert answer.json()["data"] == build_items(dataset, cities=TEST_CITIES, seed=TEST_SEED)
    assert answer.headers["etag"].startswith('"')


def test_etag_gives_304_with_date_and_no_body(logged_in_caller: Caller) -> None:
    first = logged_in_caller.dataset("countries", "page=0&size=50")
    etag = first.headers["etag"]
    assert logged_in_caller.dataset("countries", "page=0&size=50").headers["etag"] == etag
    again = logged_in_caller.dataset("countries", "page=0&size=50", headers={"If-None-Match": etag})
    assert again.status_code == 304
    assert again.content == b""
    assert again.headers["etag"] == etag
    assert "date" in again.headers
    other_page = logged_in_caller.dataset("countries", "page=1&size=50")
    assert other_page.headers["etag"] != etag
    stale = logged_in_caller.dataset(
        "countries", "page=0&size=50", headers={"If-None-Match": '"old"'}
    )
    assert stale.status_code == 200


def test_data_version_2_changes_the_data_and_the_etags(
    raw_sandbox: SandboxHandle, logged_in_caller: Caller
) -> None:
    v1 = logged_in_caller.dataset("currencies")
    try:
        switched = httpx.post(raw_sandbox.base_url + "/_sandbox/data-version", json={"version": 2})
        assert switched.json() == {"version": 2}
        v2 = logged_in_caller.dataset("currencies")
        assert v2.headers["etag"] != v1.headers["etag"]
        assert v2.json()["data"] == build_items("currencies", version=2, seed=TEST_SEED)
        stale = logged_in_caller.dataset(
            "currencies", headers={"If-None-Match": v1.headers["etag"]}
        )
        assert stale.status_code == 200
    finally:
        httpx.post(raw_sandbox.base_url + "/_sandbox/data-version", json={"version": 1})
    assert logged_in_caller.dataset("currencies").headers["etag"] == v1.headers["etag"]


# -- the sandbox's own behaviour -----------------------------------------------------------------


def test_stats_have_the_documented_shape(
    raw_sandbox: SandboxHandle, logged_in_caller: Caller
) -> None:
    stats = httpx.get(raw_sandbox.base_url + "/_sandbox/stats").json()
    for key in ("requests", "logins", "initiates", "nonceRejections", "faultsInjected"):
        assert isinstance(stats[key], int)
    assert stats["logins"] >= 1 and stats["initiates"] >= 1
    assert stats["byCode"]["2000"] >= 3


def test_clock_skew_shifts_the_date_header_and_the_window(
    make_caller: Callable[..., Caller],
) -> None:
    from sandbox import running_sandbox

    with running_sandbox(SandboxConfig(cities=10, clock_skew=3600.0)) as skewed:
        health = httpx.get(skewed.base_url + "/actuator/health")
        server_date = parsedate_to_datetime(health.headers["date"]).timestamp()
        assert 3500 < server_date - now() < 3700
        caller = make_caller(on=skewed)
        local = str(int(now()))
        assert_error(
            caller.request("POST", INITIATE, body=CREDENTIALS, timestamp=local), 403, "4031"
        )
        assert caller.request("POST", INITIATE, body=CREDENTIALS).status_code == 200
        # and it can be changed at run time
        changed = httpx.post(skewed.base_url + "/_sandbox/config", json={"clockSkew": 0})
        assert changed.json()["clockSkew"] == 0
        assert (
            caller.request("POST", INITIATE, body=CREDENTIALS, timestamp=local).status_code == 200
        )


def test_rate_limit_answers_429_with_retry_after(
    raw_sandbox: SandboxHandle, caller: Caller
) -> None:
    try:
        httpx.post(raw_sandbox.base_url + "/_sandbox/config", json={"rateLimit": 0.01})
        assert caller.request("POST", INITIATE, body=CREDENTIALS).status_code == 200
        limited = caller.request("POST", INITIATE, body=CREDENTIALS)
        assert_error(limited, 429, "4290")
        assert int(limited.headers["retry-after"]) >= 1
    finally:
        httpx.post(raw_sandbox.base_url + "/_sandbox/config", json={"rateLimit": None})
    assert caller.request("POST", INITIATE, body=CREDENTIALS).status_code == 200


def test_control_surface_answers_only_loopback_clients() -> None:
    app = create_app(SandboxConfig(cities=10))

    async def ask(client: tuple[str, int]) -> httpx.Response:
        transport = httpx.ASGITransport(app=app, client=client)
        async with httpx.AsyncClient(transport=transport, base_url="http://sandbox") as http:
            return await http.get("/prometheus/_sandbox/stats")

    assert asyncio.run(ask(("127.0.0.1", 5000))).status_code == 200
    assert_error(asyncio.run(ask(("10.1.2.3", 5000))), 404, "4040")


def test_bad_control_requests_are_4000(raw_sandbox: SandboxHandle) -> None:
    base = raw_sandbox.base_url + "/_sandbox"
    assert_error(httpx.post(base + "/data-version", json={"version": 3}), 400, "4000")
    assert_error(httpx.post(base + "/config", json={"faultRate": 2}), 400, "4000")
    assert_error(httpx.post(base + "/config", content=b"{"), 400, "4000")
    assert_error(httpx.get(base + "/nothing"), 404, "4040")


# -- never crash ----------------------------------------------------------------------------------

_ANY_BYTES = st.binary(max_size=64)
_HEADER_TEXT = st.text(
    alphabet=st.characters(min_codepoint=0x20, max_codepoint=0xFF, exclude_characters="\x7f"),
    max_size=40,
).map(str.strip)  # the client (h11) refuses header values with edge whitespace


@settings(
    max_examples=60,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(
    method=st.sampled_from(["GET", "POST", "PUT", "DELETE", "BREW"]),
    path=st.sampled_from(
        [
            "/api/v1/partner/auth/login/initiate",
            "/api/v1/partner/auth/login/mfa/verify",
            "/api/v1/partner/constants/cities",
            "/api/v1/partner/constants/%2e%2e",
            "/web/v1/x",
            "/api/v1/partner",
            "/_sandbox/config",
            "/anything",
        ]
    ),
    query=st.sampled_from(["", "page=1&size=2", "page=%ff", "size=99999999999999999999", "&&="]),
    timestamp=st.one_of(_HEADER_TEXT, st.just("9" * 400)),
    nonce=_HEADER_TEXT,
    authorization=st.one_of(_HEADER_TEXT, _HEADER_TEXT.map("HMAC-SHA256 {}".format)),
    body=_ANY_BYTES,
)
def test_hostile_requests_get_contract_errors_never_a_crash(
    raw_sandbox: SandboxHandle,
    method: str,
    path: str,
    query: str,
    timestamp: str,
    nonce: str,
    authorization: str,
    body: bytes,
) -> None:
    headers = {
        "Authorization": authorization,
        "X-Api-Key": "sk_test_partner_sandbox",
        "X-Timestamp": timestamp,
        "X-Nonce": nonce,
        "X-Session-Token": nonce,
    }
    url = raw_sandbox.base_url + path + (f"?{query}" if query else "")
    with httpx.Client(timeout=10) as http:
        answer = http.request(
            method,
            url,
            content=body,
            headers={k.encode(): v.strip().encode("latin-1") for k, v in headers.items()},
        )
    assert "date" in answer.headers
    assert answer.status_code < 500
    if path != "/_sandbox/config" or answer.status_code != 200:
        envelope = answer.json()
        assert envelope["success"] is False
        assert envelope["code"] in {"4000", "4010", "4011", "4030", "4031", "4032", "4040"}
