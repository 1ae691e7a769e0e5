"""The hot path of a sync: wire items to keys and upsert parameters.

Everything here runs once per item of a possibly million-row dataset, so all per-dataset
work (column order, getters, type processing of the values every row
shares) is done once, in `RowBuilder.__init__` and once per batch.

The upsert (`storage.statements`) is executed as a plain DBAPI executemany of tuples
(`Connection.exec_driver_sql`), because SQLAlchemy's per-row parameter processing costs
several times the database's own work: the values are converted here exactly as the
column types would (`bind_processor` of each type), but shared values (timestamps, the
run id, an empty `extra`) only once per batch.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import datetime
from operator import itemgetter
from typing import Any

from sqlalchemy import Dialect, Float, Table

from .dataset_tables import DatasetTable
from .errors import InvalidItemError
from .statements import data_columns

__all__ = ["RowBuilder"]

_Processor = Callable[[Any], Any]


def _processor(table: Table, column: str, dialect: Dialect) -> _Processor | None:
    type_ = table.c[column].type
    return type_.dialect_impl(dialect).bind_processor(dialect)


class RowBuilder:
    """Turns the wire items of one dataset into keys, hashes and upsert parameter tuples.

    The tuples follow `Statements.upsert_columns` (`storage.statements`): the data
    columns in table order, then the bookkeeping columns of `UPSERT_TRACKING`.
    """

    def __init__(self, spec: DatasetTable, dialect: Dialect) -> None:
        self.spec = spec
        self.dataset = spec.name
        self.key = spec.key
        self.key_type = spec.key_type
        table = spec.core
        wire_of = {column: wire for wire, column in spec.fields.items()}
        columns = data_columns(spec)
        self._wires = tuple(wire_of[c] for c in columns)
        self._known = frozenset(spec.fields)
        self._required = spec.required
        self._all_required = self._required == self._known
        self._get = itemgetter(*self._wires)
        # Floats: SQLite's REAL affinity and PostgreSQL's assignment cast turn an int into
        # a float by themselves, so the per-value to_float call is skipped.
        self._data_processors = [
            (index, proc)
            for index, column in enumerate(columns)
            if not isinstance(table.c[column].type, Float)
            and (proc := _processor(table, column, dialect)) is not None
        ]
        # `extra` goes as JSON text, serialised as SQLAlchemy's JSON type does by default
        # (`json.dumps`): SQLite stores the text, PostgreSQL casts it to jsonb. Passing
        # psycopg's Jsonb wrapper instead would serialise even the common `{}` per row.
        self._timestamp = _processor(table, "updated_at", dialect)
        #: Wire fields the contract does not list that written items carried (kept in
        #: `extra`), each with the first key that had it: schema drift to report.
        self.unknown_fields: dict[str, int | str] = {}

    def key_of(self, item: dict[str, Any]) -> int | str:
        """The item's key, checked: present, of the dataset's key type, not empty."""
        try:
            key = item[self.key]
        except (KeyError, TypeError):
            raise InvalidItemError(
                f"a {self.dataset} item has no {self.key!r} field; the partner response is "
                "malformed, nothing was changed",
                dataset=self.dataset,
            ) from None
        # `type() is`, not isinstance: True is an int to Python but not a valid id.
        if type(key) is not self.key_type or key == "":
            raise InvalidItemError(
                f"a {self.dataset} item has key {key!r} of type {type(key).__name__}, expected "
                f"a non-empty {self.key_type.__name__}; the partner response is malformed, "
                "nothing was changed",
                dataset=self.dataset,
                key=key,
            )
        return key

    def index(self, items: list[dict[str, Any]]) -> dict[Any, dict[str, Any]]:
        """Map each item's key to the item; `InvalidItemError` for a bad or repeated key."""
        if not items:
            return {}
        key = self.key
        try:
            batch = {item[key]: item for item in items}
        except (KeyError, TypeError):
            batch = {}
        # One C-speed pass decides whether every key is fine; only a bad batch is walked
        # item by item to name the culprit.
        if (
            len(batch) != len(items)
            or set(map(type, batch)) != {self.key_type}
            or (self.key_type is str and "" in batch)
        ):
            self._raise_first_problem(items)
        return batch

    def _raise_first_problem(self, items: list[dict[str, Any]]) -> None:
        seen: set[int | str] = set()
        for item in items:
            key = self.key_of(item)
            if key in seen:
                raise self.duplicate(key)
            seen.add(key)
        raise AssertionError("a batch was rejected but every item looks fine")  # pragma: no cover

    def duplicate(self, key: object) -> InvalidItemError:
        """The error for a key the current read has already delivered."""
        return InvalidItemError(
            f"duplicate key {key!r} in {self.dataset} response; the partner sent the same "
            "row twice, nothing was changed",
            dataset=self.dataset,
            key=key,
        )

    def _missing(self, key: object, item: dict[str, Any]) -> InvalidItemError:
        missing = ", ".join(sorted(self._required - item.keys()))
        return InvalidItemError(
            f"{self.dataset} item {key!r} lacks {missing}; the partner response is malformed, "
            "nothing was changed",
            dataset=self.dataset,
            key=key,
        )

    def rows(
        self,
        items: Sequence[tuple[int | str, str, dict[str, Any]]],
        *,
        now: datetime,
        run_id: int,
    ) -> list[tuple[Any, ...]]:
        """Upsert parameter tuples for `(key, content_hash, item)` triples to write."""
        get = self._get
        wires = self._wires
        known = self._known
        required = self._required
        all_required = self._all_required
        processors = self._data_processors
        to_json = json.dumps
        unknown = self.unknown_fields
        stamp = self._timestamp(now) if self._timestamp else now
        out: list[tuple[Any, ...]] = []
        append = out.append
        for key, digest, item in items:
            keys = item.keys()
            if keys <= known:
                extra = "{}"
                if all_required:
                    try:
                        data = get(item)
                    except KeyError:
                        raise self._missing(key, item) from None
                elif required <= keys:
                    data = tuple(item.get(wire) for wire in wires)
                else:
                    raise self._missing(key, item)
            else:
                if not required <= keys:
                    raise self._missing(key, item)
                data = tuple(item.get(wire) for wire in wires)
                extra_fields = {k: v for k, v in item.items() if k not in known}
                extra = to_json(extra_fields)
                for name in extra_fields:
                    if name not in unknown:
                        unknown[name] = key
            if processors:
                values = list(data)
                for index, proc in processors:
                    values[index] = proc(values[index])
                data = tuple(values)
            # UPSERT_TRACKING: extra, first_seen_at, updated_at, content_hash, last_seen_run_id.
            append((*data, extra, stamp, stamp, digest, run_id))
        return out
