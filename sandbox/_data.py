"""The reference datasets the sandbox serves, in version 1 (as published) and 2 (changed).

Countries, currencies and languages come from `pycountry`. Cities are generated: each city is a
pure function of `(seed, id)`, computed when a page asks for it, so a million cities cost an
array of ids (only for version 2) and no dicts at rest.

Version 2 is the "the partner changed its data" version used by chaos tests: in every dataset
about 1% of the rows are renamed, about 1% are gone and about 1% are new (new keys that cannot
clash with real ones).
"""

from __future__ import annotations

import hashlib
import json
import threading
from array import array
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import pycountry

from sandbox._config import DEFAULT_SEED

DATASETS: tuple[str, ...] = ("countries", "currencies", "languages", "cities")
"""Names of the datasets, as they appear in `/api/v1/partner/constants/{dataset}`."""

KEY_FIELDS: dict[str, str] = {
    "countries": "code",
    "currencies": "code",
    "languages": "code",
    "cities": "id",
}
"""The key field of each dataset's items."""

# Bump when the city generator changes, so fingerprints (and ETags) change with it.
_CITY_GENERATOR_REVISION = 1
_RENAMED_SUFFIX = " (renamed)"

Item = dict[str, Any]


def _seed_key(seed: int) -> bytes:
    """Key the blake2b hashes with the seed, so another seed gives other data."""
    return hashlib.sha256(f"partner-sandbox:{seed}".encode()).digest()[:32]


def _rank(seed_key: bytes, text: str) -> bytes:
    """Deterministic pseudo-random sort key used to pick the rows version 2 changes."""
    return hashlib.blake2b(text.encode(), digest_size=8, key=seed_key).digest()


# ---------------------------------------------------------------------------------------------
# Code datasets (pycountry)


@lru_cache(maxsize=1)
def _pycountry_items() -> dict[str, tuple[Item, ...]]:
    """Version-1 items of the code datasets, sorted by code; read from pycountry once."""
    countries: list[Item] = []
    for c in pycountry.countries:
        item: Item = {
            "code": c.alpha_2,
            "alpha3": c.alpha_3,
            "numeric": c.numeric,
            "name": c.name,
        }
        official = getattr(c, "official_name", None)
        if official:
            item["officialName"] = official
        countries.append(item)
    currencies: list[Item] = [
        {"code": c.alpha_3, "numeric": c.numeric, "name": c.name} for c in pycountry.currencies
    ]
    languages: list[Item] = []
    for lang in pycountry.languages:
        item = {"code": lang.alpha_3}
        alpha2 = getattr(lang, "alpha_2", None)
        if alpha2:
            item["alpha2"] = alpha2
        item["name"] = lang.name
        languages.append(item)
    return {
        name: tuple(sorted(items, key=lambda it: str(it["code"])))
        for name, items in (
            ("countries", countries),
            ("currencies", currencies),
            ("languages", languages),
        )
    }


def _letters() -> str:
    return "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def _new_code_rows(dataset: str, items: Sequence[Item], count: int) -> list[Item]:
    """Invent `count` rows whose codes cannot clash with real ISO codes.

    They use the ranges ISO reserves for private use: alpha-2 `X?`, alpha-3 `XQ?` for
    currencies, ISO 639-3 `qaa`-`qtz` for languages; numeric codes from the unused 9xx range.
    """
    used_codes = {str(it["code"]) for it in items}
    used_numeric = {str(it.get("numeric")) for it in items}
    used_alpha3 = {str(it.get("alpha3")) for it in items}
    numerics = (f"{n:03d}" for n in range(999, 99, -1) if f"{n:03d}" not in used_numeric)
    rows: list[Item] = []
    if dataset == "countries":
        for letter in _letters():
            code, alpha3 = "X" + letter, "X" + letter + letter
            if code in used_codes or alpha3 in used_alpha3 or code == "XK":
                continue  # XK is in common use for Kosovo
            rows.append(
                {
                    "code": code,
                    "alpha3": alpha3,
                    "numeric": next(numerics),
                    "name": f"Sandbox Territory {letter}",
                }
            )
            if len(rows) == count:
                break
    elif dataset == "currencies":
        for letter in _letters():
            code = "XQ" + letter
            if code in used_codes:
                continue
            rows.append({"code": code, "numeric": next(numerics), "name": f"Sandbox Unit {letter}"})
            if len(rows) == count:
                break
    else:
        for second in "abcdefghijklmnopqrst":
            for third in _letters().lower():
                code = "q" + second + third
                if code in used_codes:
                    continue
                rows.append({"code": code, "name": f"Sandbox Language {code.upper()}"})
                if len(rows) == count:
                    return rows
    return rows


def _changed_code_items(dataset: str, items: Sequence[Item], seed: int) -> tuple[Item, ...]:
    """Version 2 of a code dataset: ~1% renamed, ~1% gone, ~1% new (at least one of each)."""
    key = _seed_key(seed)
    k = max(1, round(len(items) / 100))
    ranked = sorted(items, key=lambda it: _rank(key, f"{dataset}:{it['code']}"))
    renamed = {it["code"] for it in ranked[:k]}
    gone = {it["code"] for it in ranked[k : 2 * k]}
    out: list[Item] = []
    for it in items:
        if it["code"] in gone:
            continue
        if it["code"] in renamed:
            it = {**it, "name": str(it["name"]) + _RENAMED_SUFFIX}
        out.append(it)
    out.extend(_new_code_rows(dataset, items, k))
    out.sort(key=lambda it: str(it["code"]))
    return tuple(out)


# ---------------------------------------------------------------------------------------------
# Cities (generated)

# (country, timezone, latitude, longitude) of places cities are scattered around.
_SITES: tuple[tuple[str, str, float, float], ...] = (
    ("DE", "Europe/Berlin", 51.2, 10.4),
    ("FR", "Europe/Paris", 46.6, 2.4),
    ("GB", "Europe/London", 53.0, -1.5),
    ("ES", "Europe/Madrid", 40.3, -3.7),
    ("IT", "Europe/Rome", 42.8, 12.5),
    ("NL", "Europe/Amsterdam", 52.2, 5.3),
    ("PL", "Europe/Warsaw", 52.0, 19.4),
    ("SE", "Europe/Stockholm", 60.1, 15.6),
    ("NO", "Europe/Oslo", 61.0, 9.0),
    ("FI", "Europe/Helsinki", 62.5, 25.7),
    ("PT", "Europe/Lisbon", 39.6, -8.0),
    ("GR", "Europe/Athens", 39.1, 22.0),
    ("TR", "Europe/Istanbul", 39.0, 35.2),
    ("UA", "Europe/Kyiv", 49.0, 31.4),
    ("US", "America/New_York", 40.7, -74.0),
    ("US", "America/Chicago", 41.9, -87.6),
    ("US", "America/Denver", 39.7, -105.0),
    ("US", "America/Los_Angeles", 34.1, -118.2),
    ("CA", "America/Toronto", 43.7, -79.4),
    ("CA", "America/Vancouver", 49.3, -123.1),
    ("MX", "America/Mexico_City", 19.4, -99.1),
    ("BR", "America/Sao_Paulo", -23.5, -46.6),
    ("AR", "America/Argentina/Buenos_Aires", -34.6, -58.4),
    ("CL", "America/Santiago", -33.4, -70.6),
    ("CO", "America/Bogota", 4.7, -74.1),
    ("PE", "America/Lima", -12.0, -77.0),
    ("ZA", "Africa/Johannesburg", -26.2, 28.0),
    ("NG", "Africa/Lagos", 6.5, 3.4),
    ("EG", "Africa/Cairo", 30.0, 31.2),
    ("KE", "Africa/Nairobi", -1.3, 36.8),
    ("MA", "Africa/Casablanca", 33.6, -7.6),
    ("IN", "Asia/Kolkata", 22.0, 79.0),
    ("CN", "Asia/Shanghai", 31.2, 121.5),
    ("JP", "Asia/Tokyo", 35.7, 139.7),
    ("KR", "Asia/Seoul", 37.6, 127.0),
    ("ID", "Asia/Jakarta", -6.2, 106.8),
    ("TH", "Asia/Bangkok", 13.8, 100.5),
    ("VN", "Asia/Ho_Chi_Minh", 10.8, 106.7),
    ("AU", "Australia/Sydney", -33.9, 151.2),
    ("NZ", "Pacific/Auckland", -36.8, 174.8),
)
_SYLLABLES: tuple[str, ...] = (
    "ka", "lo", "mi", "ra", "ten", "bur", "sa", "vel",
    "do", "ri", "an", "mor", "li", "ne", "ta", "gar",
    "be", "so", "ul", "fen", "ha", "ko", "pa", "tri",
    "el", "os", "wa", "zan", "qui", "dar", "mo", "sil",
)  # fmt: skip
_SUFFIXES: tuple[str, ...] = ("", "", "", "ville", "burg", "ford", " Springs", "stad")
_N_SITES = len(_SITES)
_SITES_E4 = tuple((c, tz, round(lat * 10_000), round(lon * 10_000)) for c, tz, lat, lon in _SITES)
# Populations from 1,000 to about 5 million, log-uniform: most places are small.
_POPULATIONS: tuple[int, ...] = tuple(int(10 ** (3.0 + 3.7 * i / 4096)) for i in range(4096))


def _city_hasher(seed_key: bytes) -> Any:
    """A keyed blake2b to `copy()` per city (cheaper than keying a new hash each time)."""
    return hashlib.blake2b(digest_size=16, key=seed_key)


def _city_digest(hasher: Any, city_id: int) -> int:
    """A 128-bit pseudo-random number that every field of one city derives from."""
    h = hasher.copy()
    h.update(city_id.to_bytes(8, "big"))
    return int.from_bytes(h.digest(), "big")


def _city_bucket(digest: int) -> int:
    """0: renamed in version 2; 1: gone in version 2; otherwise unchanged."""
    return digest % 100


def _make_city(digest: int, city_id: int, renamed: bool) -> Item:
    """Generate one city from its id's digest (a pure function of seed and id)."""
    x = digest // 100  # the low part chose the version-2 bucket
    syl = _SYLLABLES
    if x & 1:
        name = syl[(x >> 1) & 31] + syl[(x >> 6) & 31] + syl[(x >> 11) & 31]
    else:
        name = syl[(x >> 1) & 31] + syl[(x >> 6) & 31]
    name = name.capitalize() + _SUFFIXES[(x >> 16) & 7]
    if renamed:
        name += _RENAMED_SUFFIX
    x >>= 19
    country, timezone, lat0, lon0 = _SITES_E4[x % _N_SITES]
    x //= _N_SITES
    # Coordinates in ten-thousandths of a degree, scattered up to 3 degrees around the site.
    lat = max(-899_999, min(899_999, lat0 + x % 60_001 - 30_000))
    x //= 60_001
    lon = (lon0 + x % 60_001 - 30_000 + 1_800_000) % 3_600_000 - 1_800_000
    x //= 60_001
    return {
        "id": city_id,
        "name": name,
        "countryCode": country,
        "population": _POPULATIONS[x % 4096],
        "latitude": lat / 10_000,
        "longitude": lon / 10_000,
        "timezone": timezone,
    }


class _CityTable:
    """The cities of one (seed, count, version): ids in order, items made on demand."""

    def __init__(self, seed: int, count: int, version: int) -> None:
        self._hasher = _city_hasher(_seed_key(seed))
        self._version = version
        self._max_original = count
        self.ids: Sequence[int]
        if version == 1:
            self.ids = range(1, count + 1)
        else:
            hasher = self._hasher
            kept = array("q")
            for city_id in range(1, count + 1):
                if _city_bucket(_city_digest(hasher, city_id)) != 1:
                    kept.append(city_id)
            kept.extend(range(count + 1, count + 1 + (max(1, count // 100) if count else 0)))
            self.ids = kept

    def make_many(self, ids: Sequence[int]) -> list[Item]:
        """The items of these city ids in this table's version."""
        hasher = self._hasher
        if self._version == 1:
            return [_make_city(_city_digest(hasher, i), i, False) for i in ids]
        top = self._max_original
        out = []
        for i in ids:
            digest = _city_digest(hasher, i)
            out.append(_make_city(digest, i, i <= top and _city_bucket(digest) == 0))
        return out


# ---------------------------------------------------------------------------------------------
# One dataset in one version


@dataclass(frozen=True)
class DatasetView:
    """One dataset in one data version: its size, a fingerprint of its content, and its items."""

    name: str
    version: int
    fingerprint: str
    """Changes iff the dataset's content changes; the ETag is derived from it."""
    total: int
    _items: tuple[Item, ...] | None = None
    _cities: _CityTable | None = None

    def slice(self, start: int, stop: int) -> list[Item]:
        """Items `start` to `stop` (exclusive) in key order; fresh dicts the caller may keep."""
        if self._cities is not None:
            return self._cities.make_many(self._cities.ids[start:stop])
        assert self._items is not None
        return [dict(it) for it in self._items[start:stop]]

    def chunks(self, size: int = 1000) -> Iterator[list[Item]]:
        """All items, `size` at a time, so a million cities never sit in memory at once."""
        for start in range(0, self.total, size):
            yield self.slice(start, min(start + size, self.total))


def _code_fingerprint(name: str, items: Sequence[Item]) -> str:
    blob = json.dumps(items, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(f"{name}\n{blob}".encode()).hexdigest()


class Catalog:
    """Every dataset of one sandbox (seed, number of cities) in both versions, built lazily."""

    def __init__(self, *, seed: int = DEFAULT_SEED, cities: int = 50_000) -> None:
        self.seed = seed
        self.cities = cities
        self._views: dict[tuple[str, int], DatasetView] = {}
        # Building version-2 cities walks every id once; do it once even if asked concurrently.
        self._lock = threading.Lock()

    def view(self, dataset: str, version: int) -> DatasetView:
        """The dataset in that version; `KeyError` for an unknown dataset."""
        if dataset not in KEY_FIELDS:
            raise KeyError(dataset)
        if version not in (1, 2):
            raise ValueError(f"unknown data version {version}")
        found = self._views.get((dataset, version))
        if found is not None:
            return found
        with self._lock:
            found = self._views.get((dataset, version))
            if found is None:
                found = self._build(dataset, version)
                self._views[(dataset, version)] = found
            return found

    def _build(self, dataset: str, version: int) -> DatasetView:
        if dataset == "cities":
            table = _CityTable(self.seed, self.cities, version)
            fingerprint = hashlib.sha256(
                f"cities:{self.seed}:{self.cities}:{version}:{_CITY_GENERATOR_REVISION}".encode()
            ).hexdigest()
            return DatasetView(dataset, version, fingerprint, len(table.ids), _cities=table)
        items = _pycountry_items()[dataset]
        if version == 2:
            items = _changed_code_items(dataset, items, self.seed)
        fingerprint = _code_fingerprint(dataset, items)
        return DatasetView(dataset, version, fingerprint, len(items), _items=items)


def build_items(
    dataset: str, *, cities: int = 50_000, version: int = 1, seed: int = DEFAULT_SEED
) -> list[dict[str, Any]]:
    """Return exactly the items the sandbox serves for `dataset`, in key order.

    `cities` and `seed` must match the sandbox's `SandboxConfig` for the cities to agree.
    Raises `KeyError` for an unknown dataset.
    """
    view = Catalog(seed=seed, cities=cities).view(dataset, version)
    return view.slice(0, view.total)
