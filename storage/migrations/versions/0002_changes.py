"""What changed: the `sync_changes` change log and the `schema_drift` table.

Generated with alembic autogenerate from `storage.tables` and checked by hand (the JSON
variant spelled out as in 0001).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30 20:59:28
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create `sync_changes` and `schema_drift`."""
    op.create_table(
        "schema_drift",
        sa.Column("dataset", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("field", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("first_run_id", sa.Integer(), nullable=False),
        sa.Column("first_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sample_key", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["first_run_id"], ["sync_runs.id"]),
        sa.PrimaryKeyConstraint("dataset", "field"),
    )
    op.create_table(
        "sync_changes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("dataset", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("key", sa.Text(), nullable=True),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column(
            "fields",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.ForeignKeyConstraint(["run_id"], ["sync_runs.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("sync_changes", schema=None) as batch_op:
        batch_op.create_index("ix_sync_changes_dataset_run_id", ["dataset", "run_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_sync_changes_run_id"), ["run_id"], unique=False)


def downgrade() -> None:
    """Drop them (and with them what the runs recorded: only for development)."""
    with op.batch_alter_table("sync_changes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sync_changes_run_id"))
        batch_op.drop_index("ix_sync_changes_dataset_run_id")
    op.drop_table("sync_changes")
    op.drop_table("schema_drift")
