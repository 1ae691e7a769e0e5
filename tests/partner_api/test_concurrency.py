"""`AdaptiveLimit`: the gate on requests in flight, halved by a 429, grown back by successes."""

from __future__ import annotations

import threading
import time

import pytest

from partner_api._concurrency import AdaptiveLimit


def throttle(limit: AdaptiveLimit) -> None:
    """One request that meets a 429."""
    limit.release(limit.acquire(), throttled=True)


def succeed(limit: AdaptiveLimit, times: int = 1) -> None:
    """`times` requests that succeed, one after another."""
    for _ in range(times):
        limit.release(limit.acquire(), succeeded=True)


def test_the_limit_starts_at_the_maximum_and_admits_that_many() -> None:
    limit = AdaptiveLimit(3)
    tickets = [limit.acquire() for _ in range(3)]
    assert limit.limit == 3
    assert limit.in_flight == 3
    for ticket in tickets:
        limit.release(ticket, succeeded=True)
    assert limit.in_flight == 0


def test_a_full_gate_blocks_until_a_request_finishes() -> None:
    limit = AdaptiveLimit(1)
    ticket = limit.acquire()
    entered = threading.Event()

    def second() -> None:
        limit.release(limit.acquire())
        entered.set()

    thread = threading.Thread(target=second)
    thread.start()
    assert not entered.wait(0.1)
    limit.release(ticket)
    assert entered.wait(5)
    thread.join()


def test_a_429_halves_the_limit_down_to_one() -> None:
    limit = AdaptiveLimit(8)
    seen = []
    for _ in range(5):
        throttle(limit)
        seen.append(limit.limit)
    assert seen == [4, 2, 1, 1, 1]


def test_429s_of_one_crowd_halve_only_once() -> None:
    limit = AdaptiveLimit(8)
    crowd = [limit.acquire() for _ in range(4)]  # sent together, before any answer
    for ticket in crowd:
        limit.release(ticket, throttled=True)
    assert limit.limit == 4
    throttle(limit)  # sent after the halving: it says the new limit is still too high
    assert limit.limit == 2


def test_successes_grow_the_limit_back_by_one_up_to_the_maximum() -> None:
    limit = AdaptiveLimit(4, grow_after=3)
    throttle(limit)
    throttle(limit)
    assert limit.limit == 1
    succeed(limit, 2)
    assert limit.limit == 1
    succeed(limit)
    assert limit.limit == 2
    succeed(limit, 3 * 10)
    assert limit.limit == 4


def test_a_429_restarts_the_count_towards_growing() -> None:
    limit = AdaptiveLimit(4, grow_after=3)
    throttle(limit)
    succeed(limit, 2)
    throttle(limit)
    succeed(limit, 2)
    assert limit.limit == 1


def test_other_errors_neither_halve_nor_grow() -> None:
    limit = AdaptiveLimit(4, grow_after=1)
    throttle(limit)
    limit.release(limit.acquire())  # a 5xx or a dropped connection
    assert limit.limit == 2
    assert limit.in_flight == 0


def test_a_halved_limit_holds_new_requests_back() -> None:
    limit = AdaptiveLimit(4)
    held = [limit.acquire() for _ in range(3)]
    limit.release(limit.acquire(), throttled=True)  # 4 -> 2 while 3 are still in flight
    admitted = threading.Event()

    def late() -> None:
        limit.release(limit.acquire())
        admitted.set()

    thread = threading.Thread(target=late)
    thread.start()
    limit.release(held.pop())
    assert not admitted.wait(0.1)  # 2 in flight, limit 2: still full
    limit.release(held.pop())
    assert admitted.wait(5)
    thread.join()
    limit.release(held.pop())


def test_many_threads_never_exceed_the_limit() -> None:
    limit = AdaptiveLimit(3)
    lock = threading.Lock()
    inside = 0
    most = 0

    def work() -> None:
        nonlocal inside, most
        for _ in range(20):
            ticket = limit.acquire()
            with lock:
                inside += 1
                most = max(most, inside)
            time.sleep(0.001)
            with lock:
                inside -= 1
            limit.release(ticket, succeeded=True)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert most == 3


@pytest.mark.parametrize(("maximum", "grow_after"), [(0, 8), (4, 0)])
def test_nonsense_bounds_are_refused(maximum: int, grow_after: int) -> None:
    with pytest.raises(ValueError, match="at least 1"):
        AdaptiveLimit(maximum, grow_after=grow_after)
