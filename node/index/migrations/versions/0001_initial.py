"""Evidence, cases and case items, with free-text search per dialect.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "evidence",
        sa.Column("evidence_id", sa.String(128), primary_key=True),
        sa.Column("owner_org", sa.String(64), nullable=False),
        sa.Column("violation_type", sa.String(32), nullable=False),
        sa.Column("camera_id", sa.String(128), nullable=False),
        sa.Column("device_id", sa.String(128), nullable=False),
        sa.Column("captured_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("lat", sa.Float),
        sa.Column("lon", sa.Float),
        sa.Column("zone", sa.String(128)),
        sa.Column("subject_key", sa.String(64)),
        sa.Column("media_type", sa.String(100), nullable=False),
        sa.Column("size", sa.Integer, nullable=False),
        sa.Column("plaintext_hash", sa.String(80), nullable=False),
        sa.Column("ciphertext_hash", sa.String(80), nullable=False),
        sa.Column("text", sa.Text, nullable=False, server_default=""),
        sa.Column("status", sa.String(24), nullable=False, server_default="registered"),
        sa.Column("ledger_tx", sa.String(64)),
    )
    op.create_index("ix_evidence_time", "evidence", ["captured_at", "evidence_id"])
    op.create_index("ix_evidence_type_time", "evidence", ["violation_type", "captured_at"])
    op.create_index("ix_evidence_camera_time", "evidence", ["camera_id", "captured_at"])
    op.create_index("ix_evidence_subject_time", "evidence", ["subject_key", "captured_at"])
    op.create_index("ix_evidence_place", "evidence", ["lat", "lon"])
    op.create_table(
        "cases",
        sa.Column("case_id", sa.String(128), primary_key=True),
        sa.Column("holder_org", sa.String(64), nullable=False),
        sa.Column("stage", sa.String(32), nullable=False),
        sa.Column("violation_type", sa.String(32), nullable=False),
        sa.Column("subject_key", sa.String(64), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "case_items",
        sa.Column(
            "case_id",
            sa.String(128),
            sa.ForeignKey("cases.case_id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column(
            "evidence_id",
            sa.String(128),
            sa.ForeignKey("evidence.evidence_id", ondelete="CASCADE"),
            primary_key=True,
        ),
    )
    op.create_index("ix_case_items_evidence", "case_items", ["evidence_id"])
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        # Trigram tokens make substring search work for Chinese addresses as for Latin text.
        op.execute(
            "CREATE VIRTUAL TABLE evidence_fts USING fts5("
            "text, content='evidence', content_rowid='rowid', tokenize='trigram')"
        )
        op.execute(
            "CREATE TRIGGER evidence_fts_insert AFTER INSERT ON evidence BEGIN "
            "INSERT INTO evidence_fts(rowid, text) VALUES (new.rowid, new.text); END"
        )
        op.execute(
            "CREATE TRIGGER evidence_fts_delete AFTER DELETE ON evidence BEGIN "
            "INSERT INTO evidence_fts(evidence_fts, rowid, text) "
            "VALUES ('delete', old.rowid, old.text); END"
        )
        op.execute(
            "CREATE TRIGGER evidence_fts_update AFTER UPDATE OF text ON evidence BEGIN "
            "INSERT INTO evidence_fts(evidence_fts, rowid, text) "
            "VALUES ('delete', old.rowid, old.text); "
            "INSERT INTO evidence_fts(rowid, text) VALUES (new.rowid, new.text); END"
        )
    elif dialect == "postgresql":
        op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        op.execute("CREATE INDEX ix_evidence_text_trgm ON evidence USING gin (text gin_trgm_ops)")


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        op.execute("DROP TABLE IF EXISTS evidence_fts")
    op.drop_table("case_items")
    op.drop_table("cases")
    op.drop_table("evidence")
