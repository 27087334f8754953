"""Access records by time alone, for the period reports (the trail's own indexes lead with
the target or the accessor's department).

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_access_time", "access_records", ["at"])


def downgrade() -> None:
    op.drop_index("ix_access_time", "access_records")
