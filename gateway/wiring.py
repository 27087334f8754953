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
from gateway.remote import RemoteEvidence
from node.consortium.clients import department_contract, user_identity
from node.consortium.identities import org_crypto
from node.consortium.launch import Layout
from node.department import NodeParts, NodePaths
from node.fabric.ledger import LedgerQueries
from node.ingest import DeviceVerifier, IngestService
from node.ledger import LedgerClient
from node.package import ClaimsArchive, Exporter
from schemas.ledger import EvidenceRegistration


class _Clients:
    def __init__(self, layout: Layout, department: str) -> None:
        self.layout, self.department = layout, layout.consortium.department(department)
        self._made: dict[str, LedgerClient] = {}

    def __call__(self, user: str) -> LedgerClient:
        if user not in self._made:
            contract = department_contract(self.layout, self.department, user=user)
            self._made[user] = LedgerClient(contract)
        return self._made[user]


class _DeviceRegistrar:
    """Registers evidence as the node's device-facing identity, made on first use."""

    def __init__(self, clients: _Clients, user: str) -> None:
        self._clients, self._user = clients, user

    async def register_evidence(self, reg: EvidenceRegistration) -> Any:
        return await self._clients(self._user).register_evidence(reg)


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
) -> GatewayDeps:
    """``department``'s gateway over its node ``parts``; tokens live in ``work_dir``.

    ``registrar_user`` is the identity (role ``device``) that registers ingested evidence;
    ``remote`` fetches other departments' items (without it they answer 501). Device claims
    are kept in ``claims_dir`` (default: the node's ``claims/``, where ``evnet package`` looks).

    Raises:
        FileNotFoundError: the department's crypto material has not been generated.
    """
    dep = layout.consortium.department(department)
    crypto = org_crypto(layout.state_dir, layout.consortium, department)
    clients = _Clients(layout, department)

    def clock() -> dt.datetime:
        return dt.datetime.now(dt.UTC)

    ingest = IngestService(
        verifier=DeviceVerifier(dep.msp_id, crypto.ca_cert.read_bytes()),
        store=parts.store,
        vault=parts.vault,
        keyring=parts.keyring,
        ledger=_DeviceRegistrar(clients, registrar_user),
        index=parts.index,
        max_item_bytes=max_upload_bytes,
    )
    claims = ClaimsArchive(claims_dir or NodePaths.of(layout.state_dir, department).root / "claims")

    def exporter_for(user: str) -> Exporter:
        ledger = clients(user)
        identity, signer = user_identity(layout, dep, user)
        return Exporter(
            ledger=ledger,
            queries=LedgerQueries(ledger.contract.gateway, ledger.contract.channel),
            parts=parts,
            claims=claims,
            identity=identity,
            signer=signer,
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
        remote=remote,
        exporter_for=exporter_for,
        claims=claims,
        max_upload_bytes=max_upload_bytes,
        clock=clock,
    )
