"""Reading datasets against the real sandbox over real HTTP: paging, ETags, consistency."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from partner_api import DatasetChangedError, PartnerClient, SandboxOtpSource
from sandbox import DEMO_EMAIL, DEMO_PASSWORD, SandboxHandle, build_items
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
