"""No plaintext leaves a node without a committed access record: the exchange between two
departments' nodes, with access records on the real ledger."""

from __future__ import annotations

import base64
import datetime as dt
import io
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from netsupport import caught_up, ledger_as

from node.consortium.network import Network
from node.crypto.key_wrap import EncryptionPrivateKey, KeyRing
from node.evidence_sealing import seal_to_store
from node.exchange import ExchangeServer, ReleaseRefused, fetch
from node.exchange.ledger_items import LedgerOwnerItems
from node.exchange.tls import exchange_tls
from node.fabric import CommitError, open_channel
from node.ledger import LedgerClient
from node.store import FilesystemBlobStore
from node.vault import KeyVault
from schemas.glossary import AccessKind, Outcome, ViolationType
from schemas.hashes import Digest
from schemas.ledger import AccessRequest, EvidenceRegistration, GrantRequest, TargetKind

pytestmark = pytest.mark.network

PHOTO = b"\xff\xd8 stall on the pavement " * 40_000


@dataclass
class Nodes:
    owner_ledger: LedgerClient
    partner: LedgerClient
    evidence_id: str
    plaintext: Digest
    ciphertext: Digest
    partner_keys: KeyRing
    port: int
    server_ca: bytes
    client_tls: dict[str, tuple[bytes, bytes]]  # org name -> (cert, key)
    server: ExchangeServer


@pytest.fixture
async def nodes(people: Network, tmp_path: Path) -> AsyncIterator[Nodes]:
    layout = people.layout
    # The partner department rotates to a key its node holds (bootstrap keys were throwaway).
    partner_key = EncryptionPrivateKey.generate()
    rotated = await ledger_as(layout, "PublicSecurity").publish_org_key(
        base64.b64encode(partner_key.public_key().raw).decode()
    )
    owner_key = EncryptionPrivateKey.generate()
    store = FilesystemBlobStore(tmp_path / "blobs", max_blob_bytes=1 << 30)
    vault = KeyVault(tmp_path / "keys")
    evidence_id = f"EV-{uuid.uuid4().hex[:10]}"
    sealed = seal_to_store(
        io.BytesIO(PHOTO),
        evidence_id=evidence_id,
        recipients=[owner_key.public_key()],
        store=store,
        max_bytes=1 << 30,
    )
    vault.put(evidence_id, sealed.wrapped_keys[owner_key.public_key().key_id])
    device = ledger_as(layout, "UrbanManagement", "device")
    registered = await device.register_evidence(
        EvidenceRegistration(
            evidence_id=evidence_id,
            plaintext_hash=sealed.plaintext,
            ciphertext_hash=sealed.ciphertext,
            size=sealed.plaintext_size,
            media_type="image/jpeg",
            captured_at=dt.datetime.now(dt.UTC),
            device_id="edge-07",
            camera_id="cam-12",
            violation_type=ViolationType.ROAD_OCCUPATION,
            owner_org="UrbanManagementMSP",
            locator=f"blob:{sealed.ciphertext}",
            claims_hash=Digest.of(b"claims"),
        )
    )
    owner_ledger = ledger_as(layout, "UrbanManagement", "officer")
    await caught_up(owner_ledger, max(registered.block_number, rotated.block_number))
    cas, tls = {}, {}
    for dep in layout.consortium.departments:
        cert, key, ca = exchange_tls(people.layout, dep.name)
        cas[dep.msp_id], tls[dep.name] = ca, (cert, key)
    server = ExchangeServer(
        LedgerOwnerItems(owner_ledger, vault, "UrbanManagementMSP"), store, KeyRing(owner_key), cas
    )
    port = await server.start("127.0.0.1:0", *tls["UrbanManagement"])
    partner = ledger_as(layout, "PublicSecurity", "partner")
    await caught_up(partner, registered.block_number)
    try:
        yield Nodes(
            owner_ledger,
            partner,
            evidence_id,
            sealed.plaintext,
            sealed.ciphertext,
            KeyRing(partner_key),
            port,
            cas["UrbanManagementMSP"],
            tls,
            server,
        )
    finally:
        await server.stop()


async def _fetch(n: Nodes, access_tx: str, dest: Path, as_org: str = "PublicSecurity") -> bytes:
    cert, key = n.client_tls[as_org]
    channel = open_channel(
        f"127.0.0.1:{n.port}", n.server_ca, client_cert_pem=cert, client_key_pem=key
    )
    try:
        await fetch(
            channel,
            evidence_id=n.evidence_id,
            access_tx=access_tx,
            keyring=n.partner_keys,
            ledger_plaintext=n.plaintext,
            ledger_ciphertext=n.ciphertext,
            destination=dest,
        )
    finally:
        await channel.close(None)
    return dest.read_bytes()


def _ask(n: Nodes) -> AccessRequest:
    return AccessRequest(
        target=TargetKind.EVIDENCE,
        target_id=n.evidence_id,
        purpose="joint_enforcement",
        kind=AccessKind.DOWNLOAD,
    )


async def _refused(
    n: Nodes, tx: str, tmp_path: Path, code: str, as_org: str = "PublicSecurity"
) -> None:
    dest = tmp_path / f"refused-{uuid.uuid4().hex[:6]}"
    with pytest.raises(ReleaseRefused) as info:
        await _fetch(n, tx, dest, as_org)
    assert info.value.code == code
    assert not dest.exists()


async def test_plaintext_only_against_a_committed_granted_record(
    nodes: Nodes, tmp_path: Path
) -> None:
    n = nodes
    denied = await n.partner.request_access(_ask(n))
    assert denied.value.outcome is Outcome.DENIED
    await caught_up(n.owner_ledger, denied.block_number)
    await _refused(n, denied.tx_id, tmp_path, "RECORD_DENIED")

    grant = await n.owner_ledger.grant_access(
        GrantRequest(
            target=TargetKind.EVIDENCE,
            target_id=n.evidence_id,
            grantee_org="PublicSecurityMSP",
            purpose="joint_enforcement",
            expires_at=dt.datetime.now(dt.UTC) + dt.timedelta(days=1),
        )
    )
    await caught_up(n.partner, grant.block_number)
    granted = await n.partner.request_access(_ask(n))
    assert granted.value.outcome is Outcome.GRANTED
    await caught_up(n.owner_ledger, granted.block_number)
    assert await _fetch(n, granted.tx_id, tmp_path / "photo.jpg") == PHOTO

    # Forged, other department's, invalid (never committed to state) and stale records.
    await _refused(n, "f" * 64, tmp_path, "RECORD_NOT_FOUND")
    await _refused(n, granted.tx_id, tmp_path, "WRONG_ORG", as_org="MarketSupervision")
    with pytest.raises(CommitError) as invalid:
        await n.partner.contract.submit(
            "RequestAccess", _ask(n).model_dump_json(), endorsing_orgs=["PublicSecurityMSP"]
        )
    assert invalid.value.code == "ENDORSEMENT_POLICY_FAILURE"
    await _refused(n, invalid.value.tx_id, tmp_path, "RECORD_NOT_FOUND")
    n.server._max_age = dt.timedelta(0)
    await _refused(n, granted.tx_id, tmp_path, "RECORD_EXPIRED")
