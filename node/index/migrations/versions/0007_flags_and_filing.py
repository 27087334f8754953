"""The department's flags (the review queue and the co-governance loop) and each case's
filing time, for the period reports.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "flags",
        sa.Column("flag_id", sa.String(128), primary_key=True),
        sa.Column("org", sa.String(64), nullable=False),
        sa.Column("camera_id", sa.String(128), nullable=False),
        sa.Column("violation_type", sa.String(32), nullable=False),
        sa.Column("detected_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("case_id", sa.String(128), nullable=True),
    )
    op.create_index("ix_flags_detected", "flags", ["detected_at"])
    op.create_index("ix_flags_status_time", "flags", ["status", "updated_at"])
    op.add_column("cases", sa.Column("filed_at", sa.DateTime(timezone=True), nullable=True))
    op.create_index("ix_cases_filed", "cases", ["filed_at"])


def downgrade() -> None:
    op.drop_index("ix_cases_filed", "cases")
    op.drop_column("cases", "filed_at")
    op.drop_index("ix_flags_status_time", "flags")
    op.drop_index("ix_flags_detected", "flags")
    op.drop_table("flags")
