"""Every SQL statement a sync of one dataset runs, built once per dataset and dialect.

The upsert is the dialect's `INSERT ... ON CONFLICT (key) DO UPDATE` (SQLModel has no
upsert, fastapi/sqlmodel#59), compiled to the driver's positional placeholders so the
writer can run it as a plain DBAPI executemany of tuples. It is only ever given rows that
are new or changed (the writer compares content hashes first), so it has no WHERE clause
of its own. The other statements use the temporary "seen" table of the keys one read
delivered: to record them, to find a key delivered twice, and to sweep the rows the read
did not deliver. The change log's (`storage.changes`) read the old values of changed
keys, insert change rows, and record the rows a sweep marks deleted.

On PostgreSQL the same upsert runs as `COPY` into a temporary staging table and one
`INSERT ... SELECT ... ON CONFLICT` merge per batch (`Statements.copy_stage`,
`merge_stage`): the rows travel in one stream instead of one bound statement each.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Dialect,
    Integer,
    MetaData,
    Table,
    Text,
    and_,
    any_,
    bindparam,
    case,
    cast,
    exists,
    func,
    insert,
    literal,
    null,
    select,
    text,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql.expression import Executable

from .dataset_tables import DatasetTable
from .tables import SyncChange

_CHANGES: Table = SyncChange.__table__  # type: ignore[attr-defined]
#: The columns of a change row, in the order `insert_change` takes them.
CHANGE_COLUMNS = ("run_id", "dataset", "key", "kind", "fields")

#: The bookkeeping columns an upsert writes after the data columns; `RowBuilder.rows`
#: appends their values in this order.
UPSERT_TRACKING = ("extra", "first_seen_at", "updated_at", "content_hash", "last_seen_run_id")


def positional_dialect(name: str) -> Dialect:
    """A dialect that compiles to the driver's positional placeholders (`?` or `%s`)."""
    if name == "postgresql":
        # psycopg takes %s placeholders as well as %(name)s; positional lets rows be tuples.
        return postgresql.psycopg.dialect(paramstyle="format")  # type: ignore[no-untyped-call]
    return sqlite.pysqlite.dialect(paramstyle="qmark")


def data_columns(spec: DatasetTable) -> tuple[str, ...]:
    """The columns of the contract's fields, in table order: the upsert's first parameters."""
    stored = set(spec.fields.values())
    return tuple(column.name for column in spec.core.columns if column.name in stored)


@cache
def seen_table(spec: DatasetTable) -> Table:
    """The temporary table of the keys one read delivered (key, batch number)."""
    key_type = BigInteger().with_variant(Integer(), "sqlite") if spec.key_type is int else Text()
    return Table(
        f"partner_sync_seen_{spec.name}",
        MetaData(),
        # SQLite: INTEGER PRIMARY KEY makes the key the rowid, the cheapest index it has.
        Column("key", key_type, primary_key=True, autoincrement=False),
        Column("batch", Integer, nullable=False),
        prefixes=["TEMPORARY"],
        postgresql_on_commit="DROP",
    )


@cache
def stage_table(spec: DatasetTable) -> Table:
    """PostgreSQL: the temporary table one batch of upsert rows is COPYed into.

    Its columns are `Statements.upsert_columns`, in that order, without constraints: the
    merge into the real table checks them.
    """
    source = spec.core
    return Table(
        f"partner_sync_stage_{spec.name}",
        MetaData(),
        *(Column(c, source.c[c].type) for c in data_columns(spec) + UPSERT_TRACKING),
        prefixes=["TEMPORARY"],
        postgresql_on_commit="DROP",
    )


@dataclass(frozen=True)
class Statements:
    """Every statement one dataset's sync runs, for one dialect.

    `upsert` and `existing` are driver SQL with positional placeholders; `upsert` takes
    one tuple per row, in the order `upsert_columns`. On PostgreSQL, `copy_stage` streams
    those tuples into `stage_table`, `merge_stage` upserts them all in one statement and
    `clear_stage` empties the stage for the next batch (all three are None on SQLite).
    """

    upsert: str
    upsert_columns: tuple[str, ...]
    copy_stage: str | None
    merge_stage: str | None
    clear_stage: str | None
    record_seen: Executable
    find_duplicates: Executable
    existing: str
    any_row: Executable
    count_live_and_gone: Executable
    mark_gone: Executable
    old_values: str
    insert_change: str
    record_gone: Executable
    gone_sample: Executable


def _on_conflict_update(insert: Any, spec: DatasetTable, order: tuple[str, ...]) -> Any:
    updated = [name for name in order if name not in (spec.key, "first_seen_at")]
    return insert.on_conflict_do_update(
        index_elements=[insert.table.c[spec.key]],
        # A row delivered again is live again.
        set_={**{name: insert.excluded[name] for name in updated}, "deleted_at": null()},
    )


def _compile_merge(spec: DatasetTable, order: tuple[str, ...]) -> str:
    stage = stage_table(spec)
    merge = postgresql.insert(spec.core).from_select(list(order), select(*stage.c))
    compiled = _on_conflict_update(merge, spec, order).compile(
        dialect=positional_dialect("postgresql")
    )
    return str(compiled.string)


def _compile_upsert(spec: DatasetTable, order: tuple[str, ...], dialect: str) -> str:
    # An INSERT's parameters follow its table's column order, and the models list the
    # bookkeeping columns first (they come from the `Tracked` mixin): compile against a
    # copy of the table whose columns stand in `order`, the order of the rows' tuples.
    source = spec.core
    at = order.index("updated_at") + 1
    columns = (*order[:at], "deleted_at", *order[at:])  # SET lists it where the model does
    table = Table(
        source.name,
        MetaData(),
        *(Column(c, source.c[c].type, primary_key=source.c[c].primary_key) for c in columns),
    )
    insert: Any = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)
    statement = _on_conflict_update(insert, spec, order)
    compiled = statement.compile(dialect=positional_dialect(dialect), column_keys=list(order))
    if tuple(compiled.positiontup or ()) != order:
        raise RuntimeError(f"{table.name}: upsert parameters out of the expected order")
    return str(compiled.string)


@cache
def statements(spec: DatasetTable, dialect: str) -> Statements:
    """The statements of `spec`'s sync on `dialect` (`sqlite` or `postgresql`), cached."""
    table = spec.core
    seen = seen_table(spec)
    key = table.c[spec.key]
    key_sql_type = BigInteger() if spec.key_type is int else Text()
    if dialect == "postgresql":
        # One array parameter per batch: a single round trip, and a rowcount we can trust.
        keys_param: Any = cast(bindparam("keys"), postgresql.ARRAY(key_sql_type))
        record_seen: Executable = text(
            f"INSERT INTO {seen.name} (key, batch) "
            f"SELECT k, :batch FROM unnest(CAST(:keys AS {key_sql_type}[])) AS k "
            "ON CONFLICT DO NOTHING"
        )
        batch_keys = select(func.unnest(keys_param))
        in_batch: Any = key == any_(keys_param)
    else:
        # SQLite has no arrays: the batch's keys travel as one JSON array.
        record_seen = text(
            f"INSERT INTO {seen.name} (key, batch) SELECT value, :batch FROM json_each(:keys) "
            "WHERE true ON CONFLICT DO NOTHING"
        )
        each = func.json_each(bindparam("keys")).table_valued("value")
        batch_keys = select(each.c.value)
        in_batch = key.in_(batch_keys)
    find_duplicates = select(seen.c.key).where(
        seen.c.key.in_(batch_keys), seen.c.batch < bindparam("batch")
    )
    # Run as driver SQL: a batch returns thousands of rows, and they need no conversion.
    existing = select(key, table.c.content_hash, table.c.deleted_at.is_not(None)).where(in_batch)
    live = table.c.deleted_at.is_(None)
    gone = and_(live, ~exists().where(seen.c.key == key))
    order = data_columns(spec) + UPSERT_TRACKING
    stage = stage_table(spec)
    staged = dialect == "postgresql"
    return Statements(
        upsert=_compile_upsert(spec, order, dialect),
        upsert_columns=order,
        copy_stage=f"COPY {stage.name} ({', '.join(order)}) FROM STDIN" if staged else None,
        merge_stage=_compile_merge(spec, order) if staged else None,
        # TRUNCATE, not DELETE: a temporary table's fresh file costs less than dead rows
        # that no vacuum reaches inside the sync's transaction.
        clear_stage=f"TRUNCATE {stage.name}" if staged else None,
        record_seen=record_seen,
        find_duplicates=find_duplicates,
        existing=str(existing.compile(dialect=positional_dialect(dialect))),
        any_row=select(literal(1)).select_from(table).limit(1),
        # One scan for both numbers the safety valve needs.
        count_live_and_gone=select(
            func.count(), func.coalesce(func.sum(case((gone, 1), else_=0)), 0)
        )
        .select_from(table)
        .where(live),
        mark_gone=update(table)
        .where(gone)
        .values(deleted_at=bindparam("now"), updated_at=bindparam("now")),
        # (key, data columns..., extra): what `ChangeLog._diff` compares with the new item.
        old_values=str(
            select(key, *(table.c[c] for c in data_columns(spec)), table.c.extra)
            .where(in_batch)
            .compile(dialect=positional_dialect(dialect))
        ),
        insert_change=_compile_insert_change(dialect),
        record_gone=insert(_CHANGES).from_select(
            ["run_id", "dataset", "key", "kind"],
            select(
                bindparam("run_id", type_=Integer),
                literal(spec.name),
                cast(key, Text),
                literal("deleted"),
            )
            .where(gone)
            .order_by(key),
        ),
        gone_sample=select(_CHANGES.c.key)
        .where(_CHANGES.c.run_id == bindparam("run_id"), _CHANGES.c.kind == "deleted")
        .order_by(_CHANGES.c.id)
        .limit(bindparam("limit")),
    )


def _compile_insert_change(dialect: str) -> str:
    # Against a copy without the generated id, so PostgreSQL's compiler adds no RETURNING
    # (an executemany of tuples wants none).
    table = Table(
        _CHANGES.name, MetaData(), *(Column(c, _CHANGES.c[c].type) for c in CHANGE_COLUMNS)
    )
    compiled = insert(table).compile(
        dialect=positional_dialect(dialect), column_keys=list(CHANGE_COLUMNS)
    )
    if tuple(compiled.positiontup or ()) != CHANGE_COLUMNS:
        raise RuntimeError("sync_changes: insert parameters out of the expected order")
    return str(compiled.string)
