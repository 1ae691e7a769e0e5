"""The `PartnerClient` façade against the real sandbox over real HTTP: logins, 403s, limits."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import pytest

from partner_api import (
    ClockDriftError,
    ConfigurationError,
    MissingScopeError,
    PartnerClient,
    SandboxOtpSource,
    SignatureError,
)
from sandbox import (
    AUTH_ONLY_API_KEY,
    AUTH_ONLY_API_SECRET,
    DEMO_EMAIL,
    DEMO_PASSWORD,
    SandboxHandle,
)
from tests.partner_api.test_dataset import read_all


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


def test_nonce_reuse_is_retried_once_with_a_fresh_nonce(
    sandbox: SandboxHandle,
    make_client: Callable[..., PartnerClient],
    caplog: pytest.LogCaptureFixture,
) -> None:
    # The login's three sends get unique nonces; then one nonce is handed out twice.
    nonces = iter(["login-1", "login-2", "login-3", "dup-nonce-1", "dup-nonce-1", "fresh-2"])
    logged_in = make_client(nonce=lambda: next(nonces))
    logged_in.login(DEMO_EMAIL, DEMO_PASSWORD, SandboxOtpSource(sandbox.base_url))
    caplog.set_level(logging.WARNING, logger="partner_api.retry")
    assert read_all(logged_in, "currencies")  # sends dup-nonce-1
    assert read_all(logged_in, "countries")  # dup-nonce-1 again -> 4032 -> fresh-nonce-2
    assert any("replayed" in r.getMessage() for r in caplog.records)


def test_rate_limit_waits_for_retry_after(
    sandbox: SandboxHandle,
    make_client: Callable[..., PartnerClient],
    sandbox_control: Callable[..., Any],
) -> None:
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        time.sleep(seconds)  # the sandbox's window must really pass

    logged_in = make_client(sleep=sleep)
    logged_in.login(DEMO_EMAIL, DEMO_PASSWORD, SandboxOtpSource(sandbox.base_url))
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


@pytest.mark.parametrize("concurrency", [0, 17])
def test_a_concurrency_outside_its_polite_range_is_refused(concurrency: int) -> None:
    with pytest.raises(ConfigurationError, match=r"PARTNER_CONCURRENCY must be 1\.\.16"):
        PartnerClient("https://partner.example/prometheus", "k", "s", concurrency=concurrency)
    with PartnerClient("https://partner.example/prometheus", "k", "s", concurrency=16) as client:
        assert client.concurrency == 16


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
