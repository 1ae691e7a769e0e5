"""Seeded pseudo-randomness shared by the dataset generators (a leaf module)."""

from __future__ import annotations

import hashlib
from typing import Any

Item = dict[str, Any]
"""One dataset item as served: a JSON object."""

RENAMED_SUFFIX = " (renamed)"
"""What data version 2 appends to the name of a renamed row."""


def seed_key(seed: int) -> bytes:
    """Key the blake2b hashes with the seed, so another seed gives other data."""
    return hashlib.sha256(f"partner-sandbox:{seed}".encode()).digest()[:32]


def rank(key: bytes, text: str) -> bytes:
    """Deterministic pseudo-random sort key used to pick the rows version 2 changes."""
    return hashlib.blake2b(text.encode(), digest_size=8, key=key).digest()
