"""Fault injection and its bookkeeping, over real HTTP."""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Callable, Iterator

import httpx
import pytest

from sandbox import FAULT_KINDS, SandboxConfig, SandboxHandle, running_sandbox
from tests.support.caller import Caller

INITIATE = "/api/v1/partner/auth/login/initiate"
CREDENTIALS = {"email": "partner@example.com", "password": "Str0ngP@ss!"}


@pytest.fixture
def faulty() -> Iterator[SandboxHandle]:
    """A fresh sandbox per test where every partner request fails, reproducibly (seeded).

    Per test, not per module: its counters (`faultsInjected`...) then count this test's
    requests only, whatever ran before.
    """
    config = SandboxConfig(cities=10, fault_rate=1.0, retry_after=7, seed=11)
    with running_sandbox(config) as handle:
        yield handle


def _outcome(answer: Callable[[], httpx.Response]) -> str:
    try:
        response = answer()
    except httpx.RemoteProtocolError:
        return "drop"
    if response.status_code == 429:
        assert response.headers["retry-after"] == "7"
    assert "date" in response.headers
    return str(response.json()["code"])


def test_fault_rate_one_produces_every_fault_kind(
    faulty: SandboxHandle, make_caller: Callable[..., Caller]
) -> None:
    caller = make_caller(on=faulty)
    seen = Counter(
        _outcome(lambda: caller.request("POST", INITIATE, body=CREDENTIALS)) for _ in range(60)
    )
    assert set(seen) == {"5000", "5030", "4290", "4031", "drop"}
    stats = httpx.get(faulty.base_url + "/_sandbox/stats").json()
    assert stats["faultsInjected"] == 60
    assert sum(stats["byFault"].values()) == 60
    assert set(stats["byFault"]) == set(FAULT_KINDS)
    # faults come before any processing: no login session was opened
    assert stats["initiates"] == 0


def test_health_and_control_are_never_faulted(faulty: SandboxHandle) -> None:
    for _ in range(10):
        assert httpx.get(faulty.base_url + "/actuator/health").status_code == 200
        assert httpx.get(faulty.base_url + "/_sandbox/stats").status_code == 200


def test_a_faulted_request_does_not_consume_its_nonce(
    faulty: SandboxHandle, make_caller: Callable[..., Caller]
) -> None:
    caller = make_caller(on=faulty)
    nonce = str(uuid.uuid4())
    timestamp = str(caller.server_time())
    first = _outcome(
        lambda: caller.request("POST", INITIATE, body=CREDENTIALS, nonce=nonce, timestamp=timestamp)
    )
    assert first in {"5000", "5030", "4290", "4031", "drop"}
    try:
        httpx.post(faulty.base_url + "/_sandbox/config", json={"faultRate": 0})
        again = caller.request("POST", INITIATE, body=CREDENTIALS, nonce=nonce, timestamp=timestamp)
        assert again.status_code == 200, again.text
    finally:
        httpx.post(faulty.base_url + "/_sandbox/config", json={"faultRate": 1.0})


def test_the_same_seed_injects_the_same_faults(make_caller: Callable[..., Caller]) -> None:
    runs = []
    for _ in range(2):
        with running_sandbox(SandboxConfig(cities=10, fault_rate=0.5, seed=5)) as handle:
            caller = make_caller(on=handle)

            def initiate(c: Caller = caller) -> httpx.Response:
                return c.request("POST", INITIATE, body=CREDENTIALS)

            runs.append([_outcome(initiate) for _ in range(12)])
    assert runs[0] == runs[1]
