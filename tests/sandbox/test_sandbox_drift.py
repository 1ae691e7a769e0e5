"""Schema drift switches: a new, unlisted field; a listed field that changes type."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import httpx
import pytest

from partner_api.datasets import DATASETS
from sandbox import NEW_FIELD, SandboxConfig, SandboxHandle, build_items, type_drift_of
from sandbox._cli import build_parser
from tests.sandbox.conftest import TEST_SEED
from tests.support.caller import Caller, assert_error

CITIES = 300


@pytest.fixture
def drifting() -> Iterator[SandboxHandle]:
    """A fresh sandbox per test: its drift switches start off, whatever another test set."""
    from sandbox import running_sandbox

    with running_sandbox(SandboxConfig(cities=CITIES, seed=TEST_SEED)) as handle:
        yield handle


@pytest.fixture
def reader(drifting: SandboxHandle, make_caller: Callable[..., Caller]) -> Caller:
    """A logged-in caller on the drifting sandbox."""
    caller = make_caller(on=drifting)
    caller.login()
    return caller


def _switch(handle: SandboxHandle, **switches: list[str]) -> dict[str, object]:
    answer = httpx.post(handle.base_url + "/_sandbox/config", json=switches)
    assert answer.status_code == 200, answer.text
    result: dict[str, object] = answer.json()
    return result


def _page(reader: Caller, dataset: str, etag: str | None = None) -> httpx.Response:
    headers = {"If-None-Match": etag} if etag else None
    return reader.dataset(dataset, "page=0&size=1000", headers=headers)


def test_new_field_switch_adds_an_unlisted_field_and_changes_the_etag(
    drifting: SandboxHandle, reader: Caller
) -> None:
    before = _page(reader, "countries")
    assert all(NEW_FIELD not in item for item in before.json()["data"]["content"])
    assert _switch(drifting, driftNewField=["countries"])["driftNewField"] == ["countries"]
    after = _page(reader, "countries", before.headers["etag"])
    # The old ETag no longer matches: the client gets the drifted rows, not a 304.
    assert after.status_code == 200
    assert after.headers["etag"] != before.headers["etag"]
    items = after.json()["data"]["content"]
    assert items == build_items("countries", new_field=True)
    assert all(item[NEW_FIELD] == f"note {item['code']}" for item in items)
    # Only the switched dataset drifts.
    assert all(
        NEW_FIELD not in item for item in _page(reader, "currencies").json()["data"]["content"]
    )
    # Switched off, the data and its ETag are what they were.
    _switch(drifting, driftNewField=[])
    assert _page(reader, "countries", before.headers["etag"]).status_code == 304


def test_type_switch_sends_the_city_population_as_text(
    drifting: SandboxHandle, reader: Caller
) -> None:
    before = _page(reader, "cities")
    assert all(isinstance(city["population"], int) for city in before.json()["data"]["content"])
    _switch(drifting, driftType=["cities"])
    after = _page(reader, "cities", before.headers["etag"])
    assert after.status_code == 200
    assert after.headers["etag"] != before.headers["etag"]
    cities = after.json()["data"]["content"]
    assert all(isinstance(city["population"], str) for city in cities)
    assert cities == build_items("cities", cities=CITIES, seed=TEST_SEED, type_drift=True)
    # The whole list (streamed) drifts the same way as the pages.
    assert reader.dataset("cities").json()["data"] == cities


def test_type_switch_makes_a_required_name_null(drifting: SandboxHandle, reader: Caller) -> None:
    assert type_drift_of("currencies") == ("name", "null")
    before = _page(reader, "currencies")
    _switch(drifting, driftType=["currencies"])
    after = _page(reader, "currencies", before.headers["etag"])
    assert after.status_code == 200 and after.headers["etag"] != before.headers["etag"]
    assert all(item["name"] is None for item in after.json()["data"]["content"])
    assert [item["code"] for item in after.json()["data"]["content"]] == [
        item["code"] for item in before.json()["data"]["content"]
    ]


def test_both_switches_together_have_their_own_etag(
    drifting: SandboxHandle, reader: Caller
) -> None:
    etags = {_page(reader, "cities").headers["etag"]}
    for switches in (
        {"driftNewField": ["cities"]},
        {"driftType": ["cities"]},
        {"driftNewField": []},
    ):
        _switch(drifting, **switches)
        etags.add(_page(reader, "cities").headers["etag"])
    assert len(etags) == 4  # none, new field, both, type only


@pytest.mark.parametrize("dataset", list(DATASETS))
def test_every_registry_dataset_can_drift(dataset: str) -> None:
    plain = build_items(dataset, cities=20)
    field, kind = type_drift_of(dataset)
    drifted = build_items(dataset, cities=20, new_field=True, type_drift=True)
    key = DATASETS[dataset].key
    assert [item[key] for item in drifted] == [item[key] for item in plain]
    for old, new in zip(plain, drifted, strict=True):
        assert new[NEW_FIELD] == f"note {old[key]}"
        assert new[field] == (None if kind == "null" else str(old[field]))
        assert {k: v for k, v in new.items() if k not in (NEW_FIELD, field)} == {
            k: v for k, v in old.items() if k != field
        }


def test_drift_switches_on_the_command_line() -> None:
    args = build_parser().parse_args(
        ["--drift-new-field", "cities,countries", "--drift-type", "cities"]
    )
    assert args.drift_new_field == ("cities", "countries")
    assert args.drift_type == ("cities",)
    config = SandboxConfig(drift_new_field=args.drift_new_field, drift_type=args.drift_type)
    assert config.drift_new_field == ("cities", "countries")


def test_unknown_datasets_in_a_switch_are_refused(drifting: SandboxHandle) -> None:
    config = drifting.base_url + "/_sandbox/config"
    assert_error(httpx.post(config, json={"driftNewField": ["planets"]}), 400, "4000")
    assert_error(httpx.post(config, json={"driftType": "cities"}), 400, "4000")
    assert drifting.config.drift_new_field == () and drifting.config.drift_type == ()
    with pytest.raises(ValueError, match="planets"):
        SandboxConfig(drift_type=("planets",))
