"""Initial schema: the four reference tables, sync_runs and dataset_state.

Generated with alembic autogenerate from `storage.tables` and checked by hand
(`astext_type=sa.Text()` qualified; `UTCDateTime` rendered as the `DateTime(timezone=True)`
it stores as).

Revision ID: 0001
Revises:
Create Date: 2026-11-29 15:56:32
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _json() -> sa.types.TypeEngine[Any]:
    return sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def _tracking_columns() -> list[sa.Column[Any]]:
    """The bookkeeping columns every reference table ends with."""
    return [
        sa.Column("extra", _json(), nullable=False),
        sa.Column("first_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("content_hash", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("last_seen_run_id", sa.Integer(), nullable=True),
    ]


def upgrade() -> None:
    """Create every table."""
    op.create_table(
        "cities",
        sa.Column("id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("country_code", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("population", sa.BigInteger(), nullable=False),
        sa.Column("latitude", sa.Float(), nullable=False),
        sa.Column("longitude", sa.Float(), nullable=False),
        sa.Column("timezone", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        *_tracking_columns(),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "countries",
        sa.Column("code", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("alpha3", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("numeric", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("official_name", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        *_tracking_columns(),
        sa.PrimaryKeyConstraint("code"),
    )
    op.create_table(
        "currencies",
        sa.Column("code", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("numeric", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        *_tracking_columns(),
        sa.PrimaryKeyConstraint("code"),
    )
    op.create_table(
        "languages",
        sa.Column("code", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("alpha2", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        *_tracking_columns(),
        sa.PrimaryKeyConstraint("code"),
    )
    op.create_table(
        "sync_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("dataset", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("inserted", sa.Integer(), nullable=False),
        sa.Column("updated", sa.Integer(), nullable=False),
        sa.Column("unchanged", sa.Integer(), nullable=False),
        sa.Column("deleted", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("sync_runs", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_sync_runs_dataset"), ["dataset"], unique=False)
    op.create_table(
        "dataset_state",
        sa.Column("dataset", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("etags", _json(), nullable=False),
        sa.Column("last_success_run_id", sa.Integer(), nullable=True),
        sa.Column("last_success_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["last_success_run_id"], ["sync_runs.id"]),
        sa.PrimaryKeyConstraint("dataset"),
    )


def downgrade() -> None:
    """Drop every table (and with them the data: only for development)."""
    op.drop_table("dataset_state")
    with op.batch_alter_table("sync_runs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sync_runs_dataset"))
    op.drop_table("sync_runs")
    op.drop_table("languages")
    op.drop_table("currencies")
    op.drop_table("countries")
    op.drop_table("cities")
