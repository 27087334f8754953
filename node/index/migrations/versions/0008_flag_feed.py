"""The order an officer's feed reads flags in: by last change, then id.

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_flags_changes", "flags", ["updated_at", "flag_id"])


def downgrade() -> None:
    op.drop_index("ix_flags_changes", "flags")
