"""Access records and grants seen on the ledger, for local search and the console.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "access_records",
        sa.Column("record_id", sa.String(64), primary_key=True),
        sa.Column("accessor_org", sa.String(64), nullable=False),
        sa.Column("accessor", sa.String(512), nullable=False),
        sa.Column("role", sa.String(32), nullable=False),
        sa.Column("target", sa.String(16), nullable=False),
        sa.Column("target_id", sa.String(128), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("reason", sa.String(64), nullable=False),
    )
    op.create_index("ix_access_target", "access_records", ["target_id", "at"])
    op.create_index("ix_access_org", "access_records", ["accessor_org", "at"])
    op.create_table(
        "grants",
        sa.Column("target", sa.String(16), primary_key=True),
        sa.Column("target_id", sa.String(128), primary_key=True),
        sa.Column("grantee_org", sa.String(64), primary_key=True),
        sa.Column("purpose", sa.String(64), nullable=False),
        sa.Column("kinds", sa.String(64), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked", sa.Boolean, nullable=False),
        sa.Column("granted_tx", sa.String(64), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("grants")
    op.drop_table("access_records")
