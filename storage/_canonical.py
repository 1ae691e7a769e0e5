"""Canonical JSON and content hashes of wire items: what decides "changed".

The canonical JSON of an item is `json.dumps(item, sort_keys=True, separators=(",", ":"),
ensure_ascii=False)`; its sha256 is the row's `content_hash`. Hashing is the biggest
Python cost of an unchanged re-sync, so the bytes are produced by orjson where it writes
exactly the same, and by the standard library elsewhere.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from typing import Any

_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _make_encode() -> Callable[[Any], str]:
    """The canonical JSON encoder, as fast as the standard library allows.

    `JSONEncoder.encode` builds a new C encoder for every call; one C encoder built once
    (without the circular-reference check: items come from parsed JSON and cannot be
    circular) does the same work about 20% faster, and hashing is the biggest cost of an
    unchanged re-sync.
    """
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:  # pragma: no cover  (CPython without the _json accelerator)
        return _ENCODER.encode
    encoder = make(
        None,  # markers: no circular check
        _ENCODER.default,
        json.encoder.encode_basestring,  # ensure_ascii=False
        None,  # indent
        ":",
        ",",
        True,  # sort_keys
        False,  # skipkeys
        True,  # allow_nan, as json.dumps
    )
    join = "".join

    def encode(item: Any) -> str:
        return join(encoder(item, 0))

    return encode


#: The canonical JSON of an item: sorted keys, no spaces, UTF-8 kept as is.
_encode = _make_encode()

#: orjson writes a float below 1e-4 as `0.00001` or `2.5e-7` where Python writes `1e-05`
#: and `2.5e-07`; this finds the second form (the first contains `0.0000`).
_SHORT_EXPONENT = re.compile(rb"\de-")


def _make_encoders(
    encode: Callable[[Any], str],
) -> tuple[Callable[[Any], bytes], Callable[[list[Any]], list[bytes]]]:
    """The canonical JSON as UTF-8 bytes, exactly `encode(item).encode()`, 2-3x faster.

    Returns one function for an item and one for a batch. orjson (sorted keys) writes the
    same bytes as `json.dumps` except for floats below 1e-4 and NaN or infinities (orjson
    writes `null`), and refuses integers beyond 64 bits (and, with the passthrough
    options, subclasses, dates and dataclasses). Items where any of that may be the case
    (a plain None also writes `null`: the fallback is only slower) go through the
    standard library. The batch form looks for those cases once in the whole batch, not
    once per item. Hashing is the biggest cost of an unchanged re-sync.
    """
    try:
        import orjson
    except ImportError:  # pragma: no cover  (orjson is a dependency)

        def plain(item: Any) -> bytes:
            return encode(item).encode()

        return plain, lambda items: [plain(item) for item in items]
    dumps = orjson.dumps
    option = (
        orjson.OPT_SORT_KEYS
        | orjson.OPT_PASSTHROUGH_SUBCLASS
        | orjson.OPT_PASSTHROUGH_DATETIME
        | orjson.OPT_PASSTHROUGH_DATACLASS
    )
    short_exponent = _SHORT_EXPONENT.search

    def suspect(out: bytes) -> bool:
        # Plain substring tests: each is a memchr-fast scan, a regex is ten times slower.
        # A JSON null follows `:`, `,` or `[`; "null" inside a name ("Fenulloburg") does not.
        return (
            (b"null" in out and (b":null" in out or b",null" in out or b"[null" in out))
            or b"0.0000" in out
            or (b"e-" in out and short_exponent(out) is not None)
        )

    def encode_bytes(item: Any) -> bytes:
        try:
            out: bytes = dumps(item, option=option)
        except TypeError:  # orjson.JSONEncodeError
            return encode(item).encode()
        return encode(item).encode() if suspect(out) else out

    def encode_batch(items: list[Any]) -> list[bytes]:
        try:
            outs: list[bytes] = [dumps(item, option=option) for item in items]
        except TypeError:  # orjson.JSONEncodeError
            return [encode_bytes(item) for item in items]
        if not suspect(b"\n".join(outs)):  # one scan of the batch: the usual case
            return outs
        return [encode(i).encode() if suspect(o) else o for i, o in zip(items, outs, strict=True)]

    return encode_bytes, encode_batch


#: `_encode(item).encode()` of one item and of a batch, fast: what content hashes hash.
_encode_bytes, _encode_batch = _make_encoders(_encode)


def canonical_json(item: dict[str, Any]) -> str:
    """`json.dumps(item, sort_keys=True, separators=(",", ":"), ensure_ascii=False)`."""
    return _encode(item)


def content_hash(item: dict[str, Any]) -> str:
    """The sha256 hex digest of the item's canonical JSON: equal iff the content is equal."""
    return hashlib.sha256(_encode_bytes(item)).hexdigest()
