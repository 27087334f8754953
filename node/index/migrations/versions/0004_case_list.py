"""Indexes for the console's case list and the overview's stage ages.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_cases_time", "cases", ["updated_at", "case_id"])
    op.create_index("ix_cases_stage_time", "cases", ["stage", "updated_at"])
    op.create_index("ix_cases_type_time", "cases", ["violation_type", "updated_at"])


def downgrade() -> None:
    op.drop_index("ix_cases_type_time", "cases")
    op.drop_index("ix_cases_stage_time", "cases")
    op.drop_index("ix_cases_time", "cases")
