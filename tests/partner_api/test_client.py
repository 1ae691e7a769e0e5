"""The client against the real sandbox over real HTTP: datasets, paging, ETags, the 403s."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from partner_api import (
    ClockDriftError,
    ConfigurationError,
    DatasetChangedError,
    MissingScopeError,
    PartnerClient,
    PartnerConnectionError,
    SandboxOtpSource,
    SignatureError,
    compute_signature,
    string_to_sign,
)
from sandbox import (
    AUTH_ONLY_API_KEY,
    AUTH_ONLY_API_SECRET,
    DEMO_API_KEY,
    DEMO_API_SECRET,
    DEMO_EMAIL,
    DEMO_PASSWORD,
    SandboxHandle,
    build_items,
)
from tests.conftest import TEST_CITIES


def read_all(client: PartnerClient, dataset: str, etags: dict[str, str] | None = None) -> list[Any]:
    return [item for page in client.read_dataset(dataset, etags) for item in page]


@pytest.mark.parametrize("dataset", ["countries", "currencies", "languages", "cities"])
def test_each_dataset_reads_exactly_what_the_sandbox_serves(
    logged_in: PartnerClient, dataset: str
) -> None:
    assert read_all(logged_in, dataset) == build_items(dataset, cities=TEST_CITIES, version=1)


def test_small_pages_reassemble_the_dataset(
    sandbox: SandboxHandle, make_client: Callable[..., PartnerClient]
) -> None:
    client = make_client(page_size=7)
    client.login(DEMO_EMAIL, DEMO_PASSWORD, SandboxOtpSource(sandbox.base_url))
    read = client.read_dataset("currencies")
    items = [item for page in read for item in page]
    assert items == build_items("currencies", cities=TEST_CITIES)
    assert read.pages_read == -(-len(items) // 7) + 1  # every page, then page 0 re-checked
    assert len(read.etags) == -(-len(items) // 7)


def test_etag_round_trip_costs_only_304s(logged_in: PartnerClient) -> None:
    first = logged_in.read_dataset("cities")
    assert sum(len(p) for p in first) == TEST_CITIES
    sends = logged_in.sends
    again = logged_in.read_dataset("cities", first.etags)
    assert list(again) == []
    assert again.not_modified
    assert again.etags == first.etags
    assert logged_in.sends - sends == len(first.etags)


def test_a_changed_dataset_is_read_in_full_after_304s(
    logged_in: PartnerClient, sandbox_control: Callable[..., Any]
) -> None:
    first = logged_in.read_dataset("languages")
    list(first)
    sandbox_control("data-version", {"version": 2})
    again = logged_in.read_dataset("languages", first.etags)
    items = [item for page in again for item in page]
    assert not again.not_modified
    assert items == build_items("languages", cities=TEST_CITIES, version=2)


def test_a_dataset_that_changes_between_pages_is_refused(
    logged_in: PartnerClient, sandbox_control: Callable[..., Any]
) -> None:
    pages = iter(logged_in.read_dataset("languages"))
    next(pages)
    sandbox_control("data-version", {"version": 2})  # same size, different rows
    with pytest.raises(DatasetChangedError, match="changed while being read"):
        list(pages)


def test_a_changed_total_between_pages_is_refused(
    logged_in: PartnerClient, sandbox_control: Callable[..., Any]
) -> None:
    pages = iter(logged_in.read_dataset("cities"))
    next(pages)
    sandbox_control("data-version", {"version": 2})  # 2,504 cities instead of 2,500
    with pytest.raises(DatasetChangedError, match="totalElements"):
        list(pages)


@pytest.mark.parametrize("skew", [300, -300])
def test_clock_skew_costs_one_extra_request(
    sandbox: SandboxHandle,
    make_client: Callable[..., PartnerClient],
    sandbox_control: Callable[..., Any],
    skew: int,
) -> None:
    sandbox_control("config", {"clockSkew": skew})
    client = make_client()
    client.login(DEMO_EMAIL, DEMO_PASSWORD, SandboxOtpSource(sandbox.base_url))
    assert client.sends == 4  # initiate (403 4031), initiate, send, verify
    assert client.clock.offset == pytest.approx(skew, abs=1.5)
    assert read_all(client, "countries")
    assert client.sends == 5
    # The skew changes under a live session: again one extra request, then steady.
    sandbox_control("config", {"clockSkew": -skew})
    assert read_all(client, "countries")
    assert client.sends == 7
    assert client.clock.offset == pytest.approx(-skew, abs=1.5)


def test_wrong_secret_fails_at_once_with_a_diagnosis(
    make_client: Callable[..., PartnerClient],
) -> None:
    client = make_client(api_secret="not-the-secret")
    with pytest.raises(SignatureError) as caught:
        client.login(DEMO_EMAIL, DEMO_PASSWORD, SandboxOtpSource("http://127.0.0.1:1"))
    message = str(caught.value)
    assert "4030" in message and "PARTNER_API_SECRET" in message
    assert "not-the-secret" not in message
    assert client.sends == 1


def test_a_key_without_the_scope_fails_fast_naming_the_scope(
    sandbox: SandboxHandle, make_client: Callable[..., PartnerClient]
) -> None:
    client = make_client(api_key=AUTH_ONLY_API_KEY, api_secret=AUTH_ONLY_API_SECRET)
    client.login(DEMO_EMAIL, DEMO_PASSWORD, SandboxOtpSource(sandbox.base_url))
    sends = client.sends
    with pytest.raises(MissingScopeError) as caught:
        read_all(client, "countries")
    assert client.sends - sends == 1  # no retry
    assert "partner:constants:read" in caught.value.diagnosis
    assert "4033" in str(caught.value)


def test_web_paths_are_refused_before_sending(make_client: Callable[..., PartnerClient]) -> None:
    client = make_client()
    with pytest.raises(ConfigurationError, match="/web/v1"):
        client.call("GET", "/web/v1/partner/constants/countries")
    assert client.sends == 0


def test_a_replayed_request_is_rejected_by_the_server(sandbox: SandboxHandle) -> None:
    path = "/api/v1/partner/auth/login/initiate"
    body = b'{"email":"partner@example.com","password":"wrong"}'
    import time

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


def test_nonce_reuse_is_retried_once_with_a_fresh_nonce(
    logged_in: PartnerClient, caplog: pytest.LogCaptureFixture
) -> None:
    nonces = iter(["dup-nonce-1", "dup-nonce-1", "fresh-nonce-2"])
    logged_in._auth._nonce = lambda: next(nonces)
    caplog.set_level(logging.WARNING, logger="partner_api.retry")
    assert read_all(logged_in, "currencies")  # sends dup-nonce-1
    assert read_all(logged_in, "countries")  # dup-nonce-1 again -> 4032 -> fresh-nonce-2
    assert any("replayed" in r.getMessage() for r in caplog.records)


def test_expired_session_logs_in_again_once(
    sandbox: SandboxHandle, logged_in: PartnerClient, sandbox_control: Callable[..., Any]
) -> None:
    before = sandbox_control("stats")["logins"]
    sandbox_control("expire-sessions", {})
    assert read_all(logged_in, "currencies")
    assert sandbox_control("stats")["logins"] == before + 1


def test_rate_limit_waits_for_retry_after(
    logged_in: PartnerClient, sandbox_control: Callable[..., Any]
) -> None:
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        import time

        waits.append(seconds)
        time.sleep(seconds)

    logged_in._sleep = sleep
    sandbox_control("config", {"rateLimit": 3, "retryAfter": 1})
    for _ in range(6):
        assert read_all(logged_in, "currencies")
    assert waits and all(w == 1.0 for w in waits)


def test_non_https_base_urls_are_refused_unless_loopback_or_allowed() -> None:
    with pytest.raises(ConfigurationError, match="PARTNER_ALLOW_INSECURE_HTTP"):
        PartnerClient("http://partner.example/prometheus", "k", "s")
    PartnerClient("http://partner.example/prometheus", "k", "s", allow_insecure_http=True).close()
    PartnerClient("https://partner.example/prometheus", "k", "s").close()
    PartnerClient("http://[::1]:18020/prometheus", "k", "s").close()


def test_a_dead_server_is_retried_then_one_line_naming_the_setting() -> None:
    waits: list[float] = []
    with (
        PartnerClient("http://127.0.0.1:1/prometheus", "k", "s", sleep=waits.append) as client,
        pytest.raises(PartnerConnectionError) as caught,
    ):
        client.call("POST", "/api/v1/partner/auth/login/initiate", json={})
    assert "PARTNER_BASE_URL" in str(caught.value) and "\n" not in str(caught.value)
    assert not caught.value.sent
    assert client.sends == 8 and len(waits) == 7  # backed off between every attempt


def test_persistent_drift_ends_with_a_diagnosis(
    make_client: Callable[..., PartnerClient],
) -> None:
    # A worker whose clock runs backwards between requests: re-measuring cannot keep up.
    ticks = iter(range(0, 10_000_000, 1000))
    client = make_client(clock=lambda: float(next(ticks)))
    with pytest.raises(ClockDriftError) as caught:
        client.call("POST", "/api/v1/partner/auth/login/initiate", json={})
    assert client.sends == 3  # the first try and two drift retries
    assert "clock offset" in caught.value.diagnosis and "NTP" in caught.value.diagnosis
