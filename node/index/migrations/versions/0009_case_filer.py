"""Which department filed each case, so that its reports count the cases it filed and not
those other departments granted it.

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("cases", sa.Column("filed_by_org", sa.String(64), nullable=True))


def downgrade() -> None:
    op.drop_column("cases", "filed_by_org")
