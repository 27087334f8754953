"""Index tables. Rows mirror ledger records plus the off-chain facts only this department
holds (place, zone, free text from the capture claims); they are rebuilt from the ledger
and the claims, so nothing here is the system of record."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Boolean, DateTime, Dialect, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator


class UtcDateTime(TypeDecorator[dt.datetime]):
    """Aware datetimes stored as UTC. SQLite keeps no offset: without this, 08:59+08:00
    would be stored as 08:59 and sort eight hours late."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if not isinstance(value, dt.datetime) or value.tzinfo is None:
            raise ValueError("index times must be timezone-aware datetimes")
        return value.astimezone(dt.UTC)

    def process_result_value(self, value: Any, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        assert isinstance(value, dt.datetime)
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


class Base(DeclarativeBase):
    pass


class EvidenceRow(Base):
    __tablename__ = "evidence"

    evidence_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    owner_org: Mapped[str] = mapped_column(String(64))
    violation_type: Mapped[str] = mapped_column(String(32))
    camera_id: Mapped[str] = mapped_column(String(128))
    device_id: Mapped[str] = mapped_column(String(128))
    captured_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())
    lat: Mapped[float | None] = mapped_column(Float)
    lon: Mapped[float | None] = mapped_column(Float)
    zone: Mapped[str | None] = mapped_column(String(128))
    subject_key: Mapped[str | None] = mapped_column(String(64))
    media_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(Integer)
    plaintext_hash: Mapped[str] = mapped_column(String(80))
    ciphertext_hash: Mapped[str] = mapped_column(String(80))
    # Free text a person searches for (address, description); never goes to the ledger.
    text: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(24), default="registered")
    ledger_tx: Mapped[str | None] = mapped_column(String(64))

    __table_args__ = (
        Index("ix_evidence_time", "captured_at", "evidence_id"),
        Index("ix_evidence_type_time", "violation_type", "captured_at"),
        Index("ix_evidence_camera_time", "camera_id", "captured_at"),
        Index("ix_evidence_subject_time", "subject_key", "captured_at"),
        Index("ix_evidence_place", "lat", "lon"),
        # The overview's map reads the newest items' places from this index alone.
        Index("ix_evidence_map", "captured_at", "lat", "lon", "violation_type"),
    )


class CaseRow(Base):
    __tablename__ = "cases"

    case_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    holder_org: Mapped[str] = mapped_column(String(64))
    stage: Mapped[str] = mapped_column(String(32))
    violation_type: Mapped[str] = mapped_column(String(32))
    subject_key: Mapped[str] = mapped_column(String(64))
    updated_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())
    # Filed (on the ledger); None for a row written before the index kept it.
    filed_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime(), default=None)
    filed_by_org: Mapped[str | None] = mapped_column(String(64), default=None)

    __table_args__ = (
        Index("ix_cases_time", "updated_at", "case_id"),
        Index("ix_cases_filed", "filed_at"),
        Index("ix_cases_stage_time", "stage", "updated_at"),
        Index("ix_cases_type_time", "violation_type", "updated_at"),
    )


class FlagRow(Base):
    """One of this department's flags as the ledger last showed it: where it stands in the
    review queue and the co-governance loop."""

    __tablename__ = "flags"

    flag_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    org: Mapped[str] = mapped_column(String(64))
    camera_id: Mapped[str] = mapped_column(String(128))
    violation_type: Mapped[str] = mapped_column(String(32))
    detected_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())
    status: Mapped[str] = mapped_column(String(32))
    updated_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())
    case_id: Mapped[str | None] = mapped_column(String(128))

    __table_args__ = (
        Index("ix_flags_detected", "detected_at"),
        Index("ix_flags_status_time", "status", "updated_at"),
        Index("ix_flags_changes", "updated_at", "flag_id"),  # an officer's feed
    )


class CaseItemRow(Base):
    __tablename__ = "case_items"

    case_id: Mapped[str] = mapped_column(
        String(128), ForeignKey("cases.case_id", ondelete="CASCADE"), primary_key=True
    )
    evidence_id: Mapped[str] = mapped_column(
        String(128), ForeignKey("evidence.evidence_id", ondelete="CASCADE"), primary_key=True
    )

    __table_args__ = (Index("ix_case_items_evidence", "evidence_id"),)


class JournalRow(Base):
    """An item between receipt and its index row; see node.ingest.service."""

    __tablename__ = "ingest_journal"

    evidence_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    event_id: Mapped[str] = mapped_column(String(128))
    state: Mapped[str] = mapped_column(String(16))  # sealing | sealed
    claims_json: Mapped[str] = mapped_column(Text)
    media_name: Mapped[str] = mapped_column(String(64))
    plaintext_hash: Mapped[str | None] = mapped_column(String(80))
    ciphertext_hash: Mapped[str | None] = mapped_column(String(80))
    updated_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())


class AccessRow(Base):
    __tablename__ = "access_records"

    record_id: Mapped[str] = mapped_column(String(80), primary_key=True)  # <tx id>[.<nn>]
    accessor_org: Mapped[str] = mapped_column(String(64))
    accessor: Mapped[str] = mapped_column(String(512))
    role: Mapped[str] = mapped_column(String(32))
    target: Mapped[str] = mapped_column(String(16))
    target_id: Mapped[str] = mapped_column(String(128))
    kind: Mapped[str] = mapped_column(String(16))
    at: Mapped[dt.datetime] = mapped_column(UtcDateTime())
    outcome: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(String(64))

    __table_args__ = (
        Index("ix_access_target", "target_id", "at"),
        Index("ix_access_org", "accessor_org", "at"),
        Index("ix_access_time", "at"),  # the period reports
    )


class GrantRow(Base):
    __tablename__ = "grants"

    target: Mapped[str] = mapped_column(String(16), primary_key=True)
    target_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    grantee_org: Mapped[str] = mapped_column(String(64), primary_key=True)
    purpose: Mapped[str] = mapped_column(String(64))
    kinds: Mapped[str] = mapped_column(String(64))  # comma-separated access kinds
    expires_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())
    revoked: Mapped[bool] = mapped_column(Boolean)
    granted_tx: Mapped[str] = mapped_column(String(64))
