"""Which table stores each dataset of `partner_api.datasets.DATASETS`, field by field.

The dataset registry in `partner_api.datasets` is the one list of datasets; this module
pairs each entry with its SQLModel table (the table named like the dataset) and derives
the rest: the wire fields are the item type's keys (`officialName`), each stored in the
snake_case column of the same name (`official_name`); a field is optional on the wire
when the item type marks it `NotRequired`; the key's Python type is the key column's.
Importing this module fails if a dataset has no table or a field no column, so adding a
dataset means its registry entry, its table and a migration, nothing else.
"""

from __future__ import annotations

import re
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import NotRequired, cast

from sqlalchemy import Table
from sqlmodel import SQLModel

from partner_api.datasets import DATASETS, Dataset

from .tables import City, Country, Currency, Language

#: The reference tables; each is found by its table name, which is the dataset's name.
_MODELS: tuple[type[SQLModel], ...] = (Country, Currency, Language, City)

_CAMEL_HUMP = re.compile(r"(?<!^)(?=[A-Z])")


def column_of(wire: str) -> str:
    """The column of a wire field: `countryCode` -> `country_code`."""
    return _CAMEL_HUMP.sub("_", wire).lower()


@dataclass(frozen=True)
class DatasetTable:
    """One dataset of the registry and how it maps onto its table.

    `fields` maps each wire field (camelCase, as in docs/partner-api.md §2.4) to its
    column; `required` lists the wire fields an item must carry; `key` is both the wire
    field and the column of the primary key, and `key_type` its Python type.
    """

    dataset: Dataset
    model: type[SQLModel]
    # Derived from the two above, so equality and hashing (statement caches) ignore them.
    fields: Mapping[str, str] = field(init=False, compare=False)
    required: frozenset[str] = field(init=False, compare=False)
    key_type: type[int] | type[str] = field(init=False, compare=False)

    def __post_init__(self) -> None:
        hints = typing.get_type_hints(self.dataset.item, include_extras=True)
        fields = {wire: column_of(wire) for wire in hints}
        optional = {w for w, hint in hints.items() if typing.get_origin(hint) is NotRequired}
        columns = self.core.c
        problems = [f"no column {c!r}" for c in fields.values() if c not in columns]
        if self.key not in fields or self.key not in columns or not columns[self.key].primary_key:
            problems.append(f"the key {self.key!r} is not its primary key")
        if problems:
            raise RuntimeError(f"table {self.core.name}: {'; '.join(problems)}")
        key_type = self.model.model_fields[self.key].annotation
        if key_type not in (int, str):
            raise RuntimeError(f"{self.name}: a key of type {key_type!r} is not supported")
        object.__setattr__(self, "fields", fields)
        object.__setattr__(self, "required", frozenset(fields) - optional)
        object.__setattr__(self, "key_type", key_type)

    @property
    def name(self) -> str:
        """The dataset's name, also its table's name."""
        return self.dataset.name

    @property
    def key(self) -> str:
        """The key field, the same on the wire and as the primary key column."""
        return self.dataset.key

    @property
    def core(self) -> Table:
        """The SQLAlchemy Core `Table` behind the model, for bulk statements."""
        return cast(Table, self.model.__table__)  # type: ignore[attr-defined]


def _build() -> dict[str, DatasetTable]:
    models = {cast(Table, m.__table__).name: m for m in _MODELS}  # type: ignore[attr-defined]
    missing = [name for name in DATASETS if name not in models]
    if missing:
        raise RuntimeError(f"no table for dataset {', '.join(missing)}: add one to storage.tables")
    return {name: DatasetTable(dataset, models[name]) for name, dataset in DATASETS.items()}


#: Dataset name -> how it is stored, for every dataset of the registry, in its order.
DATASET_TABLES: Mapping[str, DatasetTable] = _build()
