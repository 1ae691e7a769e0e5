"""The registry of the partner's reference datasets: one entry per dataset.

Everything that knows a dataset derives from `DATASETS`: the client (path, item type, key,
scope), storage (each entry's table), the CLI's and the deployment form's choices
(`DatasetName`) and the sandbox. Adding a dataset means one entry here plus its item type
in `models.py`, its table in `storage/tables.py` and a migration (docs/partner-api.md §2.4).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from pydantic import TypeAdapter

from ._constants import CONSTANTS_PATH
from .models import CityItem, CountryItem, CurrencyItem, Envelope, LanguageItem, PageData

#: The scope every constants endpoint needs (docs/partner-api.md §2.3).
CONSTANTS_SCOPE = "partner:constants:read"


@dataclass(frozen=True)
class Dataset:
    """One reference dataset as the partner serves it: its name, item type and key field."""

    name: str
    key: str
    item: type[Any]
    scope: str = CONSTANTS_SCOPE
    #: The paged envelope of this dataset's items, compiled once.
    page_adapter: TypeAdapter[Envelope[PageData[Any]]] = field(
        init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        adapter = TypeAdapter(Envelope[PageData[self.item]])  # type: ignore[name-defined]
        object.__setattr__(self, "page_adapter", adapter)

    @property
    def path(self) -> str:
        """The path after the context path, e.g. `/api/v1/partner/constants/cities`."""
        return CONSTANTS_PATH.format(dataset=self.name)


#: Dataset name -> dataset, in the contract's order (docs/partner-api.md §2.4).
DATASETS: Mapping[str, Dataset] = {
    d.name: d
    for d in (
        Dataset("countries", key="code", item=CountryItem),
        Dataset("currencies", key="code", item=CurrencyItem),
        Dataset("languages", key="code", item=LanguageItem),
        Dataset("cities", key="id", item=CityItem),
    )
}

#: The dataset names as a type: Prefect turns it into the deployment form's choices.
DatasetName = StrEnum("DatasetName", {name: name for name in DATASETS})  # type: ignore[misc]


def get_dataset(name: str) -> Dataset:
    """The dataset called `name`; `ValueError` naming the choices when there is none."""
    try:
        return DATASETS[str(name)]
    except KeyError:
        raise ValueError(f"unknown dataset {name!r}; choose from {', '.join(DATASETS)}") from None
