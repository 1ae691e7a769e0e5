"""The transport: the session and its renewal on `4010`, the body cap, refusals before sending."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from partner_api import (
    ConfigurationError,
    InvalidResponseError,
    PartnerClient,
    PartnerConnectionError,
    SandboxOtpSource,
    SessionExpiredError,
    SessionToken,
)
from sandbox import DEMO_EMAIL, DEMO_PASSWORD, SandboxHandle
from tests.partner_api.transports import RecordingTransport, ok, scripted

PATH = "/api/v1/partner/constants/currencies"


def log_in(make_client: Callable[..., PartnerClient], base_url: str) -> SessionToken:
    """A fresh session token from a client of its own (its sends are not recorded)."""
    return make_client().login(DEMO_EMAIL, DEMO_PASSWORD, SandboxOtpSource(base_url))


def test_a_4010_calls_renew_once_and_signs_the_retry_with_a_new_nonce(
    sandbox: SandboxHandle,
    make_client: Callable[..., PartnerClient],
    sandbox_control: Callable[..., Any],
) -> None:
    transport = RecordingTransport()
    client = make_client(transport=transport)
    renewed: list[SessionToken] = []

    def renew() -> SessionToken:
        renewed.append(log_in(make_client, sandbox.base_url))
        return renewed[-1]

    old = log_in(make_client, sandbox.base_url)
    client.use_session(old, renew=renew)
    sandbox_control("expire-sessions", {})

    assert client.call("GET", PATH).data

    [new] = renewed
    first, retry = transport.requests
    assert first.url.path == retry.url.path == f"/prometheus{PATH}"
    assert first.headers["X-Nonce"] != retry.headers["X-Nonce"]
    assert first.headers["Authorization"] != retry.headers["Authorization"]
    assert first.headers["X-Session-Token"] == old.token.get_secret_value()
    assert retry.headers["X-Session-Token"] == new.token.get_secret_value()
    assert client.session == new


def test_renewal_is_bounded_to_once_a_call(
    sandbox: SandboxHandle,
    make_client: Callable[..., PartnerClient],
    sandbox_control: Callable[..., Any],
) -> None:
    client = make_client()
    stale = log_in(make_client, sandbox.base_url)
    sandbox_control("expire-sessions", {})
    calls: list[int] = []

    def renew() -> SessionToken:
        calls.append(1)
        return stale  # still expired: the retry meets 4010 again

    client.use_session(stale, renew=renew)
    with pytest.raises(SessionExpiredError, match="4010"):
        client.call("GET", PATH)
    assert calls == [1]
    assert client.sends == 2


def test_without_a_session_a_4010_raises_session_expired(
    make_client: Callable[..., PartnerClient],
) -> None:
    client = make_client()
    with pytest.raises(SessionExpiredError, match="4010"):
        client.call("GET", PATH)
    assert client.sends == 1  # nothing to renew with: not retried


def test_a_session_without_renew_is_not_renewed(
    sandbox: SandboxHandle,
    make_client: Callable[..., PartnerClient],
    sandbox_control: Callable[..., Any],
) -> None:
    client = make_client()
    client.use_session(log_in(make_client, sandbox.base_url))
    sandbox_control("expire-sessions", {})
    with pytest.raises(SessionExpiredError):
        client.call("GET", PATH)
    assert client.sends == 1


def test_the_default_renew_of_login_logs_in_again_through_the_same_source(
    sandbox: SandboxHandle,
    logged_in: PartnerClient,
    sandbox_control: Callable[..., Any],
) -> None:
    before = sandbox_control("stats")["logins"]
    old = logged_in.session
    sandbox_control("expire-sessions", {})
    assert logged_in.call("GET", PATH).data
    assert sandbox_control("stats")["logins"] == before + 1
    assert logged_in.session is not None and logged_in.session != old


def test_a_body_over_the_cap_is_refused() -> None:
    body = httpx.Response(200, json=ok(["x" * 2000]))
    with (
        PartnerClient(
            "http://127.0.0.1:9/prometheus",
            "k",
            "s",
            transport=scripted([body]),
            max_response_bytes=1000,
        ) as client,
        pytest.raises(InvalidResponseError, match="PARTNER_MAX_RESPONSE_BYTES"),
    ):
        client.call("GET", PATH)


def test_web_paths_are_refused_before_sending(make_client: Callable[..., PartnerClient]) -> None:
    client = make_client()
    with pytest.raises(ConfigurationError, match="/web/v1"):
        client.call("GET", "/web/v1/partner/constants/countries")
    assert client.sends == 0


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
