"""Ingest: device signatures, every bad input refused with nothing kept, idempotent
retries, and a kill -9 at each durable step followed by a restart."""

from __future__ import annotations

import asyncio
import datetime as dt
import io
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from ingestkit import (
    CLIP,
    KEYFRAME,
    NOW,
    ORG,
    FileLedger,
    case_document,
    claims,
    device,
    load_keyring,
    make_ca,
    officer_capture,
    service,
    signed,
)
from sqlalchemy import select

from node.crypto.pki import create_ca
from node.evidence_sealing import open_from_store
from node.index.schema import EvidenceRow, JournalRow
from node.ingest import IngestRefused, IngestService
from node.ingest.devices import DeviceVerifier
from node.streams import Readable
from schemas.claims import canonical_bytes
from schemas.hashes import Digest

HERE = Path(__file__).parent


def files(keyframe: bytes = KEYFRAME, clip: bytes = CLIP) -> dict[str, Readable]:
    return {"keyframe.jpg": io.BytesIO(keyframe), "clip.mp4": io.BytesIO(clip)}


class Untouchable(io.BytesIO):
    def read(self, size: int | None = -1, /) -> bytes:
        raise AssertionError("the upload body must not be read")


def state(root: Path, svc: IngestService) -> dict[str, Any]:
    with svc.index.session() as session:
        rows = {r.evidence_id: r for r in session.execute(select(EvidenceRow)).scalars()}
        journal = list(session.execute(select(JournalRow)).scalars())
    ledger = FileLedger(root / "ledger.json").records()
    return {
        "indexed": sorted(rows),
        "journal": len(journal),
        "blobs": sorted(str(d) for d in svc.store.iter_digests()),
        "keys": sorted(p.stem for p in (root / "keys").glob("*.json")),
        "registered": sorted(ledger),
        "rows": rows,
    }


async def test_an_upload_is_verified_sealed_registered_and_indexed(tmp_path: Path) -> None:
    svc = service(tmp_path)
    body, sig, cert = signed(claims(), device(make_ca(tmp_path)))
    done = await svc.ingest(body, sig, cert, files())
    assert [d.media_name for d in done] == ["keyframe.jpg", "clip.mp4"]
    assert not any(d.duplicate for d in done)
    s = state(tmp_path, svc)
    ids = sorted(d.evidence_id for d in done)
    assert s["indexed"] == s["registered"] == s["keys"] == ids
    assert len(s["blobs"]) == 2
    assert s["journal"] == 0
    row = s["rows"][done[1].evidence_id]
    assert (row.zone, row.lat, row.camera_id) == ("pavement_east", 29.8886, "cam-jiangbei-12")
    # What was stored opens back to the device's bytes, checked against the ledger's hash.
    out = tmp_path / "clip.out"
    open_from_store(
        svc.store,
        evidence_id=row.evidence_id,
        ciphertext=Digest.parse(row.ciphertext_hash),
        wrapped_key=svc.vault.get(row.evidence_id),
        keyring=load_keyring(tmp_path),
        expected_plaintext=Digest.of(CLIP),
        destination=out,
    )
    assert out.read_bytes() == CLIP


async def test_a_retried_upload_creates_nothing_new(tmp_path: Path) -> None:
    svc = service(tmp_path)
    body, sig, cert = signed(claims(), device(make_ca(tmp_path)))
    first = await svc.ingest(body, sig, cert, files())
    before = state(tmp_path, svc)
    again = await svc.ingest(
        body, sig, cert, {k: Untouchable() for k in ("keyframe.jpg", "clip.mp4")}
    )
    assert [a.evidence_id for a in again] == [f.evidence_id for f in first]
    assert all(a.duplicate for a in again)
    after = state(tmp_path, svc)
    assert (after["blobs"], after["registered"]) == (before["blobs"], before["registered"])
    ledger = FileLedger(tmp_path / "ledger.json").records()
    assert all(r["registrations"] == 1 for r in ledger.values())


class LostCommitStatus:
    """Registers on the ledger, then loses the answer (a timeout after the commit), once."""

    def __init__(self, ledger: FileLedger) -> None:
        self.ledger, self.lost = ledger, 0

    async def register_evidence(self, reg: Any) -> Any:
        committed = await self.ledger.register_evidence(reg)
        if self.lost == 0:
            self.lost += 1
            raise TimeoutError("commit status: deadline exceeded")
        return committed


async def test_a_retry_after_a_lost_commit_status_registers_the_same_bytes(
    tmp_path: Path,
) -> None:
    svc = service(tmp_path)
    svc.ledger = LostCommitStatus(FileLedger(tmp_path / "ledger.json"))
    body, sig, cert = signed(claims(), device(make_ca(tmp_path)))
    with pytest.raises(TimeoutError):
        await svc.ingest(body, sig, cert, files())
    # The device retries. Sealing again would make another ciphertext, which the ledger
    # (FileLedger, like the chaincode) refuses as EVIDENCE_CONFLICT.
    again = await svc.ingest(body, sig, cert, files())
    assert [a.duplicate for a in again] == [False, False]
    after = state(tmp_path, svc)
    assert len(after["blobs"]) == 2
    assert after["journal"] == 0
    assert after["indexed"] == after["registered"] == sorted(a.evidence_id for a in again)


async def test_concurrent_uploads_of_one_event_seal_and_register_once(tmp_path: Path) -> None:
    svc = service(tmp_path)
    body, sig, cert = signed(claims(), device(make_ca(tmp_path)))
    first, second = await asyncio.gather(
        svc.ingest(body, sig, cert, files()), svc.ingest(body, sig, cert, files())
    )
    assert [i.evidence_id for i in first] == [i.evidence_id for i in second]
    assert sorted(i.duplicate for i in [*first, *second]) == [False, False, True, True]
    after = state(tmp_path, svc)
    assert len(after["blobs"]) == 2
    ledger = FileLedger(tmp_path / "ledger.json").records()
    assert [r["registrations"] for r in ledger.values()] == [1, 1]


async def test_an_officer_s_capture_is_registered_by_the_registrar_given(tmp_path: Path) -> None:
    svc = service(tmp_path)
    officer_ledger = FileLedger(tmp_path / "officer-ledger.json")
    body, sig, cert = signed(officer_capture(), device(make_ca(tmp_path), "officer", "officer-1"))
    done = await svc.ingest(body, sig, cert, files(), registrar=officer_ledger)
    assert [d.duplicate for d in done] == [False, False]
    # Registered through the officer's own client, not the node's device-facing one.
    assert sorted(officer_ledger.records()) == sorted(d.evidence_id for d in done)
    after = state(tmp_path, svc)
    assert after["registered"] == []
    row = after["rows"][done[0].evidence_id]
    assert (row.text, row.zone, row.device_id) == (officer_capture().note, None, "officer-1")


class FailingFiler(FileLedger):
    """The filer's client, whose FileDocument fails (the peer unreachable) until told not to."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.down = True

    async def file_document(self, filing: Any) -> Any:
        if self.down:
            raise ConnectionError("peer unavailable")
        return await super().file_document(filing)


async def test_a_case_document_is_filed_through_its_filer_even_after_a_restart(
    tmp_path: Path,
) -> None:
    svc = service(tmp_path)
    filer = FailingFiler(tmp_path / "reviewer-ledger.json")
    body, sig, cert = signed(case_document(), device(make_ca(tmp_path), "reviewer", "reviewer-1"))
    document = {"filing_approval-2.pdf": io.BytesIO(KEYFRAME)}
    with pytest.raises(ConnectionError):
        await svc.ingest(body, sig, cert, document, registrar=filer)
    # The node restarts: its own (device) identity may not file documents, so the sealed
    # document waits, blob and journal row kept, for its filer.
    restarted = service(tmp_path)
    assert await restarted.reconcile() == {"finished": 0, "dropped": 0, "blobs_removed": 0}
    waiting = state(tmp_path, restarted)
    assert (len(waiting["blobs"]), waiting["journal"], waiting["indexed"]) == (1, 1, [])
    filer.down = False
    (done,) = await restarted.ingest(
        body, sig, cert, {"filing_approval-2.pdf": io.BytesIO(KEYFRAME)}, registrar=filer
    )
    filed = filer.records()[done.evidence_id]
    assert filed["filed"] == ["case-1", 2]
    assert filed["content"]["camera_id"] == "case-file"
    after = state(tmp_path, restarted)
    assert (after["blobs"], after["journal"]) == (waiting["blobs"], 0)  # the same ciphertext
    assert after["registered"] == []  # never through the node's own registrar
    assert after["rows"][done.evidence_id].text == "document filing_approval"


def _bad_cases(root: Path) -> dict[str, tuple[tuple[bytes, bytes, bytes], dict[str, Readable]]]:
    ca = make_ca(root)
    good = signed(claims(), device(ca))
    body, sig, cert = good
    stranger = create_ca("ca.elsewhere", "elsewhere", claims().captured_at)
    return {
        "BAD_SIGNATURE": ((body.replace(b"pavement_east", b"pavement_west"), sig, cert), files()),
        "UNKNOWN_DEVICE": (signed(claims(), device(stranger)), files()),
        "NOT_A_DEVICE": (signed(claims(), device(ca, role="officer", name="officer-1")), files()),
        "WRONG_ORG": (signed(claims(org="PublicSecurityMSP"), device(ca)), files()),
        "DEVICE_MISMATCH": (signed(claims(device_id="edge-99"), device(ca)), files()),
        "BAD_CLAIMS": ((b'{"event_id": "x"}', sig, cert), files()),
        # An officer's capture must be signed by an officer, in that officer's own name.
        "NOT_AN_OFFICER": (signed(officer_capture(device_id="edge-07"), device(ca)), files()),
        # A case document is signed by an officer or reviewer of the department.
        "NOT_CASE_STAFF": (signed(case_document(device_id="edge-07"), device(ca)), files()),
        "DEVICE_MISMATCH/officer": (
            signed(officer_capture(device_id="officer-2"), device(ca, "officer", "officer-1")),
            files(),
        ),
        "UNKNOWN_MEDIA": (good, {**files(), "extra.jpg": io.BytesIO(b"x")}),
        "MEDIA_MISMATCH": (good, files(clip=CLIP[:-1] + b"!")),
    }


@pytest.mark.parametrize(
    "code",
    [
        "BAD_SIGNATURE",
        "UNKNOWN_DEVICE",
        "NOT_A_DEVICE",
        "WRONG_ORG",
        "DEVICE_MISMATCH",
        "BAD_CLAIMS",
        "NOT_AN_OFFICER",
        "NOT_CASE_STAFF",
        "DEVICE_MISMATCH/officer",
        "UNKNOWN_MEDIA",
        "MEDIA_MISMATCH",
    ],
)
async def test_bad_uploads_are_refused_and_nothing_is_kept(tmp_path: Path, code: str) -> None:
    svc = service(tmp_path)
    (body, sig, cert), upload = _bad_cases(tmp_path)[code]
    with pytest.raises(IngestRefused) as info:
        await svc.ingest(body, sig, cert, upload)
    assert info.value.code == code.split("/")[0]
    s = state(tmp_path, svc)
    # A mismatch found in the second file keeps the first (a retry completes the rest).
    kept = 1 if code == "MEDIA_MISMATCH" else 0
    assert (len(s["indexed"]), len(s["blobs"]), len(s["keys"]), s["journal"]) == (kept,) * 3 + (0,)


@pytest.mark.parametrize(
    "at",
    [NOW - dt.timedelta(days=3), NOW + dt.timedelta(days=3651)],
    ids=["before-issue", "after-expiry"],
)
def test_a_device_certificate_outside_its_validity_is_refused(
    tmp_path: Path, at: dt.datetime
) -> None:
    ca = make_ca(tmp_path)  # the device is issued a day before NOW, valid ten years
    body, sig, cert = signed(claims(), device(ca))
    DeviceVerifier(ORG, ca.cert_pem, clock=lambda: NOW).verify(body, sig, cert)
    with pytest.raises(IngestRefused) as info:
        DeviceVerifier(ORG, ca.cert_pem, clock=lambda: at).verify(body, sig, cert)
    assert info.value.code == "CERT_NOT_VALID"


async def test_an_oversized_item_is_refused_before_its_body_is_read(tmp_path: Path) -> None:
    svc = service(tmp_path, max_item_bytes=len(CLIP) - 1)
    body, sig, cert = signed(claims(), device(make_ca(tmp_path)))
    with pytest.raises(IngestRefused) as info:
        await svc.ingest(
            body, sig, cert, {"keyframe.jpg": Untouchable(), "clip.mp4": Untouchable()}
        )
    assert info.value.code == "TOO_LARGE"


async def test_a_body_longer_than_signed_stops_streaming(tmp_path: Path) -> None:
    svc = service(tmp_path)
    body, sig, cert = signed(claims(), device(make_ca(tmp_path)))
    endless = io.BytesIO(CLIP + b"\x00" * (50 << 20))
    with pytest.raises(IngestRefused, match="larger than"):
        await svc.ingest(
            body, sig, cert, {"keyframe.jpg": io.BytesIO(KEYFRAME), "clip.mp4": endless}
        )
    assert endless.tell() < len(CLIP) + (8 << 20)  # stopped soon after the signed size
    assert len(state(tmp_path, svc)["blobs"]) == 1  # the keyframe only


@pytest.mark.parametrize("step", ["journal", "store", "vault", "sealed", "register", "index"])
async def test_kill_9_at_each_step_then_restart_loses_and_duplicates_nothing(
    tmp_path: Path, step: str
) -> None:
    child = subprocess.run(
        [sys.executable, str(HERE / "ingest_crash_child.py"), str(tmp_path), step],
        capture_output=True,
        timeout=120,
    )
    assert child.returncode == -9, child.stderr.decode()[-2000:]
    svc = service(tmp_path)  # the restarted node
    await svc.reconcile()
    body, sig, cert = signed(claims(), device(make_ca(tmp_path)))
    # The device was never told "stored", so it retries the whole upload.
    await svc.ingest(body, sig, cert, files())
    s = state(tmp_path, svc)
    assert len(s["indexed"]) == 2
    assert s["indexed"] == s["registered"] == s["keys"]
    assert s["journal"] == 0
    assert sorted(r.ciphertext_hash for r in s["rows"].values()) == s["blobs"]  # no stray blob
    ledger = FileLedger(tmp_path / "ledger.json").records()
    assert {e: r["content"]["ciphertext_hash"] for e, r in ledger.items()} == {
        e: r.ciphertext_hash for e, r in s["rows"].items()
    }  # the ledger, the index and the store agree
    assert ORG in {r["content"]["owner_org"] for r in ledger.values()}


async def test_reconcile_never_empties_a_store_whose_database_was_lost(tmp_path: Path) -> None:
    svc = service(tmp_path)
    body, sig, cert = signed(claims(), device(make_ca(tmp_path)))
    await svc.ingest(body, sig, cert, files())
    (tmp_path / "node.sqlite").unlink()  # the database is gone; the store is not
    for extra in ("node.sqlite-wal", "node.sqlite-shm"):
        (tmp_path / extra).unlink(missing_ok=True)
    restarted = service(tmp_path)
    assert await restarted.reconcile() == {"finished": 0, "dropped": 0, "blobs_removed": 0}
    assert len(list(restarted.store.iter_digests())) == 2


@pytest.mark.parametrize("held_elsewhere", [True, False])
async def test_reconcile_keeps_blobs_another_writer_holds(
    tmp_path: Path, held_elsewhere: bool
) -> None:
    """A redacted copy sealed but not yet indexed is nobody's crash leftover: the clean-up
    after an interrupted ingest must not take it (and without the reference, it would)."""
    first = service(tmp_path)
    copy = first.store.put(io.BytesIO(b"a redacted copy, sealed, not indexed yet"))
    with first.index.session() as session:  # an ingest that died before sealing
        session.add(
            JournalRow(
                evidence_id="EV-interrupted",
                event_id="evt-x",
                state="sealing",
                claims_json=canonical_bytes(claims()).decode(),
                media_name="keyframe.jpg",
                updated_at=NOW,
            )
        )
    refs = (lambda: {str(copy)}) if held_elsewhere else (lambda: set())
    restarted = service(tmp_path, also_referenced=refs)
    outcome = await restarted.reconcile()
    assert outcome["dropped"] == 1
    assert (copy in set(restarted.store.iter_digests())) is held_elsewhere
    assert outcome["blobs_removed"] == (0 if held_elsewhere else 1)
