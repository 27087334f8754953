"""Retention expiry shreds the key first, then records it; the doctor then stays quiet."""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import pytest
from ingestkit import CLIP, KEYFRAME, claims, device, make_ca, service, signed

from node.retention import expire
from node.vault import KeyNotFound


@dataclass
class Committed:
    tx_id: str


class RecordingLedger:
    def __init__(self, fail: bool = False) -> None:
        self.calls: list[tuple[str, str]] = []
        self.fail = fail

    async def expire_evidence(self, evidence_id: str, reason: str) -> Committed:
        self.calls.append((evidence_id, reason))
        if self.fail:
            raise ConnectionError("peer unreachable")
        return Committed("tx-expire")


async def test_expiry_destroys_the_key_records_it_and_marks_the_row(tmp_path: Path) -> None:
    svc = service(tmp_path)
    body, sig, cert = signed(claims(), device(make_ca(tmp_path)))
    done = await svc.ingest(
        body, sig, cert, {"keyframe.jpg": io.BytesIO(KEYFRAME), "clip.mp4": io.BytesIO(CLIP)}
    )
    target = done[0].evidence_id
    ledger = RecordingLedger()
    assert (
        await expire(target, "retention_ended", vault=svc.vault, ledger=ledger, index=svc.index)
        == "tx-expire"
    )
    assert ledger.calls == [(target, "retention_ended")]
    with pytest.raises(KeyNotFound):
        svc.vault.get(target)
    row = svc.index.evidence(target)
    assert row is not None
    assert row.status == "retention_expired"
    svc.vault.get(done[1].evidence_id)  # the other item is untouched


async def test_a_failed_ledger_call_leaves_the_item_unreadable_and_retryable(
    tmp_path: Path,
) -> None:
    svc = service(tmp_path)
    body, sig, cert = signed(claims(), device(make_ca(tmp_path)))
    done = await svc.ingest(
        body, sig, cert, {"keyframe.jpg": io.BytesIO(KEYFRAME), "clip.mp4": io.BytesIO(CLIP)}
    )
    with pytest.raises(ConnectionError):
        await expire(
            done[0].evidence_id,
            "retention_ended",
            vault=svc.vault,
            ledger=RecordingLedger(fail=True),
            index=svc.index,
        )
    with pytest.raises(KeyNotFound):
        svc.vault.get(done[0].evidence_id)
    again = RecordingLedger()
    await expire(
        done[0].evidence_id, "retention_ended", vault=svc.vault, ledger=again, index=svc.index
    )
    assert again.calls == [(done[0].evidence_id, "retention_ended")]
