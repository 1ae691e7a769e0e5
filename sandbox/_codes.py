"""The code datasets (countries, currencies, languages) from `pycountry`, in both data versions.

Version 2 is the "the partner changed its data" version: about 1% of the rows are renamed,
about 1% are gone and about 1% are new, with codes from the ranges ISO reserves for private
use so they cannot clash with real ones.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import pycountry

from sandbox._keys import RENAMED_SUFFIX, Item, rank, seed_key

CODE_DATASETS: tuple[str, ...] = ("countries", "currencies", "languages")
"""The datasets read from `pycountry`; their key is `code` (docs/partner-api.md §2.4)."""


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


def code_items(dataset: str, version: int, seed: int) -> tuple[Item, ...]:
    """The items of a code dataset in `version` (1 or 2), sorted by code."""
    items = _pycountry_items()[dataset]
    return items if version == 1 else _changed_code_items(dataset, items, seed)


def _changed_code_items(dataset: str, items: Sequence[Item], seed: int) -> tuple[Item, ...]:
    """Version 2 of a code dataset: ~1% renamed, ~1% gone, ~1% new (at least one of each)."""
    key = seed_key(seed)
    k = max(1, round(len(items) / 100))
    ranked = sorted(items, key=lambda it: rank(key, f"{dataset}:{it['code']}"))
    renamed = {it["code"] for it in ranked[:k]}
    gone = {it["code"] for it in ranked[k : 2 * k]}
    out: list[Item] = []
    for it in items:
        if it["code"] in gone:
            continue
        if it["code"] in renamed:
            it = {**it, "name": str(it["name"]) + RENAMED_SUFFIX}
        out.append(it)
    out.extend(_new_code_rows(dataset, items, k))
    out.sort(key=lambda it: str(it["code"]))
    return tuple(out)
