"""The datasets the sandbox serves: one view per (dataset, data version, drift switches).

The dataset names and key fields come from THE registry, `partner_api.datasets.DATASETS`;
this module only knows how to make each dataset's items (`sandbox._codes` from `pycountry`,
`sandbox._cities` generated) and refuses, at import, a registry entry it cannot make.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from partner_api.datasets import DATASETS
from sandbox._cities import CITY_GENERATOR_REVISION, CityTable
from sandbox._codes import CODE_DATASETS, code_items
from sandbox._config import DEFAULT_CITIES, DEFAULT_SEED
from sandbox._drift import drift_items
from sandbox._keys import Item

_MISSING = set(DATASETS) - {*CODE_DATASETS, "cities"}
if _MISSING:  # pragma: no cover - a registry entry added without teaching the sandbox
    raise RuntimeError(f"the sandbox cannot generate dataset(s) {sorted(_MISSING)}")


@dataclass(frozen=True)
class DatasetView:
    """One dataset in one data version (and drift): its size, a content fingerprint, its items."""

    name: str
    version: int
    fingerprint: str
    """Changes iff the dataset's content changes; the ETag is derived from it."""
    total: int
    _items: tuple[Item, ...] | None = None
    _cities: CityTable | None = None
    _drift: Callable[[list[Item]], list[Item]] | None = None

    def slice(self, start: int, stop: int) -> list[Item]:
        """Items `start` to `stop` (exclusive) in key order; fresh dicts the caller may keep."""
        if self._cities is not None:
            items = self._cities.make_many(self._cities.ids[start:stop])
        else:
            assert self._items is not None
            items = [dict(it) for it in self._items[start:stop]]
        return items if self._drift is None else self._drift(items)

    def chunks(self, size: int = 1000) -> Iterator[list[Item]]:
        """All items, `size` at a time, so a million cities never sit in memory at once."""
        for start in range(0, self.total, size):
            yield self.slice(start, min(start + size, self.total))


def _code_fingerprint(name: str, items: Sequence[Item]) -> str:
    blob = json.dumps(items, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(f"{name}\n{blob}".encode()).hexdigest()


class Catalog:
    """Every dataset of one sandbox (seed, number of cities) in both versions, built lazily."""

    def __init__(self, *, seed: int = DEFAULT_SEED, cities: int = DEFAULT_CITIES) -> None:
        self.seed = seed
        self.cities = cities
        self._views: dict[tuple[str, int, bool, bool], DatasetView] = {}
        # Building version-2 cities walks every id once; do it once even if asked concurrently.
        self._lock = threading.Lock()

    def view(
        self, dataset: str, version: int, *, new_field: bool = False, type_drift: bool = False
    ) -> DatasetView:
        """The dataset in that version, with the drift switches; `KeyError` for an unknown one."""
        if dataset not in DATASETS:
            raise KeyError(dataset)
        if version not in (1, 2):
            raise ValueError(f"unknown data version {version}")
        key = (dataset, version, new_field, type_drift)
        found = self._views.get(key)
        if found is not None:
            return found
        with self._lock:
            found = self._views.get(key)
            if found is None:
                found = self._build(*key)
                self._views[key] = found
            return found

    def _build(self, dataset: str, version: int, new_field: bool, type_drift: bool) -> DatasetView:
        if new_field or type_drift:
            plain = self._plain(dataset, version)
            # The switches are part of the content: the fingerprint (so every ETag) moves too.
            fingerprint = hashlib.sha256(
                f"{plain.fingerprint}|new-field={new_field}|type-drift={type_drift}".encode()
            ).hexdigest()

            def drift(items: list[Item], key: str = DATASETS[dataset].key) -> list[Item]:
                return drift_items(dataset, key, items, new_field=new_field, type_drift=type_drift)

            return DatasetView(
                dataset,
                version,
                fingerprint,
                plain.total,
                _items=plain._items,
                _cities=plain._cities,
                _drift=drift,
            )
        return self._plain(dataset, version)

    def _plain(self, dataset: str, version: int) -> DatasetView:
        found = self._views.get((dataset, version, False, False))
        if found is not None:
            return found
        if dataset == "cities":
            table = CityTable(self.seed, self.cities, version)
            fingerprint = hashlib.sha256(
                f"cities:{self.seed}:{self.cities}:{version}:{CITY_GENERATOR_REVISION}".encode()
            ).hexdigest()
            view = DatasetView(dataset, version, fingerprint, len(table.ids), _cities=table)
        else:
            items = code_items(dataset, version, self.seed)
            view = DatasetView(
                dataset, version, _code_fingerprint(dataset, items), len(items), _items=items
            )
        self._views[(dataset, version, False, False)] = view
        return view


def build_items(
    dataset: str,
    *,
    cities: int = DEFAULT_CITIES,
    version: int = 1,
    seed: int = DEFAULT_SEED,
    new_field: bool = False,
    type_drift: bool = False,
) -> list[dict[str, Any]]:
    """Return exactly the items the sandbox serves for `dataset`, in key order.

    `cities` and `seed` must match the sandbox's `SandboxConfig` for the cities to agree;
    `new_field` / `type_drift` are the drift switches (`sandbox._drift`). Raises `KeyError`
    for an unknown dataset.
    """
    view = Catalog(seed=seed, cities=cities).view(
        dataset, version, new_field=new_field, type_drift=type_drift
    )
    return view.slice(0, view.total)
