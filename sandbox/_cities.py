"""The generated cities: each city is a pure function of `(seed, id)`, made when a page asks.

A million cities cost an array of ids (only for version 2) and no dicts at rest. In version 2
about 1% of the cities are renamed, about 1% are gone and about 1% are new (ids above the
original ones).
"""

from __future__ import annotations

import hashlib
from array import array
from collections.abc import Sequence
from typing import Any

from sandbox._keys import RENAMED_SUFFIX, Item, seed_key

# Bump when the city generator changes, so fingerprints (and ETags) change with it.
CITY_GENERATOR_REVISION = 1


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
        name += RENAMED_SUFFIX
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


class CityTable:
    """The cities of one (seed, count, version): ids in order, items made on demand."""

    def __init__(self, seed: int, count: int, version: int) -> None:
        self._hasher = _city_hasher(seed_key(seed))
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
