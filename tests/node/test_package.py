"""Package manifest, claims archive and the verifier's report, without a network.

The full build-and-tamper suite runs on the real ledger: tests/network/test_package_network.py.
"""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import pytest
from pydantic import ValidationError

from node.cli import main
from node.fabric.blocks import KVWrite, NamespaceWrites, TransactionView
from node.package import ClaimsArchive, ClaimsNotArchived, Manifest, verifier, verify_package
from node.package import manifest as layout
from node.package.manifest import DeviceClaims, Item, Member
from node.package.verifier import hash_shares
from schemas.hashes import Digest
from schemas.ledger import service_keys, set_aside_keys, stage_entry_keys, violation_entry_keys


def _manifest(**changes: object) -> Manifest:
    base: dict[str, object] = {
        "format": layout.FORMAT,
        "channel": "evidence",
        "case": {"case_id": "CASE-1", "stage": "source"},
        "exporter_org": "UrbanManagementMSP",
        "export_records": ["tx-export"],
        "items": [
            Item(
                evidence_id="EV-1",
                path=layout.evidence_path("EV-1"),
                sha256=str(Digest.of(b"photo")),
                size=5,
                media_type="image/jpeg",
                owner_org="UrbanManagementMSP",
                registered_tx="tx-reg",
            ).model_dump()
        ],
        "trail": {"path": layout.TRAIL, "sha256": str(Digest.of(b"[]"))},
        "config_block": {"path": layout.CONFIG_BLOCK, "sha256": str(Digest.of(b"cfg"))},
        "blocks": [],
        "transactions": [],
    }
    base.update(changes)
    return Manifest.model_validate(base)


def _tar(path: Path, members: dict[str, bytes]) -> Path:
    with tarfile.open(path, "w:") as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return path


def test_claims_archive_round_trip_and_refusals(tmp_path: Path) -> None:
    archive = ClaimsArchive(tmp_path / "claims")
    archive.put("EV-1", b'{"b": 1, "a": [2]}', b"\x30\x01", b"-----BEGIN CERTIFICATE-----\n")
    got = archive.get("EV-1")
    assert json.loads(got.claims_json) == {"a": [2], "b": 1}
    assert (got.signature, got.certificate_pem) == (b"\x30\x01", b"-----BEGIN CERTIFICATE-----\n")
    with pytest.raises(ClaimsNotArchived):
        archive.get("EV-2")
    with pytest.raises(ValueError, match="not an evidence id"):
        archive.put("../escape", b"{}", b"", b"")
    with pytest.raises(json.JSONDecodeError):
        archive.put("EV-3", b"not json", b"", b"")
    assert not list((tmp_path / "claims").glob(".claims-*"))


def test_manifest_is_canonical_and_strict() -> None:
    manifest = _manifest()
    raw = manifest.canonical_bytes()
    assert Manifest.from_json(raw) == manifest
    assert raw == json.dumps(json.loads(raw), sort_keys=True, separators=(",", ":")).encode()
    with pytest.raises(ValidationError, match="extra"):
        Manifest.from_json(raw.replace(b'"blocks"', b'"extra":1,"blocks"'))
    assert _manifest(format="evidencenet-package/1").format == "evidencenet-package/1"
    with pytest.raises(ValidationError, match="format"):
        _manifest(format="evidencenet-package/5")
    assert [m.path for m in manifest.members()] == [
        "evidence/EV-1",
        layout.TRAIL,
        layout.CONFIG_BLOCK,
    ]


def test_not_a_tar_is_named(tmp_path: Path) -> None:
    bad = tmp_path / "x.tar"
    bad.write_bytes(b"not an archive at all" * 100)
    assert verify_package(bad).codes == {"NOT_A_PACKAGE"}


def test_an_empty_archive_misses_the_manifest(tmp_path: Path) -> None:
    report = verify_package(_tar(tmp_path / "p.tar", {}))
    assert not report.ok
    assert {f.subject for f in report.failures} == {
        layout.MANIFEST,
        layout.SIGNATURE,
        layout.SIGNER,
    }
    assert report.codes == {"MEMBER_MISSING"}


def test_a_member_too_large_to_parse_is_named_without_reading_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(verifier, "MAX_MEMBER_READ", 1000)
    members = {
        layout.MANIFEST: b"{" + b" " * 1000 + b"}",
        layout.SIGNATURE: b"",
        layout.SIGNER: b"",
    }
    report = verify_package(_tar(tmp_path / "p.tar", members))
    assert not report.ok
    assert [(f.code, f.subject) for f in report.failures] == [("MEMBER_TOO_LARGE", layout.MANIFEST)]


def test_a_malformed_manifest_is_named(tmp_path: Path) -> None:
    members = {layout.MANIFEST: b'{"format": 1}', layout.SIGNATURE: b"", layout.SIGNER: b""}
    assert verify_package(_tar(tmp_path / "p.tar", members)).codes == {"MANIFEST_MALFORMED"}


def test_hash_shares_cover_every_member_once_balanced_and_in_archive_order(
    tmp_path: Path,
) -> None:
    sizes = [9000, 10, 4000, 4000, 700, 0, 3000, 2500, 2500, 512, 1]
    path = _tar(tmp_path / "p.tar", {f"m{i}": b"x" * n for i, n in enumerate(sizes)})
    with tarfile.open(path) as archive:
        members = archive.getmembers()
    for n in (1, 2, 3, 4, 20):
        shares = hash_shares(members, n)
        assert len(shares) == min(n, len(members))
        assert sorted(m.name for s in shares for m in s) == sorted(m.name for m in members)
        for share in shares:
            assert [m.offset_data for m in share] == sorted(m.offset_data for m in share)
        loads = [sum(m.size for m in s) for s in shares]
        # Largest first to the lightest: no share exceeds another by more than its largest.
        assert max(loads) - min(loads) <= max(sizes)
    # 9000, 2500, 700, 512, 10, 1 against 4000, 4000, 3000, 2500 (and the empty one).
    assert sorted(sum(m.size for m in s) for s in hash_shares(members, 2)) == [12723, 13500]
    assert hash_shares([], 4) == []


@pytest.mark.parametrize("workers", [1, 2, 5])
def test_members_are_checked_against_the_manifest_before_any_proof(
    tmp_path: Path, workers: int
) -> None:
    manifest = _manifest(
        blocks=[Member(path=layout.block_path(7), sha256=str(Digest.of(b"b"))).model_dump()]
    )
    members = {
        layout.MANIFEST: manifest.canonical_bytes(),
        layout.SIGNATURE: b"",
        layout.SIGNER: b"",
        "evidence/EV-1": b"phot0",  # same size, other bytes
        layout.TRAIL: b"[]",
        layout.CONFIG_BLOCK: b"cfg",  # hashes as listed, but is no block
        layout.block_path(7): b"changed",
        "evidence/EV-stray": b"x",
    }
    report = verify_package(_tar(tmp_path / "p.tar", members), hash_workers=workers)
    by_code = {f.code: f.subject for f in report.failures}
    assert by_code == {
        "UNLISTED_MEMBER": "evidence/EV-stray",
        "FILE_HASH_MISMATCH": "evidence/EV-1",
        "PROOF_HASH_MISMATCH": layout.block_path(7),
        "CONFIG_MALFORMED": layout.CONFIG_BLOCK,
    }
    assert report.checked["members"] == 4


def test_report_renders_and_serialises(tmp_path: Path) -> None:
    report = verify_package(_tar(tmp_path / "p.tar", {}))
    doc = report.to_json()
    assert doc["ok"] is False
    assert {f["code"] for f in doc["failures"]} == {"MEMBER_MISSING"}
    assert report.render().startswith(f"package {tmp_path / 'p.tar'}: FAILED")


def test_cli_verify_exits_1_and_prints_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _tar(tmp_path / "p.tar", {})
    assert main(["verify", str(path), "--json"]) == 1
    assert json.loads(capsys.readouterr().out)["ok"] is False


def test_cli_verify_names_a_file_it_cannot_read(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    package = _tar(tmp_path / "p.tar", {})
    assert main(["verify", str(tmp_path / "missing.tar")]) == 2
    assert "FILE_UNREADABLE" in capsys.readouterr().err
    assert main(["verify", str(package), "--trust", str(tmp_path / "anchors.json")]) == 2
    err = capsys.readouterr().err
    assert "FILE_UNREADABLE" in err
    assert "anchors.json" in err


def _registration(
    function: str, *args: bytes, tx_id: str = "tx-reg", writes: tuple[KVWrite, ...] = ()
) -> TransactionView:
    return TransactionView(
        tx_id=tx_id,
        channel="evidence",
        type="ENDORSER_TRANSACTION",
        timestamp=None,
        creator=None,
        chaincode=layout.CHAINCODE,
        args=(function.encode(), *args),
        result=b"",
        endorsements=(),
        write_sets=(NamespaceWrites(layout.CHAINCODE, writes),),
        validation_code="VALID",
        envelope=b"",
        payload=b"",
        signature=b"",
        data=b"",
    )


@pytest.mark.parametrize(
    ("function", "filing", "failure"),
    [
        ("FileDocument", {"case_id": "CASE-1", "step": 2}, None),
        # Registered as any item: nothing checked it against the step.
        ("RegisterEvidence", {"case_id": "CASE-1", "step": 2}, "DOCUMENT_NOT_FILED"),
        ("FileDocument", {"case_id": "CASE-2", "step": 2}, "DOCUMENT_NOT_FILED"),
        ("FileDocument", {"case_id": "CASE-1", "step": 3}, "DOCUMENT_NOT_FILED"),
    ],
)
def test_a_case_document_is_one_only_as_filed_for_its_step(
    function: str, filing: dict[str, object], failure: str | None
) -> None:
    """The verifier's check of a case document against the transaction that registered it
    (the rest of an item's checks: tests/network/test_gateway_packages.py)."""
    claims = {
        "kind": "case_document",
        "case_id": "CASE-1",
        "step": 2,
        "stage": "filing_approval",
        "device_id": "officer1",
    }
    manifest = _manifest()
    item = manifest.items[0].model_copy(
        update={"claims": DeviceClaims(claims=claims, signature="", certificate="")}
    )
    check = verifier._Verification.__new__(verifier._Verification)
    check.report = verifier.Report("p.tar")
    check._case_document(item, manifest, _registration(function, json.dumps(filing).encode()))
    if failure is None:
        assert check.report.ok, check.report.render()
        assert check.report.checked == {"case documents": 1}
        assert check.report.notes == [
            "EV-1 is the document of step 2 (filing_approval) of case CASE-1, filed by officer1"
        ]
    else:
        assert check.report.codes == {failure}
        assert "CASE-1" in check.report.failures[0].message


def _step(seq: int, tx_id: str, **changes: object) -> KVWrite:
    """The stage entry ``seq`` of CASE-1 as ChangeStage ``tx_id`` writes it."""
    entry = {
        "case_id": "CASE-1",
        "seq": seq,
        "from_stage": "source" if seq == 1 else "preliminary_check",
        "to_stage": "preliminary_check" if seq == 1 else "filing_approval",
        "actor_org": "UrbanManagementMSP",
        "actor": "CN=officer1",
        "role": "officer",
        "at": f"2026-12-07T04:0{seq}:00.000000Z",
        "tx": tx_id,
        "details": {} if seq == 1 else {"document_hash": str(Digest.of(b"photo"))},
        **changes,
    }
    key = f"{stage_entry_keys('CASE-1')}{seq:06d}\x00"
    return KVWrite(key, json.dumps(entry).encode(), is_delete=False)


def _check_steps(
    txs: list[TransactionView],
    fmt: str = layout.FORMAT,
    document: bool = False,
    **counts: int,
) -> verifier.Report:
    case = {
        "case_id": "CASE-1",
        "violation_type": "road_occupation",
        "subject_key": "s",
        "subject_kind": "person",
        "source": "camera",
        "procedure": "general",
        "stage": "filing_approval",
        "holder_org": "UrbanManagementMSP",
        "filed_by_org": "UrbanManagementMSP",
        "filed_by": "CN=officer1",
        "filed_at": "2026-12-07T04:00:00.000000Z",
        "filed_tx": "tx-file",
        "updated_at": "2026-12-07T04:02:00.000000Z",
        "stage_changes": 2,
        **counts,
    }
    manifest = _manifest(format=fmt, case=case)
    if document:  # EV-1 (the bytes b"photo") is step 2's document
        claims = {"kind": "case_document", "case_id": "CASE-1", "step": 2}
        item = manifest.items[0].model_copy(
            update={"claims": DeviceClaims(claims=claims, signature="", certificate="")}
        )
        manifest = manifest.model_copy(update={"items": [item]})
    check = verifier._Verification.__new__(verifier._Verification)
    check.report = verifier.Report("p.tar")
    check.transactions = {tx.tx_id: tx for tx in txs}
    check._steps(manifest)
    check._served_and_set_aside(manifest)
    return check.report


def test_every_step_of_the_case_is_proven_in_order_with_its_document() -> None:
    txs = [
        _registration("ChangeStage", tx_id="tx-2", writes=(_step(2, "tx-2"),)),
        _registration("ChangeStage", tx_id="tx-1", writes=(_step(1, "tx-1"),)),
    ]
    report = _check_steps(txs, document=True)
    assert report.ok, report.render()
    assert [(s.entry.seq, s.document_item) for s in report.steps] == [(1, None), (2, "EV-1")]
    assert report.checked == {"case steps": 2}
    assert "step 2: preliminary_check -> filing_approval by CN=officer1" in report.render()
    assert report.to_json()["steps"][1]["document_item"] == "EV-1"


def test_a_step_left_out_or_not_its_own_is_named() -> None:
    one = _registration("ChangeStage", tx_id="tx-1", writes=(_step(1, "tx-1"),))
    assert _check_steps([one]).codes == {"STEP_NOT_PROVEN"}
    # A package of format /1 was built before packages proved steps: said, not failed.
    old = _check_steps([one], fmt="evidencenet-package/1")
    assert old.ok
    assert "1 of the case's 2 steps are proven" in old.notes[0]
    # An entry written by another transaction than the one it names, or of another case.
    forged = _registration("ChangeStage", tx_id="tx-9", writes=(_step(2, "tx-2"),))
    assert _check_steps([one, forged]).codes == {"STEP_MALFORMED", "STEP_NOT_PROVEN"}
    other = _registration("ChangeStage", tx_id="tx-2", writes=(_step(2, "tx-2", case_id="X"),))
    assert _check_steps([one, other]).codes == {"STEP_MALFORMED", "STEP_NOT_PROVEN"}
    # A case document whose step bound another file.
    bound = _step(2, "tx-2", details={"document_hash": str(Digest.of(b"other"))})
    two = _registration("ChangeStage", tx_id="tx-2", writes=(bound,))
    assert _check_steps([one, two], document=True).codes == {"DOCUMENT_NOT_FILED"}


def _served(tx_id: str, step: int = 2, **changes: object) -> KVWrite:
    """CASE-1's step ``step`` served on the party, as RecordService ``tx_id`` writes it."""
    record = {
        "case_id": "CASE-1",
        "step_tx": f"tx-{step}",
        "step_seq": step,
        "stage": "decision",
        "document_hash": str(Digest.of(b"photo")),
        "method": "post",
        "served_at": "2026-12-07T05:00:00.000000Z",
        "proof_hash": str(Digest.of(tx_id.encode())),
        "consent_hash": None,
        "org": "UrbanManagementMSP",
        "recorded_by": "CN=officer1",
        "recorded_role": "officer",
        "recorded_at": "2026-12-07T06:00:00.000000Z",
        "recorded_tx": tx_id,
        **changes,
    }
    key = f"{service_keys('CASE-1')}{step:06d}\x00{tx_id}\x00"
    return KVWrite(key, json.dumps(record).encode(), is_delete=False)


def _set_aside(tx_id: str, decision_tx: str = "tx-2", **changes: object) -> KVWrite:
    """CASE-1's decision ``decision_tx`` set aside, as SetAsideDecision ``tx_id`` writes it."""
    record = {
        "case_id": "CASE-1",
        "decision_tx": decision_tx,
        "decided_at": "2026-12-07T04:02:00.000000Z",
        "org": "UrbanManagementMSP",
        "ground": "revoked",
        "authority": "reconsideration",
        "reason": "insufficient_evidence",
        "document_hash": str(Digest.of(b"reconsideration decision")),
        "set_aside_on": "2026-12-07",
        "recorded_by": "CN=reviewer1",
        "recorded_role": "reviewer",
        "recorded_at": "2026-12-07T07:00:00.000000Z",
        "recorded_tx": tx_id,
        **changes,
    }
    key = f"{set_aside_keys('CASE-1')}{decision_tx}\x00"
    return KVWrite(key, json.dumps(record).encode(), is_delete=False)


def _decided(*more: TransactionView) -> list[TransactionView]:
    """CASE-1's two steps, the second its decision, and the transactions ``more``."""
    decision = _step(2, "tx-2", to_stage="decision")
    return [
        _registration("ChangeStage", tx_id="tx-1", writes=(_step(1, "tx-1"),)),
        _registration("ChangeStage", tx_id="tx-2", writes=(decision,)),
        *more,
    ]


def test_the_decision_served_twice_and_set_aside_is_proven() -> None:
    txs = _decided(
        _registration(
            "RecordService", tx_id="tx-s2", writes=(_served("tx-s2", method="public_notice"),)
        ),
        _registration("RecordService", tx_id="tx-s1", writes=(_served("tx-s1"),)),
        _registration("SetAsideDecision", tx_id="tx-x", writes=(_set_aside("tx-x"),)),
    )
    report = _check_steps(txs, services=2, set_asides=1)
    assert report.ok, report.render()
    assert [r.recorded_tx for r in report.services] == ["tx-s1", "tx-s2"]
    assert [r.decision_tx for r in report.set_asides] == ["tx-2"]
    assert report.checked == {"case steps": 2, "documents served": 2, "decisions set aside": 1}
    text = report.render()
    assert f"served step 2 (decision): document {Digest.of(b'photo')} post at" in text
    assert "set aside decision tx-2 of 2026-12-07T04:02:00.000000Z: revoked by " in text
    assert "reconsideration on 2026-12-07, insufficient_evidence" in text
    as_json = report.to_json()
    assert [r["method"] for r in as_json["services"]] == ["post", "public_notice"]
    assert as_json["set_asides"][0]["reason"] == "insufficient_evidence"


def test_a_service_or_set_aside_left_out_or_not_its_own_is_named() -> None:
    served = _registration("RecordService", tx_id="tx-s1", writes=(_served("tx-s1"),))
    undone = _registration("SetAsideDecision", tx_id="tx-x", writes=(_set_aside("tx-x"),))
    # The case counts two services and a set-aside: a package proving fewer hides one.
    left_out = _check_steps(_decided(served), services=2, set_asides=1)
    assert left_out.codes == {"SERVICE_NOT_PROVEN", "SET_ASIDE_NOT_PROVEN"}
    assert "1 of the case's 2 documents served on the party are proven" in left_out.render()
    # A package built before /4 says so instead of failing.
    old = _check_steps(_decided(), fmt="evidencenet-package/3", services=1, set_asides=1)
    assert old.ok, old.render()
    assert [n.split(": ")[1] for n in old.notes] == [
        "0 of the case's 1 documents served on the party are proven",
        "0 of the case's 1 decisions set aside are proven",
    ]
    # A record written by another transaction than the one it names.
    forged = _registration("RecordService", tx_id="tx-9", writes=(_served("tx-s1"),))
    assert _check_steps(_decided(forged), services=1).codes == {
        "SERVICE_MALFORMED",
        "SERVICE_NOT_PROVEN",
    }
    other = _registration("SetAsideDecision", tx_id="tx-9", writes=(_set_aside("tx-x"),))
    assert _check_steps(_decided(other), set_asides=1).codes == {
        "SET_ASIDE_MALFORMED",
        "SET_ASIDE_NOT_PROVEN",
    }
    # Of a step the package does not prove, or of another document than the step bound.
    unproven = _registration("RecordService", tx_id="tx-s3", writes=(_served("tx-s3", step=3),))
    assert _check_steps(_decided(unproven), services=1).codes == {
        "SERVICE_MALFORMED",
        "SERVICE_NOT_PROVEN",
    }
    swapped = _served("tx-s4", document_hash=str(Digest.of(b"another decision")))
    wrong = _registration("RecordService", tx_id="tx-s4", writes=(swapped,))
    report = _check_steps(_decided(wrong), services=1)
    assert report.codes == {"SERVICE_MALFORMED", "SERVICE_NOT_PROVEN"}
    assert "not the document step 2 bound" in report.render()
    # A set-aside of a step that decided nothing (step 1 moved the case to a check).
    not_decision = _set_aside("tx-y", decision_tx="tx-1")
    y = _registration("SetAsideDecision", tx_id="tx-y", writes=(not_decision,))
    assert _check_steps(_decided(y), set_asides=1).codes == {
        "SET_ASIDE_MALFORMED",
        "SET_ASIDE_NOT_PROVEN",
    }
    # Not a record at all.
    junk = KVWrite(f"{service_keys('CASE-1')}000002\x00tx-j\x00", b"{", False)
    broken = _registration("RecordService", tx_id="tx-j", writes=(junk,))
    assert _check_steps(_decided(broken, undone), services=1, set_asides=1).codes == {
        "SERVICE_MALFORMED",
        "SERVICE_NOT_PROVEN",
    }


_LOOP = ["detected", "confirmed", "reminded", "escalated", "community_reminded", "case_filed"]


def _flag_step(seq: int, tx_id: str, **changes: object) -> KVWrite:
    """The history entry ``seq`` of flag evt-1 as the Violations contract writes it, along
    the loop to CASE-1 with both reminders."""
    entry = {
        "flag_id": "evt-1",
        "seq": seq,
        "from_status": _LOOP[seq - 1] if seq else None,
        "to_status": _LOOP[seq],
        "by": "CN=device1" if seq == 0 else "CN=officer1",
        "by_org": "UrbanManagementMSP",
        "role": "device" if seq == 0 else "officer",
        "at": f"2026-12-07T04:0{seq}:00.000000Z",
        "tx_id": tx_id,
        "reason": "not_rectified" if _LOOP[seq] == "escalated" else "",
        "evidence_ids": [],
        "case_id": "CASE-1" if _LOOP[seq] == "case_filed" else None,
        **changes,
    }
    key = f"{violation_entry_keys('evt-1')}{seq:06d}\x00"
    return KVWrite(key, json.dumps(entry).encode(), is_delete=False)


def _check_loop(
    txs: list[TransactionView], fmt: str = layout.FORMAT, flag_id: str | None = "evt-1"
) -> verifier.Report:
    case = {
        "case_id": "CASE-1",
        "violation_type": "shopfront_operation",
        "subject_key": "s",
        "subject_kind": "organization",
        "source": "camera",
        "procedure": "general",
        "stage": "source",
        "holder_org": "UrbanManagementMSP",
        "filed_by_org": "UrbanManagementMSP",
        "filed_by": "CN=officer1",
        "filed_at": "2026-12-07T04:05:00.000000Z",
        "filed_tx": "tx-5",
        "updated_at": "2026-12-07T04:05:00.000000Z",
        "flag_id": flag_id,
    }
    check = verifier._Verification.__new__(verifier._Verification)
    check.report = verifier.Report("p.tar")
    check.transactions = {tx.tx_id: tx for tx in txs}
    check._loop(_manifest(format=fmt, case=case))
    return check.report


def _loop_txs(*, skip: int | None = None) -> list[TransactionView]:
    return [
        _registration("AdvanceViolation", tx_id=f"tx-{n}", writes=(_flag_step(n, f"tx-{n}"),))
        for n in range(len(_LOOP))
        if n != skip
    ]


def test_a_case_from_a_flag_proves_its_loop_with_both_reminders() -> None:
    report = _check_loop(_loop_txs())
    assert report.ok, report.render()
    assert [e.to_status.value for e in report.loop] == _LOOP
    assert report.checked == {"flag steps": 6}
    text = report.render()
    assert "loop 3: reminded -> escalated by CN=officer1 (officer, UrbanManagementMSP)" in text
    assert "reason not_rectified" in text
    assert report.to_json()["loop"][5] == {
        "seq": 5,
        "from": "community_reminded",
        "to": "case_filed",
        "by": "CN=officer1",
        "role": "officer",
        "org": "UrbanManagementMSP",
        "at": "2026-12-07T04:05:00.000000Z",
        "tx": "tx-5",
        "reason": "",
        "case_id": "CASE-1",
    }
    # A case filed directly has no loop to prove.
    assert _check_loop([], flag_id=None).ok


def test_a_loop_step_left_out_or_not_its_own_is_named() -> None:
    # The second reminder dropped: the court would not see it was given.
    missing = _check_loop(_loop_txs(skip=4))
    assert missing.codes == {"FLAG_STEP_NOT_PROVEN"}
    assert missing.failures[0].message == "step 4"
    assert _check_loop(_loop_txs(skip=5)).codes == {"FLAG_STEP_NOT_PROVEN"}
    # An entry written by another transaction than the one it names.
    forged = [
        *_loop_txs(skip=2),
        _registration("AdvanceViolation", tx_id="tx-9", writes=(_flag_step(2, "tx-2"),)),
    ]
    assert _check_loop(forged).codes == {"FLAG_STEP_MALFORMED", "FLAG_STEP_NOT_PROVEN"}
    # The flag's loop opened another case.
    other = [
        *_loop_txs(skip=5),
        _registration(
            "AdvanceViolation", tx_id="tx-5", writes=(_flag_step(5, "tx-5", case_id="CASE-2"),)
        ),
    ]
    assert _check_loop(other).codes == {"FLAG_STEP_MALFORMED"}
    # Not an entry at all.
    junk = [
        *_loop_txs(skip=1),
        _registration(
            "AdvanceViolation",
            tx_id="tx-1",
            writes=(KVWrite(f"{violation_entry_keys('evt-1')}000001\x00", b"{", False),),
        ),
    ]
    assert _check_loop(junk).codes == {"FLAG_STEP_MALFORMED", "FLAG_STEP_NOT_PROVEN"}
    # A package built before /3 says so instead of failing.
    old = _check_loop([], fmt="evidencenet-package/2")
    assert old.ok
    assert "the loop of flag evt-1 is not proven" in old.notes[0]
