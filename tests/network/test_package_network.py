"""One-click packages on the real network: build, verify offline, and a tamper suite.

UrbanManagement's node ingests a device-signed photo, an officer files a case on it and
exports the case twice; every tampered copy of the package fails with its own code.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import dataclasses
import datetime as dt
import hashlib
import io
import json
import os
import random
import tarfile
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from fabric_protos.common import common_pb2, configtx_pb2
from fabric_protos.peer import transaction_pb2
from netsupport import caught_up, ledger_as

from gateway.wiring import chain_follower
from node.chain import BlockArchive, follow_chain
from node.consortium.clients import user_identity
from node.consortium.identities import consortium_roots, org_crypto
from node.consortium.launch import Layout
from node.consortium.network import Network
from node.crypto.sealing import IntegrityError
from node.crypto.signing import EcdsaSigner
from node.department import NodePaths, open_parts
from node.fabric import BlockView, Identity, block_header_bytes
from node.fabric.ledger import LedgerQueries
from node.ingest import DeviceVerifier, IngestService
from node.ledger import LedgerRefused
from node.package import (
    ArchiveStream,
    ClaimsArchive,
    Destination,
    Exporter,
    Manifest,
    PackageRefused,
    StreamFailed,
    build_package,
    stream_package,
    verify_package,
)
from node.package import manifest as layout
from node.package.anchors import TrustAnchors
from node.package.archive_file import ArchiveFile
from node.store.errors import BlobNotFound
from schemas.canonical import canonical_json
from schemas.claims import CaptureClaims, canonical_bytes
from schemas.glossary import AccessKind, Outcome, Stage, ViolationType
from schemas.hashes import Digest
from schemas.ledger import (
    MAX_PACKAGE_BATCH,
    AccessRecord,
    CaseFiling,
    CaseSource,
    EvidenceRegistration,
    GrantRequest,
    LedgerErrorCode,
    PackageAccessRequest,
    SubjectKind,
    TargetKind,
    TrailBy,
    TrailQuery,
)

pytestmark = pytest.mark.network
URBAN = "UrbanManagement"
POLICE = "PublicSecurity"


def _photo() -> bytes:
    return b"\xff\xd8\xff\xe0" + hashlib.sha256(uuid.uuid4().bytes).digest() * 4096


async def _exporter(layout_: Layout, root: Path) -> Exporter:
    dep = layout_.consortium.department(URBAN)
    paths = NodePaths(root)
    # Through the node's own loader: `evnet up` (the demo test) seals people's keys.
    identity, signer = user_identity(layout_, dep, "officer1")
    ledger = ledger_as(layout_, URBAN, "officer")
    return Exporter(
        ledger=ledger,
        queries=LedgerQueries(ledger.contract.gateway, ledger.contract.channel),
        parts=open_parts(paths),
        claims=ClaimsArchive(root / "claims"),
        identity=identity,
        signer=signer,
    )


async def _scenario(people: Network, root: Path) -> tuple[Exporter, str]:
    lay = people.layout
    dep = lay.consortium.department(URBAN)
    crypto = org_crypto(lay.state_dir, lay.consortium, URBAN)
    exporter = await _exporter(lay, root)
    device = crypto.user("device1")
    photo = _photo()
    claims = CaptureClaims.model_validate(
        {
            "event_id": f"evt-{uuid.uuid4().hex[:12]}",
            "org": dep.msp_id,
            "device_id": "device1",
            "camera_id": "cam-pkg-1",
            "captured_at": dt.datetime.now(dt.UTC).isoformat(),
            "zone": "pavement_east",
            "rule": "no_vending",
            "violation_type": "roaming_vendor",
            "model_sha256": str(Digest.of(b"model")),
            "media": [
                {
                    "name": "keyframe.jpg",
                    "media_type": "image/jpeg",
                    "sha256": str(Digest.of(photo)),
                    "size": len(photo),
                }
            ],
        }
    )
    body = canonical_bytes(claims)
    signature = EcdsaSigner.from_pem(device.key.read_bytes()).sign(body)
    parts = exporter.parts
    ingest = IngestService(
        verifier=DeviceVerifier(dep.msp_id, crypto.ca_cert.read_bytes()),
        store=parts.store,
        vault=parts.vault,
        keyring=parts.keyring,
        ledger=ledger_as(lay, URBAN, "device"),
        index=parts.index,
        max_item_bytes=64 << 20,
    )
    (item,) = await ingest.ingest(
        body, signature, device.cert.read_bytes(), {"keyframe.jpg": io.BytesIO(photo)}
    )
    # What IngestService will do once wired: keep the signed claims for packages.
    exporter.claims.put(item.evidence_id, body, signature, device.cert.read_bytes())
    case_id = f"CASE-{uuid.uuid4().hex[:8]}"
    await exporter.ledger.file_case(
        CaseFiling(
            case_id=case_id,
            violation_type=ViolationType.ROAMING_VENDOR,
            subject_key=hashlib.sha256(case_id.encode()).hexdigest(),
            subject_kind=SubjectKind.PERSON,
            source=CaseSource.CAMERA,
            evidence_ids=[item.evidence_id],
        )
    )
    # One legal step, which the package proves with the case.
    await exporter.ledger.change_stage(case_id, Stage.PRELIMINARY_CHECK)
    return exporter, case_id


# --- rewriting a package as a tamperer would -----------------------------------------------


def _members(path: Path) -> dict[str, bytes]:
    with tarfile.open(path) as archive:
        out = {}
        for m in archive.getmembers():
            f = archive.extractfile(m)
            assert f is not None
            out[m.name] = f.read()
        return out


def _write(path: Path, members: dict[str, bytes]) -> Path:
    with tarfile.open(path, "w:") as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return path


def _resign(members: dict[str, bytes], signer: EcdsaSigner, edit: Callable[[dict], None]) -> None:
    """Edit the manifest, refresh member hashes, and sign it again (a dishonest exporter)."""
    doc = json.loads(members[layout.MANIFEST])
    edit(doc)
    for entry in [*doc["blocks"], *doc["transactions"], doc["trail"], doc["config_block"]]:
        if entry["path"] in members:
            entry["sha256"] = str(Digest.of(members[entry["path"]]))
    manifest = Manifest.model_validate(doc)
    members[layout.MANIFEST] = manifest.canonical_bytes()
    members[layout.SIGNATURE] = signer.sign(members[layout.MANIFEST])


def _lapsed(cert_pem: bytes, org_root: Path) -> bytes:
    """``cert_pem``'s subject and key, certified again by its org's CA (``org_root/ca``),
    valid only until the day before now."""
    ca_dir = org_root / "ca"
    ca_key = serialization.load_pem_private_key((ca_dir / "key.pem").read_bytes(), None)
    assert isinstance(ca_key, ec.EllipticCurvePrivateKey)
    ca_cert = x509.load_pem_x509_certificate((ca_dir / "ca.pem").read_bytes())
    own = x509.load_pem_x509_certificate(cert_pem)
    now = dt.datetime.now(dt.UTC)
    lapsed = (
        x509.CertificateBuilder()
        .subject_name(own.subject)
        .issuer_name(ca_cert.subject)
        .public_key(own.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=3))
        .not_valid_after(now - dt.timedelta(days=1))
        .sign(ca_key, hashes.SHA256())
    )
    return lapsed.public_bytes(serialization.Encoding.PEM)


def _damaged(data: bytes, rng: random.Random) -> bytes:
    """``data`` with one to four bytes changed, cut at a random point, or with random bytes
    inserted: never unchanged."""
    out = bytearray(data)
    while out == data:
        kind = rng.randrange(3)
        if kind == 0 and out:
            for _ in range(rng.randint(1, 4)):
                out[rng.randrange(len(out))] = rng.randrange(256)
        elif kind == 1 and out:
            del out[rng.randrange(len(out)) :]
        else:
            at = rng.randrange(len(out) + 1)
            out[at:at] = rng.randbytes(rng.randint(1, 8))
    return bytes(out)


def _with_endorsements(raw_ptx: bytes, edit: Callable[[Any], None]) -> bytes:
    """A processed transaction with ``edit`` applied to its endorsements (the creator's
    signature no longer covers the payload)."""
    ptx = transaction_pb2.ProcessedTransaction.FromString(raw_ptx)
    payload = common_pb2.Payload.FromString(ptx.transactionEnvelope.payload)
    tx = transaction_pb2.Transaction.FromString(payload.data)
    action = transaction_pb2.ChaincodeActionPayload.FromString(tx.actions[0].payload)
    edit(action.action.endorsements)
    tx.actions[0].payload = action.SerializeToString()
    payload.data = tx.SerializeToString()
    ptx.transactionEnvelope.payload = payload.SerializeToString()
    return bytes(ptx.SerializeToString())


def _with_config(
    raw_block: bytes, edit: Callable[[configtx_pb2.Config], None], *, rehash: bool
) -> bytes:
    """A config block with ``edit`` applied to its config; with ``rehash`` its header's data
    hash follows (as a forger of the unsigned genesis block would do)."""
    block = common_pb2.Block.FromString(raw_block)
    env = common_pb2.Envelope.FromString(block.data.data[0])
    payload = common_pb2.Payload.FromString(env.payload)
    envelope = configtx_pb2.ConfigEnvelope.FromString(payload.data)
    edit(envelope.config)
    payload.data = envelope.SerializeToString()
    env.payload = payload.SerializeToString()
    block.data.data[0] = env.SerializeToString()
    if rehash:
        block.header.data_hash = hashlib.sha256(b"".join(block.data.data)).digest()
    return bytes(block.SerializeToString())


def _flip_last(der: bytes) -> bytes:
    return der[:-1] + bytes([der[-1] ^ 1])


async def test_package_builds_verifies_and_every_tamper_is_named(
    people: Network, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    exporter, case_id = await _scenario(people, tmp_path / "urban")
    # The first as `evnet package --out` keeps it: its disk blocks reserved, its bytes
    # synced, then its name; the second as the gateway spools it for its response (removed
    # before any writeback): none of these.
    synced: list[tuple[str, int]] = []
    reserved: list[int] = []
    real_fsync, real_reserve = os.fsync, ArchiveFile.reserve

    def fsync(fd: int) -> None:
        synced.append((os.readlink(f"/proc/self/fd/{fd}"), os.fstat(fd).st_size))
        real_fsync(fd)

    def reserve(file: ArchiveFile, size: int) -> None:
        reserved.append(size)
        real_reserve(file, size)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(ArchiveFile, "reserve", reserve)
    first = await build_package(case_id, exporter, tmp_path / "first.tar")
    assert [path for path, _ in synced] == [str(tmp_path / "first.tar.partial"), str(tmp_path)]
    assert synced[0][1] == first.stat().st_size  # whole when synced
    assert len(reserved) == 1
    second = await build_package(
        case_id, exporter, tmp_path / "second.tar", destination=Destination.SPOOL
    )
    assert len(synced) == 2
    assert len(reserved) == 1
    monkeypatch.undo()
    for built in (first, second):
        report = verify_package(built)
        assert report.ok, report.render()
        assert report.checked["items"] == 1
        assert report.checked["case"] == 1  # the manifest's case is the ledger's
        assert report.checked["case steps"] == 1

    lay = people.layout
    _, signer = user_identity(lay, lay.consortium.department(URBAN), "officer1")
    pristine = _members(second)
    manifest = Manifest.from_json(pristine[layout.MANIFEST])
    # The export is one RequestPackageAccess transaction; each proof taken from its block
    # is byte for byte what qscc answers for the transaction.
    (export,) = manifest.export_records
    assert export.endswith(".00")
    for t in manifest.transactions:
        tx_id = t.path.removeprefix("proofs/transactions/").removesuffix(".ptx")
        assert pristine[t.path] == await exporter.queries.transaction_by_id(tx_id)
    item = manifest.items[0]
    reg_tx = layout.transaction_path(item.registered_tx)
    n = 0

    def check(members: dict[str, bytes], code: str) -> None:
        nonlocal n
        n += 1
        report = verify_package(_write(tmp_path / f"tampered-{n}.tar", members))
        assert code in report.codes, (code, report.render())

    # A file.
    m = dict(pristine)
    m[item.path] = _flip_last(m[item.path])
    check(m, "FILE_HASH_MISMATCH")
    # The manifest (not re-signed).
    m = dict(pristine)
    m[layout.MANIFEST] = m[layout.MANIFEST].replace(
        b'"stage":"preliminary_check"', b'"stage":"closure"'
    )
    assert m[layout.MANIFEST] != pristine[layout.MANIFEST]
    check(m, "MANIFEST_SIGNATURE_INVALID")
    # A file and the manifest with it, re-signed: the ledger still says otherwise.
    m = dict(pristine)
    m[item.path] = _flip_last(m[item.path])

    def new_hash(doc: dict) -> None:
        doc["items"][0]["sha256"] = str(Digest.of(m[item.path]))

    _resign(m, signer, new_hash)
    check(m, "FILE_NOT_ON_LEDGER")
    # The case summary (re-signed manifests): a stage the ledger never wrote, or another
    # case's id, or the proof of the case's last write left out.
    m = dict(pristine)
    _resign(m, signer, lambda doc: doc["case"].update(stage="closure"))
    check(m, "CASE_MISMATCH")
    m = dict(pristine)
    _resign(m, signer, lambda doc: doc["case"].update(case_id="CASE-elsewhere"))
    check(m, "CASE_NOT_PROVEN")
    check(m, "ITEM_NOT_IN_CASE")
    case_writer = next(
        t.path
        for t in manifest.transactions
        if b"ChangeStage" in pristine[t.path] or b"FileCase" in pristine[t.path]
    )
    m = dict(pristine)
    del m[case_writer]
    _resign(m, signer, lambda doc: doc.update(
        transactions=[t for t in doc["transactions"] if t["path"] != case_writer]
    ))  # fmt: skip
    check(m, "TRANSACTION_MISSING")
    check(m, "STEP_NOT_PROVEN")  # the case's last write is its one step
    # The report's timeline: the step, who took it, from its transaction.
    (step,) = verify_package(second).steps
    assert (step.entry.seq, step.entry.to_stage) == (1, Stage.PRELIMINARY_CHECK)
    assert "officer1" in step.entry.actor
    assert step.document_item is None
    # The device-signed capture claims (re-signed manifests): a detail changed, dropped, a
    # signature broken, or claims re-signed by a device of another department.
    m = dict(pristine)
    _resign(m, signer, lambda doc: doc["items"][0]["claims"]["claims"].update(zone="elsewhere"))
    check(m, "CLAIMS_HASH_MISMATCH")
    check(m, "CLAIMS_SIGNATURE_INVALID")
    m = dict(pristine)
    _resign(m, signer, lambda doc: doc["items"][0].update(claims=None))
    check(m, "CLAIMS_MISSING")
    m = dict(pristine)

    def break_signature(doc: dict) -> None:
        claims = doc["items"][0]["claims"]
        der = _flip_last(base64.b64decode(claims["signature"]))
        claims["signature"] = base64.b64encode(der).decode()

    _resign(m, signer, break_signature)
    check(m, "CLAIMS_SIGNATURE_INVALID")
    m = dict(pristine)
    stranger = org_crypto(lay.state_dir, lay.consortium, POLICE).user("device1")

    def foreign_device(doc: dict) -> None:
        claims = doc["items"][0]["claims"]
        body = canonical_json(claims["claims"])
        der = EcdsaSigner.from_pem(stranger.key.read_bytes()).sign(body)
        claims.update(
            signature=base64.b64encode(der).decode(),
            certificate=stranger.cert.read_text(),
        )

    _resign(m, signer, foreign_device)
    check(m, "CLAIMS_SIGNER_UNTRUSTED")
    # A transaction: its bytes, then its creator signature (re-signed manifest).
    m = dict(pristine)
    m[reg_tx] = _flip_last(m[reg_tx])
    check(m, "PROOF_HASH_MISMATCH")
    m = dict(pristine)
    ptx = transaction_pb2.ProcessedTransaction.FromString(m[reg_tx])
    ptx.transactionEnvelope.signature = _flip_last(ptx.transactionEnvelope.signature)
    m[reg_tx] = ptx.SerializeToString()
    _resign(m, signer, lambda doc: None)
    check(m, "CREATOR_SIGNATURE_INVALID")
    check(m, "TRANSACTION_NOT_IN_BLOCK")
    # An endorsement.
    m = dict(pristine)

    def flip_first(endorsements: Any) -> None:
        endorsements[0].signature = _flip_last(endorsements[0].signature)

    m[reg_tx] = _with_endorsements(m[reg_tx], flip_first)
    _resign(m, signer, lambda doc: None)
    check(m, "ENDORSEMENT_SIGNATURE_INVALID")
    # One org's endorsement alone (the other dropped): the channel's MAJORITY policy is not
    # met, whatever validation code the block's unsigned metadata states.
    m = dict(pristine)

    def keep_first(endorsements: Any) -> None:
        assert len(endorsements) >= 2
        del endorsements[1:]

    m[reg_tx] = _with_endorsements(m[reg_tx], keep_first)
    _resign(m, signer, lambda doc: None)
    check(m, "ENDORSEMENT_POLICY_NOT_MET")
    # A block: one envelope changed.
    m = dict(pristine)
    block_path = manifest.blocks[0].path
    block = common_pb2.Block.FromString(m[block_path])
    env = common_pb2.Envelope.FromString(block.data.data[0])
    env.signature = _flip_last(env.signature)
    block.data.data[0] = env.SerializeToString()
    m[block_path] = block.SerializeToString()
    _resign(m, signer, lambda doc: None)
    check(m, "DATA_HASH_MISMATCH")
    # A block whose header follows the change: the orderers never signed it.
    block.header.data_hash = hashlib.sha256(b"".join(block.data.data)).digest()
    m[block_path] = block.SerializeToString()
    _resign(m, signer, lambda doc: None)
    check(m, "ORDERER_SIGNATURE_INVALID")
    # The config block's content (the roots, revocation lists and orderer MSPs a verifier
    # trusts) changed under its orderer-signed header.
    m = dict(pristine)

    def bump(config: configtx_pb2.Config) -> None:
        config.sequence += 1

    m[layout.CONFIG_BLOCK] = _with_config(m[layout.CONFIG_BLOCK], bump, rehash=False)
    _resign(m, signer, lambda doc: None)
    check(m, "DATA_HASH_MISMATCH")
    # A certificate: the manifest signed by another department's officer.
    police_id, police = user_identity(lay, lay.consortium.department("PublicSecurity"), "officer1")
    m = dict(pristine)
    m[layout.SIGNER] = police_id.cert_pem
    m[layout.SIGNATURE] = police.sign(m[layout.MANIFEST])
    check(m, "MANIFEST_SIGNER_UNTRUSTED")
    # A certificate that had lapsed when it signed: the exporter's own key, certified by
    # its own CA, but only until the day before the export.
    m = dict(pristine)
    m[layout.SIGNER] = _lapsed(
        pristine[layout.SIGNER], org_crypto(lay.state_dir, lay.consortium, URBAN).root
    )
    check(m, "CERTIFICATE_EXPIRED")
    assert "MANIFEST_SIGNATURE_INVALID" not in verify_package(tmp_path / f"tampered-{n}.tar").codes
    # An orderer's certificate that had lapsed before the block's transactions were made:
    # the block signed again with the orderer's own key under such a certificate.
    m = dict(pristine)
    orderers = lay.consortium.orderers
    orderer = org_crypto(lay.state_dir, lay.consortium, orderers.org)
    node = orderer.node(orderers.nodes[0].name)
    block = common_pb2.Block.FromString(m[block_path])
    metadata = common_pb2.Metadata.FromString(block.metadata.metadata[0])
    header = common_pb2.SignatureHeader(
        creator=Identity(
            orderers.msp_id, _lapsed(node.cert.read_bytes(), orderer.root)
        ).serialize(),
        nonce=b"n" * 24,
    ).SerializeToString()
    head = block.header
    signed = (
        metadata.value
        + header
        + block_header_bytes(head.number, head.previous_hash, head.data_hash)
    )
    del metadata.signatures[:]
    metadata.signatures.add(
        signature_header=header,
        signature=EcdsaSigner.from_pem(node.key.read_bytes()).sign(signed),
    )
    block.metadata.metadata[0] = metadata.SerializeToString()
    m[block_path] = block.SerializeToString()
    _resign(m, signer, lambda doc: None)
    check(m, "CERTIFICATE_EXPIRED")
    codes = verify_package(tmp_path / f"tampered-{n}.tar").codes
    assert "ORDERER_SIGNATURE_INVALID" not in codes, codes
    # Drop an item: its file, or its manifest entry (re-signed).
    m = dict(pristine)
    del m[item.path]
    check(m, "MEMBER_MISSING")
    m = dict(pristine)
    del m[item.path]
    _resign(m, signer, lambda doc: doc.update(items=[]))
    check(m, "ITEM_DROPPED")
    # Add an item: a stray file, or a listed one the ledger never registered.
    m = dict(pristine)
    m["evidence/EV-extra"] = b"extra"
    check(m, "UNLISTED_MEMBER")
    m = dict(pristine)
    m["evidence/EV-extra"] = b"extra"

    def add(doc: dict) -> None:
        extra = dict(doc["items"][0], evidence_id="EV-extra", path="evidence/EV-extra")
        extra.update(sha256=str(Digest.of(b"extra")), size=5)
        doc["items"].append(extra)

    _resign(m, signer, add)
    check(m, "REGISTRATION_NOT_FOUND")
    check(m, "EXPORT_NOT_RECORDED")
    # Replay: the second package's content under the first package's export record.
    old = Manifest.from_json(_members(first)[layout.MANIFEST]).export_records
    m = dict(pristine)
    _resign(m, signer, lambda doc: doc.update(export_records=old))
    check(m, "EXPORT_REPLAYED")
    # A block that does not parse, holding the earlier export the trail proves: its
    # transactions are then in no included block, which is named, not a crash.
    m = dict(pristine)
    earlier = next(
        b.path
        for b in manifest.blocks
        if BlockView.from_bytes(m[b.path]).index_of(old[0].split(".")[0]) is not None
    )
    m[earlier] = m[earlier][:-1]
    _resign(m, signer, lambda doc: None)
    check(m, "BLOCK_MALFORMED")
    check(m, "TRANSACTION_NOT_IN_BLOCK")
    # Damage anywhere in the proofs, the trail or the manifest (a byte changed, bytes cut
    # or inserted): always named failures, never an exception.
    rng = random.Random(20261206)
    damageable = [
        n for n in pristine if n.startswith("proofs/") or n in (layout.MANIFEST, layout.TRAIL)
    ]
    for _ in range(150):
        m = dict(pristine)
        name = rng.choice(damageable)
        m[name] = _damaged(m[name], rng)
        if name != layout.MANIFEST and rng.random() < 0.5:
            _resign(m, signer, lambda doc: None)  # the proofs' hashes then match
        report = verify_package(_write(tmp_path / "damaged.tar", m))
        assert not report.ok, name
    # Pinning: the consortium's own CA roots pass; leaving one out is refused.
    cas = [
        org_crypto(lay.state_dir, lay.consortium, org).ca_cert.read_bytes()
        for org in [lay.consortium.orderers.org, *(d.name for d in lay.consortium.departments)]
    ]
    assert verify_package(second, b"".join(cas)).ok
    assert "CONFIG_NOT_TRUSTED" in verify_package(second, b"".join(cas[1:])).codes
    # Trust anchors pin each MSP's roots by id and the ordering MSPs: the untouched package
    # passes; anchors for another channel, or missing an MSP, do not.
    anchors = TrustAnchors.of_consortium(lay.state_dir, lay.consortium).canonical_bytes()
    assert verify_package(second, anchors).ok, verify_package(second, anchors).render()
    roots = consortium_roots(lay.state_dir, lay.consortium)
    orderer_msps = [lay.consortium.orderers.msp_id]
    elsewhere = TrustAnchors.build("another-channel", orderer_msps, roots).canonical_bytes()
    assert "CONFIG_NOT_TRUSTED" in verify_package(second, elsewhere).codes
    fewer = {m: r for m, r in roots.items() if m != "PublicSecurityMSP"}
    partial = TrustAnchors.build(lay.consortium.channel, orderer_msps, fewer).canonical_bytes()
    assert "CONFIG_NOT_TRUSTED" in verify_package(second, partial).codes
    assert "TRUST_MALFORMED" in verify_package(second, b'{"format": 1}').codes
    # A config naming the exporter's own MSP an orderer too (it could then sign blocks of
    # its making, block 1 among them): every root is still a pinned one, so a PEM pin cannot
    # tell; anchors can.
    m = dict(pristine)

    def urban_orders_too(config: configtx_pb2.Config) -> None:
        groups = config.channel_group.groups
        groups["Orderer"].groups[URBAN].CopyFrom(groups["Application"].groups[URBAN])

    m[layout.CONFIG_BLOCK] = _with_config(m[layout.CONFIG_BLOCK], urban_orders_too, rehash=True)
    _resign(m, signer, lambda doc: None)
    forged = _write(tmp_path / "orderer-claimed.tar", m)
    pem_pinned = verify_package(forged, b"".join(cas))
    assert "CONFIG_NOT_TRUSTED" not in pem_pinned.codes
    assert any("which MSPs order the channel" in note for note in pem_pinned.notes)
    anchored = verify_package(forged, anchors)
    assert any(
        f.code == "CONFIG_NOT_TRUSTED" and f.subject == "orderer MSPs" for f in anchored.failures
    ), anchored.render()
    # The genesis block is unsigned: block 1, which the orderers signed, names its hash.
    assert layout.block_path(1) in {b.path for b in manifest.blocks}
    assert "CONFIG_NOT_ANCHORED" in anchored.codes
    assert "CONFIG_NOT_ANCHORED" in pem_pinned.codes
    m = dict(pristine)
    del m[layout.block_path(1)]
    _resign(
        m,
        signer,
        lambda doc: doc.update(
            blocks=[b for b in doc["blocks"] if b["path"] != layout.block_path(1)]
        ),
    )
    check(m, "CONFIG_NOT_ANCHORED")
    # A manifest naming another channel than its proofs.
    m = dict(pristine)
    _resign(m, signer, lambda doc: doc.update(channel="another-channel"))
    check(m, "CHANNEL_MISMATCH")

    # The node's own copy altered at rest: the build streams the item into the archive and
    # fails at its last chunk; nothing is published, not even a partial file.
    record = await exporter.ledger.evidence(item.evidence_id)
    hexdigest = Digest.parse(record.ciphertext_hash).hex
    blob = next((tmp_path / "urban").rglob(hexdigest))
    original = blob.read_bytes()
    blob.chmod(0o600)
    blob.write_bytes(_flip_last(original))
    try:
        with pytest.raises(IntegrityError):
            await build_package(case_id, exporter, tmp_path / "from-altered-store.tar")
        assert not list(tmp_path.glob("from-altered-store.tar*"))
        # Streamed (the gateway's download), the build fails too; should its reader have
        # been let in, what it got is no package.
        got, opened, failure = await _streamed(case_id, exporter, tmp_path / "staging")
        assert type(failure) is IntegrityError
        if opened:
            cut = tmp_path / "cut.tar"
            cut.write_bytes(got)
            assert not verify_package(cut).ok
    finally:
        blob.write_bytes(original)
    # The blob gone: known before the stream opens, so its reader is never let in.
    blob.rename(blob.with_name("elsewhere"))
    try:
        got, opened, failure = await _streamed(case_id, exporter, tmp_path / "staging")
        assert (got, opened, type(failure)) == (b"", [], BlobNotFound)
    finally:
        blob.with_name("elsewhere").rename(blob)
    # And intact, the stream is a package that verifies, its reader let in with the
    # export's records.
    got, opened, failure = await _streamed(case_id, exporter, tmp_path / "staging")
    assert failure is None
    streamed = tmp_path / "streamed.tar"
    streamed.write_bytes(got)
    report = verify_package(streamed)
    assert report.ok, report.render()
    assert [Manifest.from_json(_members(streamed)[layout.MANIFEST]).export_records] == opened
    assert not list(tmp_path.glob("*staging*"))


async def _streamed(
    case_id: str, exporter: Exporter, staging: Path
) -> tuple[bytes, list[list[str]], BaseException | None]:
    """The package as stream_package sends it: the bytes its reader got, the records it
    was let in with, and the build's failure."""
    stream = ArchiveStream()
    opened: list[list[str]] = []
    building = asyncio.ensure_future(
        stream_package(case_id, exporter, stream, staging, opened.append)
    )
    got = bytearray()
    with contextlib.suppress(StreamFailed):
        async for chunk in stream.chunks():
            got += chunk
    try:
        await building
    except Exception as failure:
        return bytes(got), opened, failure
    return bytes(got), opened, None


async def test_an_export_is_recorded_all_or_nothing(people: Network, tmp_path: Path) -> None:
    """RequestPackageAccess on the real network: one record per item in one transaction;
    one denied item refuses the batch and records nothing; an oversized batch is refused;
    the builder then records the denial alone and publishes nothing."""
    exporter, case_id = await _scenario(people, tmp_path / "urban")
    lay = people.layout
    (granted_item,) = await exporter.ledger.case_evidence(case_id)
    device = ledger_as(lay, URBAN, "device")
    other = f"EV-{uuid.uuid4().hex[:10]}"
    await device.register_evidence(
        EvidenceRegistration(
            evidence_id=other,
            plaintext_hash=Digest.of(b"p" + other.encode()),
            ciphertext_hash=Digest.of(b"c" + other.encode()),
            size=1234,
            media_type="image/jpeg",
            captured_at=dt.datetime(2026, 12, 6, 8, tzinfo=dt.UTC),
            device_id="device1",
            camera_id="cam-pkg-1",
            violation_type=ViolationType.ROAMING_VENDOR,
            owner_org="UrbanManagementMSP",
            locator="blob:x",
            claims_hash=Digest.of(b"claims"),
        )
    )
    await exporter.ledger.attach_evidence(case_id, other)
    grant = await exporter.ledger.grant_access(
        GrantRequest(
            target=TargetKind.EVIDENCE,
            target_id=granted_item,
            grantee_org="PublicSecurityMSP",
            purpose="joint_enforcement",
            kinds=[AccessKind.PACKAGE],
            expires_at=dt.datetime.now(dt.UTC) + dt.timedelta(days=1),
        )
    )
    partner = ledger_as(lay, "PublicSecurity", "partner")
    auditor = ledger_as(lay, URBAN, "auditor")
    await caught_up(partner, grant.block_number)

    async def trail(evidence_id: str) -> list[AccessRecord]:
        page = await auditor.access_trail(
            TrailQuery(by=TrailBy.EVIDENCE, target_id=evidence_id, page_size=200)
        )
        return page.records

    before = {i: await trail(i) for i in (granted_item, other)}
    with pytest.raises(LedgerRefused) as denied:
        await partner.request_package_access(
            PackageAccessRequest(evidence_ids=[granted_item, other], purpose="evidence_package")
        )
    assert denied.value.code is LedgerErrorCode.ACCESS_DENIED
    assert other in denied.value.message
    with pytest.raises(LedgerRefused) as oversized:
        await exporter.ledger.request_package_access(
            PackageAccessRequest.model_construct(
                evidence_ids=[granted_item] * (MAX_PACKAGE_BATCH + 1), purpose="evidence_package"
            )
        )
    assert oversized.value.code is LedgerErrorCode.VALIDATION_FAILED
    await caught_up(
        auditor,
        (
            await partner.request_package_access(
                PackageAccessRequest(evidence_ids=[granted_item], purpose="joint_enforcement")
            )
        ).block_number,
    )
    after = {i: await trail(i) for i in (granted_item, other)}
    assert after[other] == before[other]  # the refused batch left nothing
    (new,) = [r for r in after[granted_item] if r not in before[granted_item]]
    assert (new.kind, new.outcome, new.reason, new.accessor_org) == (
        AccessKind.PACKAGE,
        Outcome.GRANTED,
        "grant",
        "PublicSecurityMSP",
    )
    assert new.record_id.endswith(".00")

    # The builder as the partner: the batch is refused, the denial of the one item is
    # recorded alone (as any refused access), and no archive appears.
    as_partner = dataclasses.replace(exporter, ledger=partner)
    with pytest.raises(PackageRefused) as refused:
        await build_package(case_id, as_partner, tmp_path / "partner.tar")
    assert (refused.value.evidence_id, refused.value.reason) == (other, "no_grant")
    denial = await partner.access_record(refused.value.tx_id)  # committed on its peer
    assert (denial.kind, denial.outcome, denial.target_id) == (
        AccessKind.PACKAGE,
        Outcome.DENIED,
        other,
    )
    assert not list(tmp_path.glob("partner.tar*"))
    assert await trail(granted_item) == after[granted_item]


async def test_a_package_proves_its_case_from_the_nodes_own_block_archive(
    people: Network, tmp_path: Path
) -> None:
    """The node keeps the channel's blocks as its peer delivers them (node.chain); an export
    reads its proofs from there, byte for byte what the peer's qscc answers, and verifies."""
    lay = people.layout
    exporter, case_id = await _scenario(people, tmp_path / "urban")
    archive = BlockArchive(tmp_path / "urban" / "chain.sqlite")
    follower = chain_follower(lay, URBAN, archive)
    peer = exporter.queries
    height = (await peer.chain_info()).height
    assert await asyncio.wait_for(follower.run(until_height=height), 60) == height
    # The archive holds the chain as the peer does: the same bytes, block by block.
    for number in sorted({0, 1, height // 2, height - 1}):
        assert archive.block(number) == await peer.block_by_number(number)
    # Kept in step while the export commits, as the gateway runs it.
    following = asyncio.create_task(follow_chain(follower, retry_seconds=0.5))
    try:
        queries = LedgerQueries(
            exporter.ledger.contract.gateway, exporter.ledger.contract.channel, archive=archive
        )
        built = await build_package(
            case_id, dataclasses.replace(exporter, queries=queries), tmp_path / "archived.tar"
        )
    finally:
        following.cancel()
        await asyncio.gather(following, return_exceptions=True)
    report = verify_package(built)
    assert report.ok, report.render()
    # The registration's, the filing's and the step's blocks came from the archive; only
    # blocks committed a moment before they were read may have come from the peer.
    assert queries.archived_block_reads >= 3, (
        queries.archived_block_reads,
        queries.peer_block_reads,
    )
    # Every block the package proves with is the archive's, byte for byte.
    await asyncio.wait_for(follower.run(until_height=(await peer.chain_info()).height), 60)
    members = _members(built)
    manifest = Manifest.from_json(members[layout.MANIFEST])
    for block in manifest.blocks:
        number = int(block.path.removeprefix("proofs/blocks/").removesuffix(".block"))
        assert archive.block(number) == members[block.path]
    archive.close()
