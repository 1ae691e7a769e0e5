"""The one retry policy: each row of the table, over HTTP against the sandbox's faults.

Waits are recorded by an injected `sleep` rather than slept, except where a real server
must see time pass. Scripted answers the sandbox cannot give (a `Retry-After` date) use an
`httpx.MockTransport`.
"""

from __future__ import annotations

import contextlib
import email.utils
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from partner_api import (
    ForbiddenError,
    InvalidCredentialsError,
    PartnerClient,
    PartnerConnectionError,
    RateLimitedError,
    RetryPolicy,
    SandboxOtpSource,
    ServerError,
)
from sandbox import DEMO_API_KEY, DEMO_API_SECRET, DEMO_EMAIL, DEMO_PASSWORD
from tests.partner_api.transports import RecordingTransport, envelope, ok, scripted

PATH = "/api/v1/partner/constants/currencies"


@pytest.fixture
def recorded(
    make_client: Callable[..., PartnerClient],
) -> tuple[PartnerClient, RecordingTransport, list[float]]:
    transport = RecordingTransport()
    waits: list[float] = []
    client = make_client(transport=transport, sleep=waits.append)
    return client, transport, waits


def login(client: PartnerClient, base_url: str) -> None:
    client.login(DEMO_EMAIL, DEMO_PASSWORD, SandboxOtpSource(base_url))


def test_server_errors_back_off_until_the_attempts_run_out(
    sandbox: Any, recorded: Any, sandbox_control: Callable[..., Any]
) -> None:
    client, transport, waits = recorded
    login(client, sandbox.base_url)
    sandbox_control("config", {"faultRate": 1.0, "faultKinds": ["500"]})
    before = len(transport.sent)
    with pytest.raises(ServerError, match="500"):
        client.call("GET", PATH)
    nonces = [n for n, _ in transport.sent[before:]]
    assert len(nonces) == 8 == len(set(nonces))  # every attempt signed afresh
    assert len(waits) == 7 and all(0 <= w <= 20 for w in waits)


class AlternatingFaults(httpx.HTTPTransport):
    """The real transport; once armed, the sandbox faults every other request (first, third, ...).

    The sandbox draws faults from one random stream shared by the whole session, so a rate
    below 1 gives each test whatever the earlier tests left: switching the rate between 1
    and 0 before each send makes the sequence exact.
    """

    def __init__(self, control: Callable[..., Any]) -> None:
        super().__init__()
        self.control = control
        self.armed = False
        self.sends = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if self.armed:
            self.sends += 1
            self.control("config", {"faultRate": 1.0 if self.sends % 2 else 0.0})
        return super().handle_request(request)


@pytest.mark.parametrize("kind", ["503", "drop", "500"])
def test_data_calls_survive_transient_faults(
    sandbox: Any,
    make_client: Callable[..., PartnerClient],
    sandbox_control: Callable[..., Any],
    kind: str,
) -> None:
    transport = AlternatingFaults(sandbox_control)
    waits: list[float] = []
    client = make_client(transport=transport, sleep=waits.append)
    login(client, sandbox.base_url)
    sandbox_control("config", {"faultKinds": [kind]})
    transport.armed = True
    for _ in range(5):
        assert client.call("GET", PATH).data
    # Each call met one fault, backed off once and succeeded on its second send.
    assert transport.sends == 10
    assert len(waits) == 5 and all(0 <= w <= 20 for w in waits)


def test_drift_403s_are_retried_at_once_at_most_twice(
    sandbox: Any, recorded: Any, sandbox_control: Callable[..., Any]
) -> None:
    client, transport, waits = recorded
    login(client, sandbox.base_url)
    sandbox_control("config", {"faultRate": 1.0, "faultKinds": ["4031"]})
    before = len(transport.sent)
    with pytest.raises(ForbiddenError, match="4031") as caught:
        client.call("GET", PATH)
    assert len(transport.sent) - before == 3
    assert waits == [0.0, 0.0]  # drift is not fixed by waiting
    assert "NTP" in caught.value.diagnosis


def test_an_ambiguous_verify_restarts_the_login_instead_of_resubmitting(
    sandbox: Any,
    recorded: Any,
    sandbox_control: Callable[..., Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    client, transport, _ = recorded
    outbox = SandboxOtpSource(sandbox.base_url)

    class BreakVerifyOnce(SandboxOtpSource):
        calls = 0

        def get_code(self, challenge: Any) -> str:
            code = outbox.get_code(challenge)
            BreakVerifyOnce.calls += 1
            if BreakVerifyOnce.calls == 1:  # the next request (verify) dies mid-exchange
                sandbox_control("config", {"faultRate": 1.0, "faultKinds": ["drop"]})
            return code

    original = client._transport.send_once

    def heal_after_send(*args: Any) -> Any:
        try:
            return original(*args)
        finally:
            sandbox_control("config", {"faultRate": 0})

    monkeypatch.setattr(client._transport, "send_once", heal_after_send)
    session = client.login(DEMO_EMAIL, DEMO_PASSWORD, BreakVerifyOnce(sandbox.base_url))
    assert session.scopes
    paths = [p.rsplit("/", 1)[-1] for _, p in transport.sent]
    # initiate, send, verify (broken: not resubmitted), then the whole login again.
    assert paths == ["initiate", "send", "verify", "initiate", "send", "verify"]


def test_a_retry_after_date_is_waited_then_retried() -> None:
    when = email.utils.formatdate(time.time() + 5, usegmt=True)
    waits: list[float] = []
    transport = scripted(
        [
            httpx.Response(429, json=envelope("4290"), headers={"Retry-After": when}),
            httpx.Response(200, json=ok([1])),
        ]
    )
    with PartnerClient(
        "http://127.0.0.1:9/prometheus", "k", "s", transport=transport, sleep=waits.append
    ) as client:
        assert client.call("GET", PATH).data == [1]
    assert len(waits) == 1 and 3 <= waits[0] <= 6


def test_a_retry_after_beyond_the_cap_fails_at_once() -> None:
    transport = scripted(
        [httpx.Response(429, json=envelope("4290"), headers={"Retry-After": "31536000"})]
    )
    waits: list[float] = []
    with (
        PartnerClient(
            "http://127.0.0.1:9/prometheus",
            "k",
            "s",
            transport=transport,
            sleep=waits.append,
            retry_policy=RetryPolicy(max_retry_after=60),
        ) as client,
        pytest.raises(RateLimitedError, match="PARTNER_MAX_RETRY_AFTER") as caught,
    ):
        client.call("GET", PATH)
    assert waits == [] and "31,536,000" in str(caught.value)


def test_a_connection_refused_during_login_is_retried_but_not_a_wrong_password(
    recorded: Any,
) -> None:
    client, transport, _ = recorded
    with pytest.raises(InvalidCredentialsError):
        client.login(DEMO_EMAIL, "wrong", SandboxOtpSource("http://127.0.0.1:1"))
    assert len(transport.sent) == 1
    dead = PartnerClient("http://127.0.0.1:1/prometheus", "k", "s", sleep=lambda s: None)
    with pytest.raises(PartnerConnectionError):
        dead.login(DEMO_EMAIL, DEMO_PASSWORD, SandboxOtpSource("http://127.0.0.1:1"))
    assert dead.sends == 8 * 2  # retried in full, and the login restarted once
    dead.close()


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
    database=None,
)
@given(
    rate=st.floats(min_value=0.0, max_value=0.6),
    kinds=st.lists(st.sampled_from(["500", "503", "429", "4031", "drop"]), min_size=1, unique=True),
)
def test_no_two_sends_ever_share_a_nonce(
    sandbox: Any, sandbox_control: Callable[..., Any], rate: float, kinds: list[str]
) -> None:
    transport = RecordingTransport()
    client = PartnerClient(
        sandbox.base_url,
        DEMO_API_KEY,
        DEMO_API_SECRET,
        transport=transport,
        sleep=lambda s: None,
        retry_policy=RetryPolicy(max_attempts=20),
    )
    try:
        sandbox_control("config", {"faultRate": 0})
        login(client, sandbox.base_url)
        sandbox_control("config", {"faultRate": rate, "faultKinds": kinds, "retryAfter": 0})
        for _ in range(3):
            # Exhausted retries are allowed here; the property is about nonces.
            with contextlib.suppress(
                ServerError, RateLimitedError, ForbiddenError, PartnerConnectionError
            ):
                client.call("GET", PATH)
    finally:
        client.close()
        sandbox_control("config", {"faultRate": 0})
    nonces = [n for n, _ in transport.sent]
    assert len(nonces) == len(set(nonces))
