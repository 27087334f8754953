"""The gateway of one department of a running consortium (the service entry point's builder).

Every user's ledger client is made lazily inside the serving event loop (a gRPC channel
belongs to its loop) and kept for the process's life.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from gateway.auth import CertificateDirectory, TokenStore
from gateway.deps import GatewayDeps
from gateway.rectification import RectificationRequests
from gateway.remote import ExchangeRemote, RemoteEvidence
from node.chain import BlockArchive, ChainFollower
from node.consortium.clients import department_contract, user_identity
from node.consortium.identities import ADMIN_USER, org_crypto
from node.consortium.launch import Layout
from node.crypto.key_wrap import KeyRing
from node.crypto.subjects import SubjectKeyer, subject_secret_path
from node.department import NodeParts, NodePaths
from node.disclosure.timeliness import WorkCalendar
from node.dispatch import Area
from node.exchange import ExchangeServer
from node.exchange.ledger_items import LedgerOwnerItems
from node.exchange.remote import consortium_fetcher
from node.exchange.tls import exchange_tls
from node.fabric import FileCheckpointer
from node.fabric.ledger import LedgerQueries
from node.follower import IndexFollower
from node.index.changes import ChangeSignal
from node.ingest import DeviceVerifier, IngestService
from node.ingest.errors import NOT_CASE_STAFF, IngestRefused
from node.ledger import LedgerClient
from node.package import ClaimsArchive, Exporter
from node.redaction.archive import CopyArchive
from schemas.ledger import DocumentFiling, EvidenceRegistration


class _Clients:
    def __init__(self, layout: Layout, department: str) -> None:
        self.layout, self.department = layout, layout.consortium.department(department)
        self._made: dict[str, LedgerClient] = {}

    def __call__(self, user: str) -> LedgerClient:
        if user not in self._made:
            contract = department_contract(self.layout, self.department, user=user)
            self._made[user] = LedgerClient(contract)
        return self._made[user]


def exchange_remote(layout: Layout, department: str, keyring: KeyRing) -> ExchangeRemote:
    """How ``department``'s gateway fetches other departments' items (answering with
    problems): see :func:`node.exchange.remote.consortium_fetcher`."""
    return consortium_fetcher(layout, department, keyring, ExchangeRemote)


async def start_exchange_server(
    layout: Layout,
    department: str,
    parts: NodeParts,
    port: int,
    claims: ClaimsArchive,
    copies: CopyArchive,
) -> ExchangeServer:
    """``department``'s exchange server on 127.0.0.1:``port``: it releases an item (sealed to
    the requester's org key, with the device-signed claims kept in ``claims`` or, for a
    redacted copy, its description kept in ``copies``) only against a granted access record
    its own peer holds.

    Its ledger view is the org admin's (queries only: records, items, org keys).
    """
    dep = layout.consortium.department(department)
    view = LedgerClient(department_contract(layout, dep, user=ADMIN_USER))
    cas = {
        d.msp_id: org_crypto(layout.state_dir, layout.consortium, d.name).tlsca_cert.read_bytes()
        for d in layout.consortium.departments
    }
    server = ExchangeServer(
        LedgerOwnerItems(view, parts.vault, dep.msp_id, claims, copies),
        parts.store,
        parts.keyring,
        cas,
    )
    tls = exchange_tls(layout, dep.name)
    await server.start(f"127.0.0.1:{port}", tls.cert_pem, tls.key_pem)
    return server


def index_follower(
    layout: Layout,
    department: str,
    parts: NodeParts,
    checkpoint: Path,
    flag_changes: ChangeSignal | None = None,
) -> IndexFollower:
    """The follower that keeps ``department``'s index in step with the ledger's events (its
    cases, their items from any department, grants, access records); it reads as the org
    admin (queries only), checkpoints in ``checkpoint`` and tells ``flag_changes`` of each
    flag it writes."""
    dep = layout.consortium.department(department)
    reader = LedgerClient(department_contract(layout, dep, user=ADMIN_USER))
    return IndexFollower(
        reader,
        parts.index,
        FileCheckpointer(checkpoint),
        org=dep.msp_id,
        flag_changes=flag_changes,
    )


def chain_follower(layout: Layout, department: str, archive: BlockArchive) -> ChainFollower:
    """The follower that keeps ``department``'s block archive in step with its peer; it
    reads the channel's blocks as the org admin (a reader of the channel)."""
    dep = layout.consortium.department(department)
    contract = department_contract(layout, dep, user=ADMIN_USER)
    return ChainFollower(contract.gateway, contract.channel, archive)


class _DeviceRegistrar:
    """Registers evidence as the node's device-facing identity, made on first use."""

    def __init__(self, clients: _Clients, user: str) -> None:
        self._clients, self._user = clients, user

    async def register_evidence(self, reg: EvidenceRegistration) -> Any:
        return await self._clients(self._user).register_evidence(reg)

    async def file_document(self, filing: DocumentFiling) -> Any:
        # Case documents are filed as the officer or reviewer who signed them, never as the
        # node (the chaincode would refuse a device): the gateway passes their own client.
        raise IngestRefused(NOT_CASE_STAFF, "a case document is filed by its signer, not the node")


def department_gateway(
    layout: Layout,
    department: str,
    parts: NodeParts,
    *,
    registrar_user: str,
    work_dir: Path,
    remote: RemoteEvidence | None = None,
    max_upload_bytes: int = 1 << 30,
    claims_dir: Path | None = None,
    node_root: Path | None = None,
    areas: tuple[Area, ...] = (),
    calendar: WorkCalendar | None = None,
    archive: BlockArchive | None = None,
) -> GatewayDeps:
    """``department``'s gateway over its node ``parts``; tokens live in ``work_dir``.

    ``registrar_user`` is the identity (role ``device``) that registers ingested evidence;
    ``remote`` fetches other departments' items (without it they answer 501). Device claims
    are kept in ``claims_dir`` (default: the node's ``claims/``, where ``evnet package`` looks),
    redacted copies' entries in the node's ``redactions/``; the node's directory is
    ``node_root`` (default: ``<state>/nodes/<Department>``); ``areas``: which officers get
    which cameras' flags; ``calendar``: its working days (default: Monday to Friday);
    ``archive``: the node's copy of the channel's blocks, which
    exports read their proofs from before asking the peer.

    Raises:
        FileNotFoundError: the department's crypto material has not been generated.
        SubjectSecretError: the consortium's subject secret is missing or unsafe.
    """
    dep = layout.consortium.department(department)
    crypto = org_crypto(layout.state_dir, layout.consortium, department)
    clients = _Clients(layout, department)

    def clock() -> dt.datetime:
        return dt.datetime.now(dt.UTC)

    root = node_root or NodePaths.of(layout.state_dir, department).root
    redactions_dir = root / "redactions"
    ingest = IngestService(
        verifier=DeviceVerifier(dep.msp_id, crypto.ca_cert.read_bytes()),
        store=parts.store,
        vault=parts.vault,
        keyring=parts.keyring,
        ledger=_DeviceRegistrar(clients, registrar_user),
        index=parts.index,
        max_item_bytes=max_upload_bytes,
        also_referenced=CopyArchive(redactions_dir).ciphertexts,
    )
    claims = ClaimsArchive(claims_dir or root / "claims")

    def exporter_for(user: str) -> Exporter:
        ledger = clients(user)
        identity, signer = user_identity(layout, dep, user)
        return Exporter(
            ledger=ledger,
            queries=LedgerQueries(
                ledger.contract.gateway, ledger.contract.channel, archive=archive
            ),
            parts=parts,
            claims=claims,
            identity=identity,
            signer=signer,
            foreign=remote,  # a transferred case's items, from their owners' nodes
            copies=CopyArchive(redactions_dir),  # redacted copies carry their descriptions
        )

    return GatewayDeps(
        org=dep.msp_id,
        tokens=TokenStore(work_dir / "tokens.json", clock),
        identities=CertificateDirectory(lambda user: crypto.user(user).msp_dir),
        ledger_for=clients,
        ingest=ingest,
        index=parts.index,
        store=parts.store,
        vault=parts.vault,
        keyring=parts.keyring,
        spool_dir=work_dir / "spool",
        subjects=SubjectKeyer.from_file(subject_secret_path(layout.state_dir)),
        remote=remote,
        exporter_for=exporter_for,
        claims=claims,
        signer_for=lambda user: (
            clients(user).contract.gateway.identity,
            clients(user).contract.gateway.signer,
        ),
        channel=layout.consortium.channel,
        rectifications=RectificationRequests(work_dir / "rectifications.sqlite"),
        redactions_dir=redactions_dir,
        max_upload_bytes=max_upload_bytes,
        areas=areas,
        calendar=calendar or WorkCalendar(),
        archive=archive,
        peer_chain_for=lambda user: LedgerQueries(
            clients(user).contract.gateway, clients(user).contract.channel
        ),
        clock=clock,
    )
