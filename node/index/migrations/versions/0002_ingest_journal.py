"""The ingest journal: items between receipt and their index row.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ingest_journal",
        sa.Column("evidence_id", sa.String(128), primary_key=True),
        sa.Column("event_id", sa.String(128), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("claims_json", sa.Text, nullable=False),
        sa.Column("media_name", sa.String(64), nullable=False),
        sa.Column("plaintext_hash", sa.String(80)),
        sa.Column("ciphertext_hash", sa.String(80)),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("ingest_journal")
