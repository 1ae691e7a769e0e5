"""Signature vectors: the published recipe, byte for byte."""

from __future__ import annotations

import shutil
import subprocess
import time

import httpx
import pytest

from partner_api._auth import HmacAuth, compute_signature, signing_path, string_to_sign
from sandbox import DEMO_API_KEY, DEMO_API_SECRET, SandboxHandle
from tests.support.signing import sign_message, sign_request

QUICKSTART_PATH = "/api/v1/partner/auth/login/initiate"
QUICKSTART_BODY = b'{"email":"partner@example.com","password":"Str0ngP@ss!"}'
SECRET = "your-api-secret-here"
TIMESTAMP = "1709337600"
NONCE = "f47ac10b-58cc-4372-a567-0e02b2c3d479"


def test_quickstart_string_to_sign_is_the_published_layout() -> None:
    message = string_to_sign("post", QUICKSTART_PATH, TIMESTAMP, NONCE, QUICKSTART_BODY)
    assert message == (
        b"POST\n/api/v1/partner/auth/login/initiate\n1709337600\n"
        b"f47ac10b-58cc-4372-a567-0e02b2c3d479\n" + QUICKSTART_BODY
    )


def test_get_without_body_ends_in_a_newline() -> None:
    message = string_to_sign("GET", "/api/v1/partner/constants/countries", TIMESTAMP, NONCE, b"")
    assert message.endswith(NONCE.encode() + b"\n")
    assert message.count(b"\n") == 4


def test_signature_matches_the_quickstart_openssl_recipe() -> None:
    if shutil.which("openssl") is None:
        pytest.fail("openssl is missing: apt-get install openssl", pytrace=False)
    message = string_to_sign("POST", QUICKSTART_PATH, TIMESTAMP, NONCE, QUICKSTART_BODY)
    # The quickstart: echo -ne "$STRING_TO_SIGN" | openssl dgst -sha256 -hmac "$SECRET" -binary | base64
    done = subprocess.run(
        f'openssl dgst -sha256 -hmac "{SECRET}" -binary | base64',
        input=message,
        shell=True,
        capture_output=True,
        check=True,
    )
    assert compute_signature(SECRET, message) == done.stdout.decode().strip()


def test_non_ascii_body_and_secret_are_signed_as_utf8_bytes() -> None:
    body = '{"name":"Zürich - 東京"}'.encode()
    secret = "sëcret-ключ"
    message = string_to_sign("POST", "/api/v1/partner/x", TIMESTAMP, NONCE, body)
    assert compute_signature(secret, message) == sign_message(secret, message)
    assert body in message


@pytest.mark.parametrize(
    ("url", "sign_query", "expected"),
    [
        (
            "http://h/prometheus/api/v1/partner/constants/cities?page=2&size=10",
            True,
            "/api/v1/partner/constants/cities?page=2&size=10",
        ),
        (
            "http://h/prometheus/api/v1/partner/constants/cities?page=2&size=10",
            False,
            "/api/v1/partner/constants/cities",
        ),
        (
            "http://h/prometheus/api/v1/partner/constants/countries",
            True,
            "/api/v1/partner/constants/countries",
        ),
        ("http://h/prometheusx/api", True, "/prometheusx/api"),
    ],
)
def test_signing_path_strips_only_the_context_path(
    url: str, sign_query: bool, expected: str
) -> None:
    assert signing_path(httpx.URL(url), "/prometheus", sign_query=sign_query) == expected


def test_auth_flow_signs_the_exact_request() -> None:
    auth = HmacAuth(
        "sk_test",
        SECRET,
        context_path="/prometheus",
        clock=lambda: 1709337600.9,
        nonce=lambda: NONCE,
    )
    request = httpx.Request(
        "POST", "http://h/prometheus" + QUICKSTART_PATH, content=QUICKSTART_BODY
    )
    signed = next(auth.sync_auth_flow(request))
    assert signed.headers["X-Api-Key"] == "sk_test"
    assert signed.headers["X-Timestamp"] == TIMESTAMP
    assert signed.headers["X-Nonce"] == NONCE
    expected = sign_request(SECRET, "POST", QUICKSTART_PATH, TIMESTAMP, NONCE, QUICKSTART_BODY)
    assert signed.headers["Authorization"] == f"HMAC-SHA256 {expected}"


def test_each_send_gets_a_new_nonce_and_timestamp() -> None:
    times = iter([100.0, 101.0])
    auth = HmacAuth("k", "s", clock=lambda: next(times))
    first = next(auth.sync_auth_flow(httpx.Request("GET", "http://h/prometheus/x")))
    first_nonce, first_ts = first.headers["X-Nonce"], first.headers["X-Timestamp"]
    second = next(auth.sync_auth_flow(httpx.Request("GET", "http://h/prometheus/x")))
    assert second.headers["X-Nonce"] != first_nonce
    assert (first_ts, second.headers["X-Timestamp"]) == ("100", "101")


def test_repr_hides_the_secret() -> None:
    assert "s3cr3t" not in repr(HmacAuth("k", "s3cr3t"))


def test_a_replayed_request_is_rejected_by_the_server(sandbox: SandboxHandle) -> None:
    path = "/api/v1/partner/auth/login/initiate"
    body = b'{"email":"partner@example.com","password":"wrong"}'
    timestamp, nonce = str(int(time.time())), "replayed-nonce-0001"
    signature = compute_signature(
        DEMO_API_SECRET, string_to_sign("POST", path, timestamp, nonce, body)
    )
    headers = {
        "Authorization": f"HMAC-SHA256 {signature}",
        "X-Api-Key": DEMO_API_KEY,
        "X-Timestamp": timestamp,
        "X-Nonce": nonce,
        "Content-Type": "application/json",
    }
    with httpx.Client(base_url=sandbox.base_url) as http:
        first = http.post(path, content=body, headers=headers)
        second = http.post(path, content=body, headers=headers)
    assert first.json()["code"] == "4011"  # the nonce was consumed even though login failed
    assert (second.status_code, second.json()["code"]) == (403, "4032")
