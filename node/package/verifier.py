"""Offline verification of an evidence package: no network, no trust in the sender.

Every check that fails adds one :class:`Failure` with a stable code (see docs/PACKAGE.md);
the package holds only if there is none.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import os
import tarfile
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, TypeVar

from pydantic import BaseModel, ValidationError

from node.fabric.blocks import BlockView, MalformedLedgerData, TransactionView, verify_chain
from node.fabric.identity import Identity
from node.package import manifest as layout
from node.package.anchors import TrustAnchors, TrustAnchorsMalformed, is_anchors
from node.package.certificates import load_certs
from node.package.manifest import CHAINCODE, Item, Manifest
from node.package.trust import ChannelTrust, signed_by
from schemas.canonical import canonical_json
from schemas.derivations import DerivationDescription, DerivationRecord
from schemas.glossary import DECIDING_STAGES, AccessKind, Outcome, ViolationStatus
from schemas.hashes import Digest
from schemas.ledger import (
    AccessRecord,
    CaseRecord,
    EvidenceRecord,
    ServiceRecord,
    SetAsideRecord,
    StageEntry,
    case_state_key,
    record_tx_id,
    service_keys,
    set_aside_keys,
    stage_entry_keys,
    violation_entry_keys,
)
from schemas.violations import ViolationEntry

_CHUNK = 4 << 20

# Members read whole (manifest, signature, blocks, trail): a block is at most the orderer's
# AbsoluteMaxBytes (99 MB in this consortium's channel configuration), the others far less.
MAX_MEMBER_READ = 100 << 20


def _cores() -> int:
    """The cores this process may run on (its affinity, where the platform tells)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


# Threads hashing the archive's files, each its share: hashing is nearly all of a
# verification's work and hashlib releases the GIL, so a court's laptop uses its cores.
HASH_WORKERS: Final = max(1, min(4, _cores()))

M = TypeVar("M", bound=BaseModel)
R = TypeVar("R", ServiceRecord, SetAsideRecord)  # a case's records kept beside its steps


@dataclass(frozen=True)
class Failure:
    code: str
    subject: str
    message: str

    def __str__(self) -> str:
        return f"{self.code}: {self.subject}: {self.message}"


@dataclass(frozen=True)
class ProvenStep:
    """One legal step of the case, as a VALID transaction in the package wrote it."""

    entry: StageEntry
    document_item: str | None  # the packaged item holding the step's document, if any

    def to_json(self) -> dict[str, Any]:
        e = self.entry
        return {
            "seq": e.seq,
            "from": e.from_stage.value,
            "to": e.to_stage.value,
            "actor": e.actor,
            "role": e.role,
            "org": e.actor_org,
            "at": e.at,
            "tx": e.tx,
            "document_hash": e.details.get("document_hash"),
            "document_item": self.document_item,
        }

    def __str__(self) -> str:
        e = self.entry
        text = f"{e.seq}: {e.from_stage} -> {e.to_stage} by {e.actor} ({e.role}, {e.actor_org})"
        text += f" at {e.at}"
        if (document := e.details.get("document_hash")) is not None:
            text += f"; document {document}" + (
                f" in {self.document_item}" if self.document_item else " (not in the package)"
            )
        return text


@dataclass
class Report:
    """What was checked and every failure; :attr:`ok` only if there is none."""

    package: str
    failures: list[Failure] = field(default_factory=list)
    checked: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    # The case's legal steps as the package proves them, in order (a court's timeline).
    steps: list[ProvenStep] = field(default_factory=list)
    # A case opened from an AI flag: the flag's loop as the package proves it, in order.
    loop: list[ViolationEntry] = field(default_factory=list)
    # The case's documents served on the party, and its decisions set aside, as proven.
    services: list[ServiceRecord] = field(default_factory=list)
    set_asides: list[SetAsideRecord] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures

    @property
    def codes(self) -> set[str]:
        return {f.code for f in self.failures}

    def fail(self, code: str, subject: str, message: str) -> None:
        self.failures.append(Failure(code, subject, message))

    def count(self, what: str, n: int = 1) -> None:
        self.checked[what] = self.checked.get(what, 0) + n

    def to_json(self) -> dict[str, Any]:
        return {
            "package": self.package,
            "ok": self.ok,
            "checked": dict(sorted(self.checked.items())),
            "failures": [
                {"code": f.code, "subject": f.subject, "message": f.message} for f in self.failures
            ],
            "notes": self.notes,
            "steps": [step.to_json() for step in self.steps],
            "loop": [_loop_json(e) for e in self.loop],
            "services": [r.model_dump(mode="json") for r in self.services],
            "set_asides": [r.model_dump(mode="json") for r in self.set_asides],
        }

    def render(self) -> str:
        lines = [f"package {self.package}: {'VERIFIED' if self.ok else 'FAILED'}"]
        lines += [f"  checked {n} {what}" for what, n in sorted(self.checked.items())]
        lines += [f"  FAIL {f}" for f in self.failures]
        lines += [f"  note: {n}" for n in self.notes]
        lines += [f"  step {step}" for step in self.steps]
        lines += [f"  loop {_loop_text(e)}" for e in self.loop]
        lines += [f"  served {_service_text(r)}" for r in self.services]
        lines += [f"  set aside {_set_aside_text(r)}" for r in self.set_asides]
        return "\n".join(lines)


def _loop_json(e: ViolationEntry) -> dict[str, Any]:
    return {
        "seq": e.seq,
        "from": e.from_status.value if e.from_status else None,
        "to": e.to_status.value,
        "by": e.by,
        "role": e.role.value,
        "org": e.by_org,
        "at": e.at,
        "tx": e.tx_id,
        "reason": e.reason,
        "case_id": e.case_id,
    }


def _loop_text(e: ViolationEntry) -> str:
    text = f"{e.seq}: {e.from_status or '-'} -> {e.to_status} by {e.by} ({e.role}, {e.by_org})"
    text += f" at {e.at}"
    return text + (f", reason {e.reason}" if e.reason else "")


def _service_text(r: ServiceRecord) -> str:
    text = f"step {r.step_seq} ({r.stage}): document {r.document_hash} {r.method} at "
    text += f"{r.served_at}; proof {r.proof_hash}"
    text += f"; consent {r.consent_hash}" if r.consent_hash else ""
    return text + f"; recorded by {r.recorded_by} ({r.recorded_role}, {r.org}) at {r.recorded_at}"


def _set_aside_text(r: SetAsideRecord) -> str:
    text = f"decision {r.decision_tx} of {r.decided_at}: {r.ground} by {r.authority} on "
    text += f"{r.set_aside_on.isoformat()}, {r.reason}; document {r.document_hash}"
    return text + f"; recorded by {r.recorded_by} ({r.recorded_role}, {r.org}) at {r.recorded_at}"


def verify_package(
    path: Path, trust_roots: bytes | None = None, *, hash_workers: int = HASH_WORKERS
) -> Report:
    """Verify the package at ``path``. ``trust_roots`` pins what the package's config block
    may say: trust anchors (canonical JSON, :mod:`node.package.anchors`: each MSP's roots by
    id, the ordering MSPs, the channel) or, weaker, a PEM bundle of MSP roots. The files
    are hashed by ``hash_workers`` threads. Never raises for a bad package: every defect is
    in the report.

    Raises:
        OSError: ``path`` cannot be read.
    """
    report = Report(str(path))
    try:
        with tarfile.open(path, "r:") as archive:
            _Verification(archive, report, trust_roots, path, max(1, hash_workers)).run()
    except tarfile.TarError as exc:
        report.fail("NOT_A_PACKAGE", str(path), f"not a readable tar archive: {exc}")
    return report


def hash_shares(members: list[tarfile.TarInfo], n: int) -> list[list[tarfile.TarInfo]]:
    """``members`` in at most ``n`` shares of about equal bytes (each in turn, largest
    first, to the lightest share), each share in archive order, so that its reads run
    forward through the file; no empty share."""
    shares: list[list[tarfile.TarInfo]] = [[] for _ in range(max(1, n))]
    loads = [0] * len(shares)
    for member in sorted(members, key=lambda m: -m.size):
        lightest = loads.index(min(loads))
        shares[lightest].append(member)
        loads[lightest] += member.size
    return [sorted(s, key=lambda m: m.offset_data) for s in shares if s]


def _hash_members(path: Path, members: list[tarfile.TarInfo]) -> dict[str, tuple[str, int]]:
    """SHA-256 and size of each regular member, read through a handle of its own (a tarfile
    is not safe to read from two threads). The data of a plain tar member is one contiguous
    run of the file, so it is read straight into one reused buffer: no copies."""
    out: dict[str, tuple[str, int]] = {}
    buffer = bytearray(_CHUNK)
    view = memoryview(buffer)
    with path.open("rb", buffering=0) as raw:
        for member in members:
            if member.sparse is not None:  # never written by the builder; hashed as tar reads it
                out[member.name] = _hash_sparse(path, member.name)
                continue
            raw.seek(member.offset_data)
            h = hashlib.sha256()
            left = member.size
            while left:
                n = raw.readinto(view[: min(left, _CHUNK)])
                if not n:  # the archive ends inside the member
                    break
                h.update(view[:n])
                left -= n
            out[member.name] = (f"sha256:{h.hexdigest()}", member.size - left)
    return out


def _hash_sparse(path: Path, name: str) -> tuple[str, int]:
    with tarfile.open(path, "r:") as archive:
        stream = archive.extractfile(name)
        h = hashlib.sha256()
        size = 0
        while stream is not None and (chunk := stream.read(_CHUNK)):
            h.update(chunk)
            size += len(chunk)
    return f"sha256:{h.hexdigest()}", size


class _Verification:
    def __init__(
        self,
        archive: tarfile.TarFile,
        report: Report,
        trust: bytes | None,
        path: Path,
        hash_workers: int,
    ) -> None:
        self.archive = archive
        self.path = path
        self.hash_workers = hash_workers
        self.report = report
        self.trust = trust
        self.members = {m.name: m for m in archive.getmembers() if m.isfile()}
        self.blocks: dict[int, BlockView] = {}
        self.transactions: dict[str, TransactionView] = {}
        self.position: dict[str, tuple[int, int]] = {}
        self._written: dict[str, dict[str, AccessRecord]] = {}
        self.config_number = 0
        self.genesis_hash: Digest | None = None  # the config block's, when it is block 0
        self.earlier_config: set[str] = set()  # transactions under an older config

    # --- reading members ---------------------------------------------------------------------

    def _read(self, name: str) -> bytes | None:
        member = self.members.get(name)
        if member is None:
            self.report.fail("MEMBER_MISSING", name, "not in the archive")
            return None
        if member.size > MAX_MEMBER_READ:
            # Evidence files are streamed; these are parsed whole, so a forged size stops here.
            self.report.fail(
                "MEMBER_TOO_LARGE", name, f"{member.size} bytes; at most {MAX_MEMBER_READ}"
            )
            return None
        stream = self.archive.extractfile(member)
        return stream.read() if stream is not None else b""

    # --- the checks --------------------------------------------------------------------------

    def run(self) -> None:
        # Hashing every file (most of the work, in hashlib, which releases the GIL) starts at
        # once, in ``hash_workers`` threads beside the manifest and proof checks (protobuf
        # parsing, ECDSA), which take far less.
        with ThreadPoolExecutor(max_workers=self.hash_workers) as pool:
            shares = [
                pool.submit(_hash_members, self.path, share)
                for share in hash_shares(list(self.members.values()), self.hash_workers)
            ]
            raw = self._read(layout.MANIFEST)
            sig = self._read(layout.SIGNATURE)
            signer_pem = self._read(layout.SIGNER)
            if raw is None:
                return
            try:
                manifest = Manifest.from_json(raw)
            except ValidationError as exc:
                self.report.fail("MANIFEST_MALFORMED", layout.MANIFEST, str(exc.errors()[:1]))
                return
            try:
                self._proofs(manifest, raw, sig, signer_pem)
            finally:
                self._members(manifest, {k: v for s in shares for k, v in s.result().items()})

    def _proofs(
        self, manifest: Manifest, raw: bytes, sig: bytes | None, signer_pem: bytes | None
    ) -> None:
        trust = self._config(manifest)
        if trust is None:
            return
        self._signature(manifest, raw, sig, signer_pem, trust)
        self._blocks(manifest, trust)
        self._transactions(manifest, trust)
        self._items(manifest, trust)
        self._trail_and_export(manifest)
        self._case(manifest)
        self._steps(manifest)
        self._served_and_set_aside(manifest)
        self._loop(manifest)
        if signer_pem is not None:
            self._signer_standing(manifest, Identity(manifest.exporter_org, signer_pem), trust)

    def _members(self, manifest: Manifest, hashed: dict[str, tuple[str, int]]) -> None:
        listed = {m.path for m in manifest.members()}
        fixed = {layout.MANIFEST, layout.SIGNATURE, layout.SIGNER}
        for name in sorted(set(self.members) - listed - fixed):
            self.report.fail("UNLISTED_MEMBER", name, "in the archive but not in the manifest")
        sizes = {i.path: i.size for i in manifest.items}
        for member in manifest.members():
            got = hashed.get(member.path)
            if got is None:
                self.report.fail("MEMBER_MISSING", member.path, "listed but not in the archive")
                continue
            self.report.count("members")
            digest, size = got
            if digest != member.sha256:
                code = "FILE_HASH_MISMATCH" if member.path in sizes else "PROOF_HASH_MISMATCH"
                self.report.fail(code, member.path, f"hashes to {digest}, manifest {member.sha256}")
            elif member.path in sizes and size != sizes[member.path]:
                self.report.fail("FILE_SIZE_MISMATCH", member.path, f"{size} bytes in the archive")

    def _config(self, manifest: Manifest) -> ChannelTrust | None:
        raw = self._read(manifest.config_block.path)
        if raw is None:
            return None
        try:
            block = BlockView.from_bytes(raw)
            trust = ChannelTrust.from_config_block(block)
        except MalformedLedgerData as exc:
            self.report.fail("CONFIG_MALFORMED", manifest.config_block.path, str(exc))
            return None
        self.config_number = block.number
        # The orderers signed the header, which holds the data hash: only that hash ties
        # the config (its roots, revocation lists, orderer MSPs) to their signatures.
        for problem in verify_chain([block]):
            self.report.fail(problem.code, manifest.config_block.path, problem.message)
        if block.number == 0:
            # The genesis block is the channel's founding document: no orderer signs it.
            self.report.notes.append(
                "the config block is the unsigned genesis block, anchored by block 1"
            )
            self.genesis_hash = block.header_hash()
        else:
            self._orderer_signatures(block, trust)
        if trust.channel != manifest.channel:
            self.report.fail(
                "CHANNEL_MISMATCH",
                manifest.config_block.path,
                f"config of channel {trust.channel!r}, the manifest names {manifest.channel!r}",
            )
        if self.trust is None:
            self.report.notes.append(
                "no --trust roots: the MSP roots are those of the package's own config block"
            )
        elif is_anchors(self.trust):
            self._anchored(trust, self.trust)
        else:
            self.report.notes.append(
                "--trust roots pinned as a PEM bundle: which MSPs order the channel is the "
                "package's own claim; pin trust anchors (evnet trust-anchors) to pin it too"
            )
            pinned = load_certs(self.trust)
            for msp, root in trust.all_roots():
                if root not in pinned:
                    self.report.fail("CONFIG_NOT_TRUSTED", msp, "a root not among --trust roots")
        self.report.count("config blocks")
        return trust

    def _anchored(self, trust: ChannelTrust, raw: bytes) -> None:
        """The config names the anchored channel, ordering MSPs, and each MSP with roots
        anchored for that MSP id."""
        try:
            anchors = TrustAnchors.parse(raw)
        except TrustAnchorsMalformed as exc:
            self.report.fail("TRUST_MALFORMED", "--trust", str(exc))
            return
        if trust.channel != anchors.channel:
            self.report.fail(
                "CONFIG_NOT_TRUSTED",
                f"channel {trust.channel}",
                f"the anchors are for channel {anchors.channel}",
            )
        if trust.orderer_msps != set(anchors.orderer_msps):
            self.report.fail(
                "CONFIG_NOT_TRUSTED",
                "orderer MSPs",
                f"the config names {', '.join(sorted(trust.orderer_msps)) or 'none'}; "
                f"anchored: {', '.join(anchors.orderer_msps)}",
            )
        for msp_id, msp in sorted(trust.msps.items()):
            pinned = anchors.certificates(msp_id)
            if not pinned:
                self.report.fail("CONFIG_NOT_TRUSTED", msp_id, "an MSP the anchors do not name")
                continue
            if any(root not in pinned for root in msp.roots):
                self.report.fail("CONFIG_NOT_TRUSTED", msp_id, "a root not anchored for it")

    def _signature(
        self,
        manifest: Manifest,
        raw: bytes,
        sig: bytes | None,
        pem: bytes | None,
        trust: ChannelTrust,
    ) -> None:
        if sig is None or pem is None:
            return
        signer = Identity(manifest.exporter_org, pem)
        if not trust.chains(signer):
            self.report.fail(
                "MANIFEST_SIGNER_UNTRUSTED",
                layout.SIGNER,
                f"does not chain to a root of {manifest.exporter_org}",
            )
        if raw != manifest.canonical_bytes():
            self.report.fail("MANIFEST_NOT_CANONICAL", layout.MANIFEST, "not canonical JSON")
        if not signed_by(signer, raw, sig):
            self.report.fail("MANIFEST_SIGNATURE_INVALID", layout.SIGNATURE, "does not verify")
        self.report.count("manifest signatures")

    def _signer_standing(self, manifest: Manifest, signer: Identity, trust: ChannelTrust) -> None:
        """The exporter's certificate was valid, and not revoked, when the export was
        recorded (the latest of its transactions): the manifest is signed right after."""
        times = [
            tx.timestamp
            for r in manifest.export_records
            if (tx := self.transactions.get(record_tx_id(r))) is not None
            and tx.timestamp is not None
        ]
        if not times:
            return  # EXPORT_NOT_RECORDED says why
        problem = trust.standing(signer, max(times))
        if problem is not None:
            self.report.fail(problem[0], layout.SIGNER, f"exporter: {problem[1]}")

    def _orderer_signatures(self, block: BlockView, trust: ChannelTrust) -> None:
        subject = f"block {block.number}"
        if not block.signatures:
            self.report.fail("ORDERER_SIGNATURE_MISSING", subject, "no orderer signature")
        for s in block.signatures:
            ok = (
                s.signer is not None
                and s.signer.msp_id in trust.orderer_msps
                and trust.chains(s.signer)
                and signed_by(s.signer, s.signed_bytes, s.signature)
            )
            if not ok:
                self.report.fail("ORDERER_SIGNATURE_INVALID", subject, "signature does not verify")
            elif (
                s.signer is not None
                and (problem := trust.standing_after(s.signer, block.latest_time())) is not None
            ):
                self.report.fail(problem[0], subject, f"orderer: {problem[1]}")
            self.report.count("orderer signatures")

    def _blocks(self, manifest: Manifest, trust: ChannelTrust) -> None:
        for member in manifest.blocks:
            raw = self._read(member.path)
            if raw is None:
                continue
            try:
                block = BlockView.from_bytes(raw)
            except MalformedLedgerData as exc:
                self.report.fail("BLOCK_MALFORMED", member.path, str(exc))
                continue
            if member.path != layout.block_path(block.number):
                self.report.fail("BLOCK_NUMBER_MISMATCH", member.path, f"is block {block.number}")
            if block.last_config_index > self.config_number:
                self.report.fail(
                    "CONFIG_BLOCK_STALE",
                    f"block {block.number}",
                    f"names config block {block.last_config_index}",
                )
            self._orderer_signatures(block, trust)
            self.blocks[block.number] = block
            # Only the ids here (headers); a transaction is parsed whole once, as a member.
            for i, tx_id in enumerate(block.tx_ids()):
                if tx_id is not None:
                    self.position.setdefault(tx_id, (block.number, i))
            self.report.count("blocks")
        ordered = [self.blocks[n] for n in sorted(self.blocks)]
        runs: list[list[BlockView]] = []
        for b in ordered:
            if runs and runs[-1][-1].number + 1 == b.number:
                runs[-1].append(b)
            else:
                runs.append([b])
        for run in runs:
            for problem in verify_chain(run):
                self.report.fail(problem.code, f"block {problem.block_number}", problem.message)
        if self.genesis_hash is not None:
            self._genesis_anchored(manifest, self.genesis_hash)

    def _genesis_anchored(self, manifest: Manifest, genesis_hash: Digest) -> None:
        """Nobody signs the genesis block: an unsigned config is tied to the orderers'
        signatures only by block 1, which names its header hash."""
        subject = manifest.config_block.path
        first = self.blocks.get(1)
        if first is None:
            self.report.fail(
                "CONFIG_NOT_ANCHORED",
                subject,
                "the unsigned genesis config, without block 1 (signed, naming its hash)",
            )
        elif first.previous_hash != genesis_hash:
            self.report.fail("CONFIG_NOT_ANCHORED", subject, "block 1 follows another block 0")

    def _transactions(self, manifest: Manifest, trust: ChannelTrust) -> None:
        for member in manifest.transactions:
            raw = self._read(member.path)
            if raw is None:
                continue
            try:
                tx = TransactionView.from_processed_transaction(raw)
            except MalformedLedgerData as exc:
                self.report.fail("TRANSACTION_MALFORMED", member.path, str(exc))
                continue
            subject = f"tx {tx.tx_id}"
            if member.path != layout.transaction_path(tx.tx_id):
                self.report.fail("TRANSACTION_ID_MISMATCH", member.path, f"holds {subject}")
            if tx.channel != manifest.channel:
                self.report.fail("CHANNEL_MISMATCH", subject, f"of channel {tx.channel!r}")
            where = self.position.get(tx.tx_id)
            in_block = None
            if where is not None:
                try:
                    in_block = self.blocks[where[0]].signed_payload_at(where[1])
                except MalformedLedgerData:
                    in_block = None
            if in_block != (tx.payload, tx.signature, tx.validation_code):
                self.report.fail(
                    "TRANSACTION_NOT_IN_BLOCK", subject, "no included block holds these bytes"
                )
            self._transaction_signatures(tx, trust)
            self.transactions[tx.tx_id] = tx
            self.report.count("transactions")
        if self.earlier_config:
            self.report.notes.append(
                f"{len(self.earlier_config)} transaction(s) committed under a config older "
                "than the package's: their endorsement policy was not evaluated"
            )

    def _transaction_signatures(self, tx: TransactionView, trust: ChannelTrust) -> None:
        subject = f"tx {tx.tx_id}"
        if tx.creator is None or not trust.chains(tx.creator):
            self.report.fail("CREATOR_UNTRUSTED", subject, "creator does not chain to its MSP")
        elif not signed_by(tx.creator, tx.payload, tx.signature):
            self.report.fail("CREATOR_SIGNATURE_INVALID", subject, "creator signature fails")
        else:
            self._standing(tx.creator, tx, trust, "creator")
        if not tx.endorsements:
            self.report.fail("ENDORSEMENT_MISSING", subject, "no endorsement")
        endorsers: list[Identity] = []
        for e in tx.endorsements:
            if not trust.chains(e.endorser):
                self.report.fail("ENDORSER_UNTRUSTED", subject, f"{e.endorser.msp_id} endorser")
            elif not signed_by(e.endorser, e.signed_bytes, e.signature):
                self.report.fail(
                    "ENDORSEMENT_SIGNATURE_INVALID", subject, f"{e.endorser.msp_id} endorsement"
                )
            else:
                self._standing(e.endorser, tx, trust, "endorser")
                endorsers.append(e.endorser)
            self.report.count("endorsements")
        if tx.chaincode == CHAINCODE:
            self._endorsement_policy(tx, endorsers, trust)

    def _endorsement_policy(
        self, tx: TransactionView, endorsers: list[Identity], trust: ChannelTrust
    ) -> None:
        """The valid endorsements satisfy the channel's endorsement policy (the evidence
        chaincode has none of its own): ``VALID`` is the peer's unsigned verdict, so a
        transaction the peers rejected for its endorsements could otherwise pass for one."""
        where = self.position.get(tx.tx_id)
        if where is None or trust.endorsement is None:
            return  # TRANSACTION_NOT_IN_BLOCK / CONFIG_MALFORMED say why
        if self.blocks[where[0]].last_config_index != self.config_number:
            # Committed under an earlier config, which this package does not carry (this
            # consortium's tooling never updates the channel config; docs/PACKAGE.md).
            self.earlier_config.add(tx.tx_id)
            return
        if not trust.endorsement.satisfied_by(endorsers):
            orgs = ", ".join(sorted({e.msp_id for e in endorsers})) or "none"
            self.report.fail(
                "ENDORSEMENT_POLICY_NOT_MET",
                f"tx {tx.tx_id}",
                f"needs {trust.endorsement.describe()}; valid endorsements from {orgs}",
            )

    def _standing(
        self, signer: Identity, tx: TransactionView, trust: ChannelTrust, who: str
    ) -> None:
        """The signer's certificate was valid, and not revoked, when the transaction was
        made (its channel header's time)."""
        problem = trust.standing(signer, tx.timestamp)
        if problem is not None:
            code, detail = problem
            self.report.fail(code, f"tx {tx.tx_id}", f"{who}: {detail}")

    def _access_records(self, tx: TransactionView) -> dict[str, AccessRecord]:
        """The access records ``tx`` wrote, by id, parsed once per transaction (an export's
        batch writes a hundred, each proven against it)."""
        written = self._written.get(tx.tx_id)
        if written is None:
            written = _access_records(tx)
            self._written[tx.tx_id] = written
        return written

    def _valid_tx(self, tx_id: str, subject: str) -> TransactionView | None:
        tx = self.transactions.get(tx_id)
        if tx is None:
            self.report.fail("TRANSACTION_MISSING", subject, f"tx {tx_id} not in the proofs")
            return None
        if tx.validation_code != "VALID":
            self.report.fail("TRANSACTION_NOT_VALID", subject, f"tx {tx_id}: {tx.validation_code}")
            return None
        return tx

    def _items(self, manifest: Manifest, trust: ChannelTrust) -> None:
        for item in manifest.items:
            if item.path != layout.evidence_path(item.evidence_id):
                self.report.fail("ITEM_PATH_MISMATCH", item.evidence_id, item.path)
            tx = self._valid_tx(item.registered_tx, item.evidence_id)
            if tx is None:
                continue
            record = _evidence_record(tx, item.evidence_id)
            if record is None:
                self.report.fail(
                    "REGISTRATION_NOT_FOUND",
                    item.evidence_id,
                    f"tx {tx.tx_id} writes no record of this item",
                )
                continue
            if record.plaintext_hash != item.sha256 or record.size != item.size:
                self.report.fail(
                    "FILE_NOT_ON_LEDGER",
                    item.evidence_id,
                    f"ledger registered {record.plaintext_hash} ({record.size} bytes)",
                )
            if record.owner_org != item.owner_org or record.media_type != item.media_type:
                self.report.fail("ITEM_FIELDS_MISMATCH", item.evidence_id, "owner or media type")
            if item.derivation is not None and item.claims is not None:
                # One provenance is bound by the ledger's claims_hash; the other would ride
                # along unchecked in a signed manifest.
                self.report.fail(
                    "PROVENANCE_AMBIGUOUS", item.evidence_id, "both device claims and a derivation"
                )
            elif item.derivation is not None:
                self._derivation(item, record, manifest)
            else:
                self._claims(item, record, trust, tx.timestamp)
                self._case_document(item, manifest, tx)
            self.report.count("items")

    def _derivation(self, item: Item, record: EvidenceRecord, manifest: Manifest) -> None:
        """A redacted copy: its description is what the ledger registered as its claims, and
        it names an original whose bytes, if packaged, are the ones it was made from."""
        assert item.derivation is not None  # (the caller's branch)
        canonical = canonical_json(item.derivation)
        if f"sha256:{hashlib.sha256(canonical).hexdigest()}" != record.claims_hash:
            self.report.fail(
                "DERIVATION_HASH_MISMATCH", item.evidence_id, "description differs from ledger"
            )
            return
        try:
            described = DerivationDescription.model_validate(item.derivation)
        except ValidationError as exc:
            self.report.fail("DERIVATION_MALFORMED", item.evidence_id, str(exc)[:200])
            return
        original = next((i for i in manifest.items if i.evidence_id == described.original_id), None)
        if original is None:
            self.report.notes.append(
                f"{item.evidence_id} is a redacted copy of {described.original_id}, "
                "which is not in this package"
            )
        elif original.sha256 != str(described.original_plaintext_hash):
            self.report.fail(
                "DERIVATION_ORIGINAL_MISMATCH",
                item.evidence_id,
                f"made from other bytes than {described.original_id}",
            )
        self._derivation_link(item, record, described)
        self.report.count("redacted copies")

    def _derivation_link(
        self, item: Item, record: EvidenceRecord, described: DerivationDescription
    ) -> None:
        """The ledger linked this copy to the original its description names, under that
        description, in a VALID transaction the package proves."""
        subject = item.evidence_id
        if item.derivation_tx is None:
            self.report.fail("DERIVATION_NOT_RECORDED", subject, "no RecordDerivation named")
            return
        tx = self._valid_tx(item.derivation_tx, f"derivation of {subject}")
        if tx is None:
            return
        link = _derivation_record(tx, subject)
        if (
            link is None
            or link.original_id != described.original_id
            or link.description_hash != record.claims_hash
            or link.owner_org != record.owner_org
        ):
            self.report.fail(
                "DERIVATION_NOT_RECORDED",
                subject,
                f"tx {tx.tx_id} does not link it to {described.original_id}",
            )

    def _steps(self, manifest: Manifest) -> None:
        """The case's legal steps, each proven by the VALID transaction that wrote its stage
        entry: a /2 package proves every one up to the case as exported (STEP_NOT_PROVEN
        otherwise); each case document is the one its step bound (DOCUMENT_NOT_FILED)."""
        try:
            case = CaseRecord.model_validate(manifest.case)
        except ValidationError:
            return  # CASE_MALFORMED is reported
        prefix = stage_entry_keys(case.case_id)
        proven: dict[int, StageEntry] = {}
        for key, entry, tx in self._entries_under(prefix, StageEntry, "STEP_MALFORMED"):
            if (
                entry.case_id != case.case_id
                or key != f"{prefix}{entry.seq:06d}\x00"
                or entry.tx != tx.tx_id
            ):
                self.report.fail("STEP_MALFORMED", f"tx {tx.tx_id}", "not its own entry")
                continue
            proven[entry.seq] = entry
        documents = {
            i.claims.claims.get("step"): i
            for i in manifest.items
            if i.claims is not None and i.claims.claims.get("kind") == "case_document"
        }
        missing = [n for n in range(1, case.stage_changes + 1) if n not in proven]
        if missing and manifest.format == "evidencenet-package/1":
            self.report.notes.append(
                f"a package of format /1 (built before packages proved their case's steps): "
                f"{case.stage_changes - len(missing)} of the case's {case.stage_changes} "
                "steps are proven"
            )
        else:
            for n in missing:
                self.report.fail("STEP_NOT_PROVEN", f"case {case.case_id}", f"step {n}")
        for seq in sorted(n for n in proven if n <= case.stage_changes):
            entry = proven[seq]
            item = documents.get(seq)
            if item is not None and entry.details.get("document_hash") != item.sha256:
                self.report.fail(
                    "DOCUMENT_NOT_FILED",
                    item.evidence_id,
                    f"step {seq} bound {entry.details.get('document_hash')}, not this file",
                )
                item = None
            self.report.steps.append(ProvenStep(entry, item.evidence_id if item else None))
            self.report.count("case steps")

    def _served_and_set_aside(self, manifest: Manifest) -> None:
        """What became of the case's documents: each service on the party and each decision
        set aside, proven by the VALID transaction that wrote its record, as many as the
        case counts (SERVICE_NOT_PROVEN, SET_ASIDE_NOT_PROVEN), each of a step the package
        proves and of the document that step bound (SERVICE_MALFORMED, SET_ASIDE_MALFORMED).
        """
        try:
            case = CaseRecord.model_validate(manifest.case)
        except ValidationError:
            return  # CASE_MALFORMED is reported
        steps = {s.entry.tx: s.entry for s in self.report.steps}

        def serves_a_proven_document(r: ServiceRecord) -> str | None:
            step = steps.get(r.step_tx)
            if step is None or (step.seq, step.to_stage) != (r.step_seq, r.stage):
                return f"serves step {r.step_seq} ({r.step_tx}), not a step proven here"
            if step.details.get("document_hash") != str(r.document_hash):
                return f"served {r.document_hash}, not the document step {step.seq} bound"
            return None

        def sets_aside_a_proven_decision(r: SetAsideRecord) -> str | None:
            decision = steps.get(r.decision_tx)
            if decision is None or decision.to_stage not in DECIDING_STAGES:
                return f"sets aside {r.decision_tx}, not a decision proven here"
            return None

        self.report.services = self._records_under(
            case.case_id,
            service_keys(case.case_id),
            ServiceRecord,
            "SERVICE_MALFORMED",
            lambda r: f"{r.step_seq:06d}\x00{r.recorded_tx}\x00",
            serves_a_proven_document,
        )
        self.report.set_asides = self._records_under(
            case.case_id,
            set_aside_keys(case.case_id),
            SetAsideRecord,
            "SET_ASIDE_MALFORMED",
            lambda r: f"{r.decision_tx}\x00",
            sets_aside_a_proven_decision,
        )
        self.report.services.sort(key=lambda r: (r.step_seq, r.recorded_at, r.recorded_tx))
        self.report.set_asides.sort(key=lambda r: (r.decided_at, r.decision_tx))
        if self.report.services:
            self.report.count("documents served", len(self.report.services))
        if self.report.set_asides:
            self.report.count("decisions set aside", len(self.report.set_asides))
        before = ("evidencenet-package/1", "evidencenet-package/2", "evidencenet-package/3")
        for what, proven, counted, code in (
            ("documents served on the party", self.report.services, case.services, "SERVICE"),
            ("decisions set aside", self.report.set_asides, case.set_asides, "SET_ASIDE"),
        ):
            if len(proven) >= counted:
                continue
            said = f"{len(proven)} of the case's {counted} {what} are proven"
            if manifest.format not in before:
                self.report.fail(f"{code}_NOT_PROVEN", f"case {case.case_id}", said)
            else:
                self.report.notes.append(
                    f"a package of format {manifest.format.rpartition('/')[2]} (built before "
                    f"packages proved services and set-asides): {said}"
                )

    def _records_under(
        self,
        case_id: str,
        prefix: str,
        model: type[R],
        malformed: str,
        key_of: Callable[[R], str],
        problem_of: Callable[[R], str | None],
    ) -> list[R]:
        """Every record a VALID transaction of the package wrote under the key ``prefix``
        of case ``case_id``: of that case, under its own key (``prefix`` + ``key_of``) and
        written by the transaction it names, with no ``problem_of``; ``malformed`` for any
        other."""
        found: list[R] = []
        for key, record, tx in self._entries_under(prefix, model, malformed):
            if (
                record.case_id != case_id
                or key != prefix + key_of(record)
                or record.recorded_tx != tx.tx_id
            ):
                self.report.fail(malformed, f"tx {tx.tx_id}", "not its own record")
            elif (problem := problem_of(record)) is not None:
                self.report.fail(malformed, f"tx {tx.tx_id}", problem)
            else:
                found.append(record)
        return found

    def _entries_under(
        self, prefix: str, model: type[M], malformed: str
    ) -> Iterator[tuple[str, M, TransactionView]]:
        """Every entry a VALID transaction of the package wrote under the key ``prefix``, as
        ``model`` (``malformed`` for a value that is not one)."""
        for tx in self.transactions.values():
            if tx.validation_code != "VALID":
                continue
            for write in tx.writes(CHAINCODE):
                if write.is_delete or not write.key.startswith(prefix):
                    continue
                try:
                    entry = model.model_validate_json(write.value)
                except ValidationError as exc:
                    self.report.fail(malformed, f"tx {tx.tx_id}", str(exc)[:200])
                    continue
                yield write.key, entry, tx

    def _loop(self, manifest: Manifest) -> None:
        """A case opened from an AI flag: the flag's co-governance loop, each step proven by
        the VALID transaction that wrote its history entry, from the detection (step 0) to
        the step that opened this case (FLAG_STEP_NOT_PROVEN, FLAG_STEP_MALFORMED). Those
        between are the review and the reminders before enforcement."""
        try:
            case = CaseRecord.model_validate(manifest.case)
        except ValidationError:
            return  # CASE_MALFORMED is reported
        flag = case.flag_id
        if flag is None:
            return
        prefix = violation_entry_keys(flag)
        proven: dict[int, ViolationEntry] = {}
        for key, entry, tx in self._entries_under(prefix, ViolationEntry, "FLAG_STEP_MALFORMED"):
            if (
                entry.flag_id != flag
                or key != f"{prefix}{entry.seq:06d}\x00"
                or entry.tx_id != tx.tx_id
            ):
                self.report.fail("FLAG_STEP_MALFORMED", f"tx {tx.tx_id}", "not its own entry")
                continue
            proven[entry.seq] = entry
        opening = [e for e in proven.values() if e.to_status is ViolationStatus.CASE_FILED]
        if not opening and manifest.format in ("evidencenet-package/1", "evidencenet-package/2"):
            self.report.notes.append(
                f"a package of format {manifest.format.rpartition('/')[2]} (built before "
                f"packages proved a flag's loop): the loop of flag {flag} is not proven"
            )
            return
        if not opening:
            self.report.fail(
                "FLAG_STEP_NOT_PROVEN", f"flag {flag}", "the step that opened this case"
            )
            return
        last = opening[0]
        if last.case_id != case.case_id:
            self.report.fail(
                "FLAG_STEP_MALFORMED",
                f"flag {flag}",
                f"its step {last.seq} opened case {last.case_id}, not {case.case_id}",
            )
        for n in range(last.seq):
            if n not in proven:
                self.report.fail("FLAG_STEP_NOT_PROVEN", f"flag {flag}", f"step {n}")
        self.report.loop = [proven[n] for n in sorted(proven) if n <= last.seq]
        self.report.count("flag steps", len(self.report.loop))

    def _case_document(self, item: Item, manifest: Manifest, tx: TransactionView) -> None:
        """A step's legal document: filed into this package's case by ``FileDocument``, the
        transaction in which the chaincode checked it against the hash that step recorded.
        Registered any other way, claims that call it a case document prove nothing."""
        claims = item.claims.claims if item.claims is not None else {}
        if claims.get("kind") != "case_document":
            return
        case_id = manifest.case.get("case_id")
        if claims.get("case_id") != case_id or _filing_of(tx) != (case_id, claims.get("step")):
            self.report.fail(
                "DOCUMENT_NOT_FILED",
                item.evidence_id,
                f"claims a document of case {claims.get('case_id')!r} step {claims.get('step')}, "
                f"but tx {tx.tx_id} ({tx.function or 'no function'}) did not file it as that "
                f"step's document of case {case_id!r}",
            )
            return
        self.report.count("case documents")
        self.report.notes.append(
            f"{item.evidence_id} is the document of step {claims.get('step')} "
            f"({claims.get('stage')}) of case {case_id}, filed by {claims.get('device_id')}"
        )

    def _claims(
        self,
        item: Item,
        record: EvidenceRecord,
        trust: ChannelTrust,
        registered_at: dt.datetime | None,
    ) -> None:
        if item.claims is None:
            self.report.fail("CLAIMS_MISSING", item.evidence_id, "no device-signed claims")
            return
        canonical = canonical_json(item.claims.claims)
        if f"sha256:{hashlib.sha256(canonical).hexdigest()}" != record.claims_hash:
            self.report.fail("CLAIMS_HASH_MISMATCH", item.evidence_id, "claims differ from ledger")
        device = Identity(record.owner_org, item.claims.certificate.encode())
        if not trust.chains(device):
            self.report.fail(
                "CLAIMS_SIGNER_UNTRUSTED", item.evidence_id, f"device not of {record.owner_org}"
            )
        try:
            signature = base64.b64decode(item.claims.signature, validate=True)
        except ValueError:
            signature = b""
        if not signed_by(device, canonical, signature):
            self.report.fail("CLAIMS_SIGNATURE_INVALID", item.evidence_id, "does not verify")
        elif (problem := trust.standing(device, registered_at)) is not None:
            # At registration: the node checked the device's signature then, at ingest.
            self.report.fail(problem[0], item.evidence_id, f"device: {problem[1]}")

    def _trail_and_export(self, manifest: Manifest) -> None:
        raw = self._read(manifest.trail.path)
        try:
            trail = [AccessRecord.model_validate(r) for r in json.loads(raw or b"[]")]
        except (ValueError, TypeError) as exc:
            self.report.fail("TRAIL_MALFORMED", manifest.trail.path, str(exc)[:200])
            trail = []
        proven: dict[str, AccessRecord] = {}
        for record in trail:
            tx = self._valid_tx(record_tx_id(record.record_id), f"access {record.record_id}")
            if tx is None:
                continue
            on_ledger = self._access_records(tx).get(record.record_id)
            if on_ledger != record:
                self.report.fail(
                    "TRAIL_RECORD_UNPROVEN", f"access {record.record_id}", "not what the tx wrote"
                )
                continue
            proven[record.record_id] = record
            self.report.count("trail records")
        items = {i.evidence_id for i in manifest.items}
        exported: set[str] = set()
        for record_id in manifest.export_records:
            export = proven.get(record_id)
            subject = f"export {record_id}"
            if export is None:
                self.report.fail("EXPORT_NOT_RECORDED", subject, "no proven access record")
                continue
            if export.target_id not in items:
                # The export covered an item the manifest no longer lists.
                self.report.fail("ITEM_DROPPED", export.target_id, f"exported by {record_id}")
                continue
            if (
                export.kind is not AccessKind.PACKAGE
                or export.outcome is not Outcome.GRANTED
                or export.accessor_org != manifest.exporter_org
                or export.target_id not in items
            ):
                self.report.fail(
                    "EXPORT_RECORD_INVALID",
                    subject,
                    f"{export.kind} {export.outcome} by {export.accessor_org} for "
                    f"{export.target_id}",
                )
                continue
            exported.add(export.target_id)
        for missing in sorted(items - exported):
            self.report.fail("EXPORT_NOT_RECORDED", missing, "no package access for this item")
        exports = [
            self.position[record_tx_id(r)]
            for r in manifest.export_records
            if record_tx_id(r) in self.position
        ]
        if exports:
            # The export is recorded first, then the trail is read: nothing the package
            # proves can be newer than its own export records.
            latest = max(exports)
            for record_id in sorted(proven):
                # A transaction no included block holds has no position (and its failure,
                # TRANSACTION_NOT_IN_BLOCK, is already reported).
                at = self.position.get(record_tx_id(record_id))
                if record_id not in manifest.export_records and at is not None and at > latest:
                    self.report.fail(
                        "EXPORT_REPLAYED",
                        f"access {record_id}",
                        "recorded after the package's export records: an older export reused",
                    )

    def _case(self, manifest: Manifest) -> None:
        """The manifest's case is the ledger's, as the export found it, and holds every item.

        Deciding an item's export reads the cases it is attached to, at the version of each
        case's last write (block, index), still current when the VALID export committed; the
        transaction at the latest version read must be in the proofs and have written exactly
        the manifest's case. Each export record names the cases its item was in.
        """
        try:
            case = CaseRecord.model_validate(manifest.case)
        except ValidationError as exc:
            self.report.fail("CASE_MALFORMED", "case", str(exc.errors()[:1])[:200])
            return
        subject, key = f"case {case.case_id}", case_state_key(case.case_id)
        items = {i.evidence_id for i in manifest.items}
        versions: list[tuple[int, int]] = []
        for tx_id in dict.fromkeys(record_tx_id(r) for r in manifest.export_records):
            tx = self.transactions.get(tx_id)
            if tx is None or tx.validation_code != "VALID":
                continue  # EXPORT_NOT_RECORDED and the proof checks name it
            versions += [r.version for r in tx.reads(CHAINCODE) if r.key == key and r.version]
            for record in self._access_records(tx).values():
                if record.target_id in items and case.case_id not in record.case_ids:
                    where = ", ".join(record.case_ids) or "no case"
                    self.report.fail(
                        "ITEM_NOT_IN_CASE", record.target_id, f"the export found it in {where}"
                    )
        if not versions:
            self.report.fail("CASE_NOT_PROVEN", subject, "no export transaction read this case")
            return
        number, index = max(versions)
        block = self.blocks.get(number)
        ids = block.tx_ids() if block is not None else ()
        if index >= len(ids) or ids[index] is None:
            self.report.fail(
                "CASE_NOT_PROVEN", subject, f"block {number}, which wrote it, is not in the package"
            )
            return
        writer = self._valid_tx(str(ids[index]), subject)
        if writer is None:
            return
        written = next(
            (w for w in writer.writes(CHAINCODE) if w.key == key and not w.is_delete), None
        )
        try:
            on_ledger = CaseRecord.model_validate_json(written.value) if written else None
        except ValidationError:
            on_ledger = None
        if on_ledger is None:
            self.report.fail("CASE_NOT_PROVEN", subject, f"tx {writer.tx_id} wrote no case")
        elif on_ledger != case:
            differ = sorted(
                k for k in CaseRecord.model_fields if getattr(on_ledger, k) != getattr(case, k)
            )
            self.report.fail(
                "CASE_MISMATCH", subject, f"differs from the ledger's in {', '.join(differ)}"
            )
        else:
            self.report.count("case")


def _evidence_record(tx: TransactionView, evidence_id: str) -> EvidenceRecord | None:
    return next((r for r in _written(tx, EvidenceRecord) if r.evidence_id == evidence_id), None)


def _derivation_record(tx: TransactionView, derived_id: str) -> DerivationRecord | None:
    return next(
        (
            link
            for link in _written(tx, DerivationRecord)
            if link.derived_id == derived_id and link.recorded_tx == tx.tx_id
        ),
        None,
    )


def _access_records(tx: TransactionView) -> dict[str, AccessRecord]:
    """The access records ``tx`` wrote that name it as theirs (a record's id is its
    transaction's id, or ``<tx id>.<nn>`` in a package batch)."""
    return {
        r.record_id: r for r in _written(tx, AccessRecord) if record_tx_id(r.record_id) == tx.tx_id
    }


def _written(tx: TransactionView, kind: type[M]) -> Iterator[M]:
    """The values ``tx`` wrote in the chaincode's namespace that parse as ``kind`` (a
    transaction writes index keys and other records beside them)."""
    for write in tx.writes(CHAINCODE):
        if write.is_delete:
            continue
        try:
            yield kind.model_validate_json(write.value)
        except ValueError:
            continue


def _filing_of(tx: TransactionView) -> tuple[object, object] | None:
    """(case id, step) of a ``FileDocument`` invocation, as the chaincode received them."""
    if tx.function != "FileDocument" or len(tx.args) != 2:
        return None
    try:
        filing = json.loads(tx.args[1])
    except ValueError:
        return None
    return (filing.get("case_id"), filing.get("step")) if isinstance(filing, dict) else None
