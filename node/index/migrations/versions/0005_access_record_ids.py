"""Access record ids of package batches: ``<tx id>.<nn>`` (67 characters).

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("access_records") as batch:
        batch.alter_column(
            "record_id", type_=sa.String(80), existing_type=sa.String(64), existing_nullable=False
        )


def downgrade() -> None:
    with op.batch_alter_table("access_records") as batch:
        batch.alter_column(
            "record_id", type_=sa.String(64), existing_type=sa.String(80), existing_nullable=False
        )
