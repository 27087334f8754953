"""`evnet doctor`'s sweep: each kind of damage to store, vault, index or ledger is named."""

from __future__ import annotations

import io
import json
import os
from collections.abc import Sequence
from pathlib import Path

import pytest
from ingestkit import FileLedger, claims, device, make_ca, service, signed
from sqlalchemy import update

from node.doctor import Problem, sweep
from node.index.schema import EvidenceRow
from node.ingest import IngestService
from schemas.hashes import Digest
from schemas.ledger import EvidenceRecord

CHUNK = 1024 * 1024 + 16  # a full sealed chunk: 1 MiB of plaintext and its GCM tag
HEADER = 44
BIG = os.urandom(3 * 1024 * 1024 + 5000)  # four chunks
SMALL = b"keyframe " * 1000


class LedgerAdapter:
    def __init__(self, ledger: FileLedger) -> None:
        self.ledger = ledger

    async def evidence(self, evidence_id: str) -> EvidenceRecord | None:
        doc = self.ledger.records().get(evidence_id)
        if doc is None:
            return None
        return EvidenceRecord(
            **doc["content"],
            registered_by="CN=edge-07",
            registered_role="device",
            registered_at="2026-11-22T01:00:00.000000Z",
            registered_tx=doc["tx"],
        )

    async def owned_evidence(self, org: str) -> Sequence[str]:
        return sorted(
            e for e, d in self.ledger.records().items() if d["content"]["owner_org"] == org
        )


async def _node(tmp_path: Path) -> tuple[IngestService, dict[str, str]]:
    svc = service(tmp_path)
    media = [
        {
            "name": "keyframe.jpg",
            "media_type": "image/jpeg",
            "sha256": Digest.of(SMALL),
            "size": len(SMALL),
        },
        {"name": "clip.mp4", "media_type": "video/mp4", "sha256": Digest.of(BIG), "size": len(BIG)},
    ]
    c = claims(media=[{**m, "sha256": str(m["sha256"])} for m in media])
    body, sig, cert = signed(c, device(make_ca(tmp_path)))
    done = await svc.ingest(
        body, sig, cert, {"keyframe.jpg": io.BytesIO(SMALL), "clip.mp4": io.BytesIO(BIG)}
    )
    return svc, {d.media_name: d.evidence_id for d in done}


async def _sweep(svc: IngestService, tmp_path: Path) -> list[Problem]:
    return await sweep(
        org="UrbanManagementMSP",
        store=svc.store,
        vault=svc.vault,
        index=svc.index,
        ledger=LedgerAdapter(FileLedger(tmp_path / "ledger.json")),
    )


def _blob_path(svc: IngestService, evidence_id: str) -> Path:
    row = svc.index.evidence(evidence_id)
    assert row is not None
    hexdigest = row.ciphertext_hash.removeprefix("sha256:")
    return next(p for p in (svc.store.root).rglob(hexdigest))  # type: ignore[attr-defined]


async def test_a_healthy_node_is_clean(tmp_path: Path) -> None:
    svc, _ = await _node(tmp_path)
    assert await _sweep(svc, tmp_path) == []


@pytest.mark.parametrize(
    ("damage", "kind"),
    [
        ("flip", "BLOB_ALTERED"),
        ("truncate", "BLOB_TRUNCATED"),
        ("swap", "BLOB_ALTERED"),
        ("delete", "BLOB_MISSING"),
    ],
)
async def test_blob_damage_is_named(tmp_path: Path, damage: str, kind: str) -> None:
    svc, ids = await _node(tmp_path)
    path = _blob_path(svc, ids["clip.mp4"])
    data = bytearray(path.read_bytes())
    path.chmod(0o600)
    if damage == "flip":
        data[HEADER + CHUNK + 100] ^= 0x01
    elif damage == "truncate":
        data = data[: HEADER + 2 * CHUNK]
    elif damage == "swap":
        first, second = data[HEADER : HEADER + CHUNK], data[HEADER + CHUNK : HEADER + 2 * CHUNK]
        data[HEADER : HEADER + 2 * CHUNK] = second + first
    if damage == "delete":
        path.unlink()
    else:
        path.write_bytes(bytes(data))
    problems = await _sweep(svc, tmp_path)
    assert [(p.kind, p.subject) for p in problems] == [(kind, ids["clip.mp4"])]


async def test_an_edited_index_row_is_compared_with_the_ledger(tmp_path: Path) -> None:
    svc, ids = await _node(tmp_path)
    with svc.index.session() as session:
        session.execute(
            update(EvidenceRow)
            .where(EvidenceRow.evidence_id == ids["keyframe.jpg"])
            .values(camera_id="cam-elsewhere", size=1)
        )
    problems = await _sweep(svc, tmp_path)
    assert {p.kind for p in problems} == {"INDEX_MISMATCH"}
    assert {p.detail.split(":")[0] for p in problems} == {"size", "camera_id"}
    assert all(p.subject == ids["keyframe.jpg"] for p in problems)


async def test_missing_keys_rows_and_records_are_named(tmp_path: Path) -> None:
    svc, ids = await _node(tmp_path)
    clip_row = svc.index.evidence(ids["clip.mp4"])
    assert clip_row is not None
    svc.vault.destroy(ids["keyframe.jpg"])
    svc.index.delete_evidence(ids["clip.mp4"])
    ledger = FileLedger(tmp_path / "ledger.json")
    records = ledger.records()
    del records[ids["keyframe.jpg"]]
    ledger.path.write_text(json.dumps(records))
    found = sorted((p.kind, p.subject) for p in await _sweep(svc, tmp_path))
    assert found == sorted(
        [
            ("INDEX_WITHOUT_LEDGER", ids["keyframe.jpg"]),
            ("KEY_MISSING", ids["keyframe.jpg"]),
            ("LEDGER_WITHOUT_INDEX", ids["clip.mp4"]),
            ("UNREFERENCED_BLOB", clip_row.ciphertext_hash),
        ]
    )


async def test_another_departments_item_is_checked_against_the_ledger_not_the_store(
    tmp_path: Path,
) -> None:
    # The index follower adds rows for other departments' items in the cases this node
    # follows; their blobs and keys live on the owner's node, so none is missing here.
    svc, ids = await _node(tmp_path)
    ledger = FileLedger(tmp_path / "ledger.json")
    records = ledger.records()
    foreign = dict(records[ids["keyframe.jpg"]])
    foreign["content"] = {**foreign["content"], "owner_org": "MarketSupervisionMSP"}
    records["EV-market-1"] = {
        **foreign,
        "content": {**foreign["content"], "evidence_id": "EV-market-1"},
    }
    ledger.path.write_text(json.dumps(records))
    row = svc.index.evidence(ids["keyframe.jpg"])
    assert row is not None
    copy = {c.name: getattr(row, c.name) for c in EvidenceRow.__table__.columns}
    svc.index.upsert_evidence(
        [{**copy, "evidence_id": "EV-market-1", "owner_org": "MarketSupervisionMSP",
          "ciphertext_hash": str(Digest.of(b"stored at Market"))}]
    )  # fmt: skip
    problems = await _sweep(svc, tmp_path)
    assert [(p.kind, p.subject) for p in problems] == [
        ("INDEX_MISMATCH", "EV-market-1")  # its row says another ciphertext than the ledger
    ]
    # Once the row matches the ledger, the foreign item is clean: no BLOB_MISSING, no KEY_MISSING.
    svc.index.upsert_evidence(
        [{**copy, "evidence_id": "EV-market-1", "owner_org": "MarketSupervisionMSP"}]
    )
    assert await _sweep(svc, tmp_path) == []
