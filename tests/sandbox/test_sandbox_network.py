"""A sandbox with a network: latency on every partner request, and requests in flight counted."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator

import httpx
import pytest

from sandbox import SandboxConfig, SandboxHandle, SandboxState, running_sandbox
from sandbox._cli import build_parser
from tests.support.caller import Caller, assert_error

INITIATE = "/api/v1/partner/auth/login/initiate"
CREDENTIALS = {"email": "partner@example.com", "password": "Str0ngP@ss!"}


@pytest.fixture
def distant() -> Iterator[SandboxHandle]:
    """A fresh sandbox 300 ms away (its counters are this test's own)."""
    with running_sandbox(SandboxConfig(cities=10, latency_ms=300)) as handle:
        yield handle


def _round_trip(caller: Caller) -> float:
    started = time.perf_counter()
    answer = caller.request("POST", INITIATE, body=CREDENTIALS)
    elapsed = time.perf_counter() - started
    assert answer.status_code == 200, answer.text
    return elapsed


def test_latency_delays_every_partner_request(
    distant: SandboxHandle, make_caller: Callable[..., Caller]
) -> None:
    caller = make_caller(on=distant)
    # A lower bound only: a busy machine may add time, never take the latency away.
    assert _round_trip(caller) >= 0.3
    assert _round_trip(caller) >= 0.3


def test_latency_is_set_at_run_time(
    distant: SandboxHandle, make_caller: Callable[..., Caller]
) -> None:
    caller = make_caller(on=distant)
    changed = httpx.post(distant.base_url + "/_sandbox/config", json={"latencyMs": 600})
    assert changed.json()["latencyMs"] == 600
    assert _round_trip(caller) >= 0.6
    off = httpx.post(distant.base_url + "/_sandbox/config", json={"latencyMs": 0})
    assert off.json()["latencyMs"] == 0
    assert distant.config.latency_ms == 0


def test_in_flight_peak_counts_concurrent_requests(
    distant: SandboxHandle, make_caller: Callable[..., Caller]
) -> None:
    callers = [make_caller(on=distant) for _ in range(4)]
    start = threading.Barrier(len(callers))
    statuses: list[int] = []

    def send(caller: Caller) -> None:
        start.wait()
        statuses.append(caller.request("POST", INITIATE, body=CREDENTIALS).status_code)

    threads = [threading.Thread(target=send, args=(caller,)) for caller in callers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert statuses == [200] * 4
    stats = httpx.get(distant.base_url + "/_sandbox/stats").json()
    # The latency is an asyncio sleep: the four requests waited side by side, not in turn.
    assert stats["inFlightPeak"] == 4
    assert stats["inFlight"] == 0
    assert stats["partnerRequests"] == 4


def test_sequential_requests_peak_at_one(
    distant: SandboxHandle, make_caller: Callable[..., Caller]
) -> None:
    caller = make_caller(on=distant)
    for _ in range(3):
        _round_trip(caller)
    stats = httpx.get(distant.base_url + "/_sandbox/stats").json()
    assert stats["inFlightPeak"] == 1
    assert stats["partnerRequests"] == 3


def test_reset_stats_starts_the_counters_afresh(
    distant: SandboxHandle, make_caller: Callable[..., Caller]
) -> None:
    _round_trip(make_caller(on=distant))
    before = httpx.get(distant.base_url + "/_sandbox/stats").json()
    assert before["partnerRequests"] == 1 and before["inFlightPeak"] == 1
    fresh = httpx.post(distant.base_url + "/_sandbox/reset-stats").json()
    assert fresh["partnerRequests"] == 0 and fresh["inFlightPeak"] == 0
    assert fresh["byCode"] == {} and fresh["requests"] == 0
    assert httpx.get(distant.base_url + "/_sandbox/stats").json() == fresh


def test_jitter_adds_up_to_its_bound_drawn_per_request() -> None:
    state = SandboxState(SandboxConfig(cities=10, latency_ms=100, latency_jitter_ms=50, seed=3))
    delays = [state.draw_delay() for _ in range(50)]
    assert all(0.1 <= delay <= 0.15 for delay in delays)
    assert len(set(delays)) > 40  # drawn per request, not once
    again = SandboxState(SandboxConfig(cities=10, latency_ms=100, latency_jitter_ms=50, seed=3))
    assert [again.draw_delay() for _ in range(50)] == delays  # seeded


def test_no_latency_means_no_delay_drawn() -> None:
    assert SandboxState(SandboxConfig(cities=10)).draw_delay() == 0.0


def test_latency_flags_of_the_command_line() -> None:
    args = build_parser().parse_args(["--latency", "120", "--latency-jitter", "30"])
    assert (args.latency, args.latency_jitter) == (120.0, 30.0)
    assert build_parser().parse_args([]).latency == 0.0


def test_bad_latency_settings_are_refused(distant: SandboxHandle) -> None:
    config = distant.base_url + "/_sandbox/config"
    assert_error(httpx.post(config, json={"latencyMs": -1}), 400, "4000")
    assert_error(httpx.post(config, json={"latencyJitterMs": "fast"}), 400, "4000")
    assert distant.config.latency_ms == 300
    with pytest.raises(ValueError, match="latency"):
        SandboxConfig(latency_ms=-5)
