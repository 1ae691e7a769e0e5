"""Reading datasets against the real sandbox over real HTTP: paging, ETags, consistency.

Pages are fetched concurrently; a `WatchingTransport` under the client counts the requests
in flight and can act at a chosen request (switch the sandbox's data, break a connection).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from partner_api import (
    DatasetChangedError,
    PartnerClient,
    PartnerConnectionError,
    RetryPolicy,
    SandboxOtpSource,
)
from partner_api._dataset import THREAD_NAME_PREFIX
from sandbox import DEMO_EMAIL, DEMO_PASSWORD, SandboxHandle, build_items
from tests.conftest import TEST_CITIES
from tests.partner_api.transports import WatchingTransport


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


def login(client: PartnerClient, sandbox: SandboxHandle) -> PartnerClient:
    client.login(DEMO_EMAIL, DEMO_PASSWORD, SandboxOtpSource(sandbox.base_url))
    return client


def read_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith(THREAD_NAME_PREFIX)]


def on_page(page: int, action: Callable[[], None]) -> Callable[[httpx.Request], None]:
    """A `before` hook that runs `action` once, when `page` is first asked for unconditionally."""
    done = threading.Event()

    def before(request: httpx.Request) -> None:
        asked = request.url.params.get("page")
        if asked == str(page) and "if-none-match" not in request.headers and not done.is_set():
            done.set()
            action()

    return before


@pytest.mark.parametrize(
    ("dataset", "page_size", "pages"),
    [
        ("countries", 1000, 1),  # a single page
        ("cities", 250, 10),  # an exact multiple
        ("cities", 300, 9),  # a short last page
    ],
)
def test_concurrent_pages_arrive_in_order_and_equal_a_sequential_read(
    sandbox: SandboxHandle,
    make_client: Callable[..., PartnerClient],
    dataset: str,
    page_size: int,
    pages: int,
) -> None:
    sequential = login(make_client(page_size=page_size, concurrency=1), sandbox)
    concurrent = login(make_client(page_size=page_size, concurrency=4), sandbox)
    one_by_one = list(sequential.read_dataset(dataset))
    read = concurrent.read_dataset(dataset)
    at_once = list(read)
    assert len(at_once) == pages
    assert at_once == one_by_one
    assert [item for page in at_once for item in page] == build_items(
        dataset, cities=TEST_CITIES, version=1
    )
    assert read.total_elements == sum(len(page) for page in at_once)
    assert len(read.etags) == pages


def test_requests_in_flight_reach_but_never_exceed_the_concurrency(
    sandbox: SandboxHandle, make_client: Callable[..., PartnerClient]
) -> None:
    watch = WatchingTransport(delay=0.02)
    client = login(make_client(page_size=100, concurrency=4, transport=watch), sandbox)
    assert sum(len(page) for page in client.read_dataset("cities")) == TEST_CITIES
    assert watch.max_in_flight == 4


def test_no_page_is_asked_more_than_the_window_ahead_of_the_consumer(
    sandbox: SandboxHandle, make_client: Callable[..., PartnerClient]
) -> None:
    watch = WatchingTransport()
    client = login(make_client(page_size=100, concurrency=3, transport=watch), sandbox)
    ahead = []
    for held, _page in enumerate(client.read_dataset("cities")):
        time.sleep(0.01)  # a slow consumer: the readers would race ahead if allowed
        ahead.append(max(watch.pages) - held)
    # While the consumer holds page k, pages up to k + 3 may be asked, never k + 4.
    assert max(ahead) == 3


def test_every_concurrent_request_is_signed_with_its_own_nonce(
    sandbox: SandboxHandle, make_client: Callable[..., PartnerClient]
) -> None:
    watch = WatchingTransport(delay=0.01)
    client = login(make_client(page_size=100, concurrency=4, transport=watch), sandbox)
    first = client.read_dataset("cities")
    list(first)
    list(client.read_dataset("cities", first.etags))
    nonces = [r.headers["X-Nonce"] for r in watch.requests if "page" in r.url.params]
    assert len(nonces) == 2 * 25 + 1
    assert len(set(nonces)) == len(nonces)
    assert watch.max_in_flight > 1


def test_an_unchanged_dataset_is_confirmed_by_concurrent_304s(
    sandbox: SandboxHandle, make_client: Callable[..., PartnerClient]
) -> None:
    watch = WatchingTransport(delay=0.02)
    client = login(make_client(page_size=100, concurrency=4, transport=watch), sandbox)
    first = client.read_dataset("cities")
    list(first)
    watch.max_in_flight = 0
    sends = client.sends
    again = client.read_dataset("cities", first.etags)
    assert list(again) == []
    assert again.not_modified
    assert again.etags == first.etags
    assert client.sends - sends == 25
    assert watch.max_in_flight == 4


def test_a_dataset_that_changes_between_pages_is_refused(
    sandbox: SandboxHandle,
    make_client: Callable[..., PartnerClient],
    sandbox_control: Callable[..., Any],
) -> None:
    switch = on_page(3, lambda: sandbox_control("data-version", {"version": 2}))
    watch = WatchingTransport(before=switch)
    client = login(make_client(concurrency=4, transport=watch), sandbox)
    # Same size, different rows: only page 0's ETag, asked again at the end, can tell.
    with pytest.raises(DatasetChangedError, match="page 0 no longer matches its ETag"):
        list(client.read_dataset("languages"))
    assert read_threads() == []


def test_a_changed_total_between_pages_is_refused(
    sandbox: SandboxHandle,
    make_client: Callable[..., PartnerClient],
    sandbox_control: Callable[..., Any],
) -> None:
    switch = on_page(2, lambda: sandbox_control("data-version", {"version": 2}))
    watch = WatchingTransport(before=switch)
    client = login(make_client(page_size=250, concurrency=4, transport=watch), sandbox)
    # 2,503 cities instead of 2,500 from page 2 on (page 1 may already have been served).
    with pytest.raises(DatasetChangedError, match="totalElements 2500 -> 2503"):
        list(client.read_dataset("cities"))
    assert read_threads() == []


def test_stopping_early_cancels_the_rest_and_ends_the_threads(
    sandbox: SandboxHandle, make_client: Callable[..., PartnerClient]
) -> None:
    watch = WatchingTransport(delay=0.05)
    client = login(make_client(page_size=100, concurrency=4, transport=watch), sandbox)
    read = client.read_dataset("cities")
    pages = iter(read)
    next(pages)
    next(pages)
    assert read_threads()  # the workers are busy with the next pages
    read.close()
    assert read_threads() == []
    assert max(watch.pages) <= 1 + 4  # holding page 1: at most pages 2-5 were asked
    with pytest.raises(StopIteration):
        next(pages)


def test_a_dropped_iterator_ends_the_threads(
    sandbox: SandboxHandle, make_client: Callable[..., PartnerClient]
) -> None:
    client = login(make_client(page_size=100, concurrency=4), sandbox)
    pages = iter(client.read_dataset("cities"))
    next(pages)
    pages.close()
    assert read_threads() == []


def test_a_failing_page_is_raised_in_order_and_ends_the_threads(
    sandbox: SandboxHandle, make_client: Callable[..., PartnerClient]
) -> None:
    def drop_page_5(request: httpx.Request) -> None:
        if request.url.params.get("page") == "5":
            raise httpx.ReadError("connection reset by the test")

    watch = WatchingTransport(before=drop_page_5)
    client = login(
        make_client(
            page_size=100,
            concurrency=4,
            transport=watch,
            retry_policy=RetryPolicy(max_attempts=2),
            sleep=lambda _seconds: None,
        ),
        sandbox,
    )
    received = []
    with pytest.raises(PartnerConnectionError):
        for page in client.read_dataset("cities"):
            received.append(page)
    assert len(received) == 5  # pages 0-4, in order, before the failure
    assert read_threads() == []


def test_a_rate_limited_read_halves_its_concurrency_and_honours_retry_after(
    sandbox: SandboxHandle,
    make_client: Callable[..., PartnerClient],
    sandbox_control: Callable[..., Any],
) -> None:
    client = login(make_client(page_size=250, concurrency=4), sandbox)
    limited = sandbox_control("stats")["rateLimited"]
    # A bucket of 4 requests refilled at 4 a second: a burst of ten pages meets 429s.
    sandbox_control("config", {"rateLimit": 4})
    started = time.monotonic()
    items = [item for page in client.read_dataset("cities") for item in page]
    elapsed = time.monotonic() - started
    assert items == build_items("cities", cities=TEST_CITIES, version=1)
    assert sandbox_control("stats")["rateLimited"] > limited
    assert client._transport.limit.limit <= 2  # halved, not yet grown back
    assert elapsed >= 1.0  # the sandbox's Retry-After (at least 1 s) was waited


def test_a_session_expiring_under_concurrent_pages_is_renewed_once(
    sandbox: SandboxHandle,
    make_client: Callable[..., PartnerClient],
    sandbox_control: Callable[..., Any],
) -> None:
    # Pages 1-4 leave together; the sessions end before any of them reaches the server.
    expire = on_page(2, lambda: sandbox_control("expire-sessions", {}))
    watch = WatchingTransport(delay=0.05, before=expire)
    client = login(make_client(page_size=100, concurrency=4, transport=watch), sandbox)
    logins = sandbox_control("stats")["logins"]
    assert sum(len(page) for page in client.read_dataset("cities")) == TEST_CITIES
    assert sandbox_control("stats")["logins"] == logins + 1


def test_closing_cuts_short_a_retry_waiting_out_a_long_retry_after(
    sandbox: SandboxHandle,
    make_client: Callable[..., PartnerClient],
    sandbox_control: Callable[..., Any],
) -> None:
    # From page 2 on every request meets a 429 asking for 30 s of patience.
    throttle = on_page(
        2,
        lambda: sandbox_control(
            "config", {"faultRate": 1.0, "faultKinds": ["429"], "retryAfter": 30}
        ),
    )
    watch = WatchingTransport(before=throttle)
    client = login(make_client(page_size=100, concurrency=4, transport=watch), sandbox)
    faults = sandbox_control("stats")["byFault"].get("429", 0)
    read = client.read_dataset("cities")
    next(iter(read))
    deadline = time.monotonic() + 10
    while sandbox_control("stats")["byFault"].get("429", 0) == faults:
        assert time.monotonic() < deadline, "no 429 was served"
        time.sleep(0.01)
    started = time.monotonic()
    read.close()
    assert time.monotonic() - started < 5
    assert read_threads() == []
