"""A covering index for the overview's map: the newest items' coordinates and types are read
from the index alone, not from 5,000 table rows.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_evidence_map", "evidence", ["captured_at", "lat", "lon", "violation_type"])


def downgrade() -> None:
    op.drop_index("ix_evidence_map", "evidence")
