"""Rows for the search-index tests: thirty evidence items a minute apart, three streets'
worth of free text (Chinese, English, and LIKE's special characters)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from node.index import IndexDatabase
from node.index.schema import FlagRow

T0 = dt.datetime(2026, 3, 1, 8, 0, tzinfo=dt.UTC)
STREETS = ["江北区人民路12号 水果店", "Renmin Rd 12, fruit shop", "庆丰街 50% off sign_board"]


def row(i: int, **changes: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "evidence_id": f"E-{i:04d}",
        "owner_org": "UrbanManagementMSP",
        "violation_type": ("road_occupation", "shopfront_operation")[i % 2],
        "camera_id": f"cam-{i % 3}",
        "device_id": "edge-07",
        "captured_at": T0 + dt.timedelta(minutes=i),
        "lat": 29.88 + i * 0.001,
        "lon": 121.55 + i * 0.001,
        "zone": "pavement-east",
        "subject_key": ("a" * 64) if i % 5 == 0 else None,
        "media_type": "image/jpeg",
        "size": 1000 + i,
        "plaintext_hash": f"sha256:{i:064x}",
        "ciphertext_hash": f"sha256:{i + 1:064x}",
        "text": STREETS[i % 3],
        "status": "registered",
        "ledger_tx": f"{i:064x}",
    }
    doc.update(changes)
    return doc


def flag_row(
    flag_id: str,
    at: dt.datetime,
    status: str = "detected",
    camera_id: str = "cam-1",
    **changes: Any,
) -> dict[str, Any]:
    """A flag as the index follower copies it from the ledger: raised and last moved at
    ``at``, UrbanManagement's, a road-occupation flag unless ``changes`` say otherwise."""
    doc: dict[str, Any] = {
        "flag_id": flag_id,
        "org": "UrbanManagementMSP",
        "camera_id": camera_id,
        "violation_type": "road_occupation",
        "detected_at": at,
        "status": status,
        "updated_at": at,
        "case_id": None,
    }
    doc.update(changes)
    return doc


def put_flags(index: IndexDatabase, *rows: dict[str, Any]) -> None:
    index.upsert_rows(FlagRow, list(rows), ["flag_id"])
