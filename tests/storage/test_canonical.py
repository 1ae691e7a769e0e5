"""The fast canonical encoding that content hashes are computed from is exactly `json.dumps`."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from storage._canonical import _encode_batch, _encode_bytes, canonical_json, content_hash

from .data import city

# Values a parsed JSON item can hold, including the floats and integers where orjson and
# the standard library write different text (below 1e-4, NaN, beyond 64 bits).
_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.floats(min_value=-1e-3, max_value=1e-3)
    | st.text(st.characters(exclude_categories=["Cs"]), max_size=12)
)
_values = st.recursive(
    _scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=8,
)
_items = st.dictionaries(st.text(max_size=8), _values, min_size=1, max_size=6)


def _reference(item: dict[str, Any]) -> bytes:
    return json.dumps(item, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


@settings(max_examples=500, deadline=None)
@given(_items)
def test_the_hashed_bytes_are_exactly_json_dumps(item: dict[str, Any]) -> None:
    assert _encode_bytes(item) == _reference(item)
    assert _encode_bytes(item) == canonical_json(item).encode()


def test_the_forms_orjson_writes_differently_fall_back() -> None:
    for value in (1e-05, 2.5e-07, -0.00009, float("nan"), float("inf"), 2**64, None):
        item = {"id": 1, "value": value, "name": "Sainte-Marie"}
        assert _encode_bytes(item) == _reference(item)


@settings(max_examples=300, deadline=None)
@given(st.lists(_items, max_size=6))
def test_a_batch_is_encoded_as_each_of_its_items(items: list[dict[str, Any]]) -> None:
    assert _encode_batch(items) == [_reference(item) for item in items]


def test_a_batch_of_plain_items_takes_the_fast_path_and_matches() -> None:
    items = [
        {"id": n, "name": f"Sainte-Ville {n}", "latitude": n / 7, "longitude": -n * 1.5}
        for n in range(1, 500)
    ]
    items.append({"id": 0, "name": "tiny", "latitude": 2.5e-07, "longitude": 1e-05})
    assert _encode_batch(items) == [_reference(item) for item in items]
    assert _encode_batch(items[:-1]) == [_reference(item) for item in items[:-1]]


def test_content_hash_is_sha256_of_the_canonical_json() -> None:
    import hashlib
    import json

    item = {"name": "Zürich", "id": 3, "extraField": {"b": 1, "a": [1.5, None]}}
    canonical = json.dumps(item, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert content_hash(item) == hashlib.sha256(canonical.encode()).hexdigest()


@pytest.mark.parametrize(
    "item",
    [
        city(1),
        {"b": 1, "a": 'Zürich "quoted" \\ \n', "c": [1.5, None, True, False, {"z": 1, "y": 2}]},
        {"big": 10**30, "small": -0.0, "tiny": 1e-300, "nan": float("nan"), "inf": float("inf")},
        {"emoji": "\U0001f600", "control": "\x00\x1f", "empty": {}},
    ],
)
def test_the_fast_encoder_is_exactly_json_dumps(item: dict[str, Any]) -> None:
    import json

    from storage._canonical import canonical_json

    expected = json.dumps(item, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert canonical_json(item) == expected
