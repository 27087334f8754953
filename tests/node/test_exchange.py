"""Node-to-node release over real mutual TLS on loopback; the ledger side (access records,
org keys) is a fake at the seam. The real-network version is in tests/network."""

from __future__ import annotations

import dataclasses
import datetime as dt
import io
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import pytest

from node.crypto.key_wrap import EncryptionPrivateKey, EncryptionPublicKey, KeyRing
from node.crypto.pki import KeyPair, create_ca, issue
from node.evidence_sealing import seal_to_store
from node.exchange import ExchangeServer, ReleaseRefused, check_release, fetch
from node.exchange.client import FetchFailed, Released
from node.exchange.server import FETCH, HeldItem
from node.fabric import open_channel
from node.store import FilesystemBlobStore
from schemas.hashes import Digest
from schemas.ledger import AccessRecord, ledger_time

NOW = dt.datetime(2026, 11, 22, 10, 0, tzinfo=dt.UTC)
OWNER, PARTNER = "UrbanManagementMSP", "PublicSecurityMSP"
PLAINTEXT = b"street photo " * 50_000


def tls_ca(org: str) -> KeyPair:
    return create_ca(f"tlsca.{org.lower()}", org.lower(), NOW - dt.timedelta(days=1))


def tls_leaf(ca: KeyPair, name: str) -> KeyPair:
    return issue(ca, name, "evnet", NOW - dt.timedelta(days=1), hosts=("127.0.0.1", name), tls=True)


def record(**changes: object) -> AccessRecord:
    doc: dict[str, object] = dict(
        record_id="tx-1",
        accessor_org=PARTNER,
        accessor="CN=partner-1",
        role="partner",
        target="evidence",
        target_id="E-1",
        case_ids=[],
        purpose="joint_enforcement",
        kind="download",
        at=ledger_time(NOW - dt.timedelta(minutes=1)),
        outcome="granted",
        reason="grant",
    )
    doc.update(changes)
    return AccessRecord.model_validate(doc)


@dataclass
class FakeOwnerLedger:
    records: dict[str, AccessRecord]
    held: dict[str, HeldItem]
    keys: dict[str, EncryptionPublicKey]
    asked: list[str] = field(default_factory=list)

    async def access_record(self, tx_id: str) -> AccessRecord | None:
        self.asked.append(tx_id)
        return self.records.get(tx_id)

    async def item(self, evidence_id: str) -> HeldItem | None:
        return self.held.get(evidence_id)

    async def org_public_key(self, msp_id: str) -> EncryptionPublicKey:
        return self.keys[msp_id]


@dataclass
class World:
    ledger: FakeOwnerLedger
    partner_keys: KeyRing
    held: HeldItem
    channel: grpc.aio.Channel
    store: FilesystemBlobStore
    port: int
    server_ca: bytes


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    owner_key, partner_key = EncryptionPrivateKey.generate(), EncryptionPrivateKey.generate()
    store = FilesystemBlobStore(tmp_path / "blobs", max_blob_bytes=1 << 30)
    sealed = seal_to_store(
        io.BytesIO(PLAINTEXT),
        evidence_id="E-1",
        recipients=[owner_key.public_key()],
        store=store,
        max_bytes=1 << 30,
    )
    held = HeldItem(
        sealed.ciphertext, sealed.plaintext, sealed.wrapped_keys[owner_key.public_key().key_id]
    )
    ledger = FakeOwnerLedger(
        records={
            "tx-1": record(),
            "tx-other-org": record(accessor_org="MarketSupervisionMSP"),
            "tx-denied": record(outcome="denied", reason="no_grant"),
            "tx-old": record(at=ledger_time(NOW - dt.timedelta(hours=2))),
            "tx-other-item": record(target_id="E-2"),
            "tx-case": record(target="case", target_id="C-1"),
        },
        held={"E-1": held},
        keys={PARTNER: partner_key.public_key()},
    )
    owner_ca, partner_ca = tls_ca(OWNER), tls_ca(PARTNER)
    server = ExchangeServer(
        ledger,
        store,
        KeyRing(owner_key),
        {OWNER: owner_ca.cert_pem, PARTNER: partner_ca.cert_pem},
        clock=lambda: NOW,
    )
    server_tls = tls_leaf(owner_ca, "node.urbanmanagement")
    port = await server.start("127.0.0.1:0", server_tls.cert_pem, server_tls.key_pem)
    client_tls = tls_leaf(partner_ca, "node.publicsecurity")
    channel = open_channel(
        f"127.0.0.1:{port}",
        owner_ca.cert_pem,
        client_cert_pem=client_tls.cert_pem,
        client_key_pem=client_tls.key_pem,
    )
    try:
        yield World(ledger, KeyRing(partner_key), held, channel, store, port, owner_ca.cert_pem)
    finally:
        await channel.close(None)
        await server.stop()


async def _fetch(world: World, tmp_path: Path, tx: str, evidence_id: str = "E-1") -> bytes:
    out = tmp_path / f"out-{tx}"
    await fetch(
        world.channel,
        evidence_id=evidence_id,
        access_tx=tx,
        keyring=world.partner_keys,
        ledger_plaintext=world.held.plaintext,
        ledger_ciphertext=world.held.ciphertext,
        destination=out,
    )
    return out.read_bytes()


async def test_a_granted_recent_record_releases_the_item(world: World, tmp_path: Path) -> None:
    assert await _fetch(world, tmp_path, "tx-1") == PLAINTEXT
    assert world.ledger.asked == ["tx-1"]


SIGNED = {"claims": {"camera_id": "cam-12"}, "signature": "c2ln", "certificate": "-----BEGIN"}


async def _release(world: World, tmp_path: Path, **held: object) -> Released:
    """Fetch E-1 while the owner keeps ``held`` beside it (its claims or its description,
    or something else)."""
    world.ledger.held["E-1"] = dataclasses.replace(world.held, **held)  # type: ignore[arg-type]
    released = await fetch(
        world.channel,
        evidence_id="E-1",
        access_tx="tx-1",
        keyring=world.partner_keys,
        ledger_plaintext=world.held.plaintext,
        ledger_ciphertext=world.held.ciphertext,
        destination=tmp_path / "out",
    )
    assert released.opened.plaintext == world.held.plaintext
    return released


async def test_the_signed_claims_go_with_the_item(world: World, tmp_path: Path) -> None:
    assert (await _release(world, tmp_path, claims=None)).claims is None
    assert (await _release(world, tmp_path, claims=SIGNED)).claims == SIGNED


async def test_a_redacted_copys_description_goes_with_it(world: World, tmp_path: Path) -> None:
    description = {"original_id": "E-0", "method": "haar_pixelate_v1", "regions": []}
    released = await _release(world, tmp_path, derivation=description)
    assert (released.claims, released.derivation) == (None, description)


@pytest.mark.parametrize(
    "claims",
    [
        {"claims": {}, "signature": "c2ln"},  # no certificate
        {**SIGNED, "extra": 1},
        {**SIGNED, "signature": 7},
        {**SIGNED, "claims": "not an object"},
    ],
)
async def test_malformed_claims_from_the_owner_fail_the_fetch(
    world: World, tmp_path: Path, claims: object
) -> None:
    with pytest.raises(FetchFailed, match="claims"):
        await _release(world, tmp_path, claims=claims)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("tx", "code"),
    [
        ("tx-forged", "RECORD_NOT_FOUND"),
        ("tx-other-org", "WRONG_ORG"),
        ("tx-denied", "RECORD_DENIED"),
        ("tx-old", "RECORD_EXPIRED"),
        ("tx-other-item", "WRONG_ITEM"),
        ("tx-case", "WRONG_ITEM"),
    ],
)
async def test_anything_else_is_refused(world: World, tmp_path: Path, tx: str, code: str) -> None:
    with pytest.raises(ReleaseRefused) as info:
        await _fetch(world, tmp_path, tx)
    assert info.value.code == code
    assert not (tmp_path / f"out-{tx}").exists()


async def test_bytes_that_do_not_match_the_ledger_are_not_opened(
    world: World, tmp_path: Path
) -> None:
    with pytest.raises(FetchFailed, match="ciphertext"):
        await fetch(
            world.channel,
            evidence_id="E-1",
            access_tx="tx-1",
            keyring=world.partner_keys,
            ledger_plaintext=world.held.plaintext,
            ledger_ciphertext=Digest.of(b"what the ledger says"),
            destination=tmp_path / "out",
        )
    assert not (tmp_path / "out").exists()


async def test_malformed_requests_are_refused(world: World) -> None:
    call = world.channel.unary_stream(FETCH, request_serializer=None, response_deserializer=None)
    for raw in (
        b"{not json",
        b'{"evidence_id": 1, "access_tx": "t"}',
        b"x" * 5000,
        b'{"evidence_id": "E-1", "access_tx": "tx-1", "extra": 1}',
    ):
        with pytest.raises(grpc.aio.AioRpcError) as info:
            async for _ in call(raw):
                pass
        assert info.value.code() == grpc.StatusCode.PERMISSION_DENIED
        assert "BAD_REQUEST" in (info.value.details() or "")


async def test_a_client_certificate_from_no_department_cannot_connect(world: World) -> None:
    stranger = tls_ca("StrangerMSP")
    leaf = tls_leaf(stranger, "node.stranger")
    # It trusts the owner's server certificate; the owner does not trust its client one.
    channel = open_channel(
        f"127.0.0.1:{world.port}",
        world.server_ca,
        client_cert_pem=leaf.cert_pem,
        client_key_pem=leaf.key_pem,
    )
    try:
        call = channel.unary_stream(FETCH, request_serializer=None, response_deserializer=None)
        with pytest.raises(grpc.aio.AioRpcError) as info:
            async for _ in call(b'{"evidence_id":"E-1","access_tx":"tx-1"}', timeout=5):
                pass
        assert info.value.code() == grpc.StatusCode.UNAVAILABLE
    finally:
        await channel.close(None)


def test_release_policy_is_a_pure_function() -> None:
    check_release(record(), access_tx="tx-1", requester_org=PARTNER, evidence_id="E-1", now=NOW)
    future = record(at=ledger_time(NOW + dt.timedelta(hours=1)))
    with pytest.raises(ReleaseRefused, match="RECORD_FROM_FUTURE"):
        check_release(future, access_tx="t", requester_org=PARTNER, evidence_id="E-1", now=NOW)
