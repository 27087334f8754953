"""The requesting node's view of the other departments' nodes: where each owner's exchange
server listens, and a fetch that waits for the owner's peer to commit the access record."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import grpc

from node.consortium.identities import org_crypto
from node.consortium.launch import Layout
from node.crypto.key_wrap import KeyRing
from node.exchange.client import Released, fetch
from node.exchange.policy import ReleaseRefused
from node.exchange.tls import exchange_tls
from node.fabric import open_channel
from node.ops.config import department_runtime
from schemas.hashes import Digest
from schemas.ledger import EvidenceRecord


class OwnerUnknown(Exception):
    """No exchange address is configured for the item's owner department."""

    def __init__(self, owner_org: str) -> None:
        super().__init__(f"no exchange address is known for {owner_org}")
        self.owner_org = owner_org


class OwnerUnreachable(Exception):
    """The owner's exchange server could not be reached (or broke off the transfer)."""

    def __init__(self, owner_org: str, status: str) -> None:
        super().__init__(f"the node of {owner_org} cannot be reached ({status})")
        self.owner_org = owner_org


@dataclass(frozen=True)
class OwnerNode:
    address: str  # host:port of the owner's exchange server
    tls_root_pem: bytes  # the owner's TLS CA


@dataclass(frozen=True)
class ExchangeFetcher:
    """This node's side of :mod:`node.exchange`: the owners' servers, its own mutual-TLS
    identity and its key ring (the owner wraps each data key to this org's published key)."""

    owners: Mapping[str, OwnerNode]  # by MSP id
    client_cert_pem: bytes
    client_key_pem: bytes
    keyring: KeyRing
    timeout: float = 300
    # The owner's peer commits the access record a moment after ours: ask again meanwhile.
    replication_wait: float = 10

    async def fetch(self, item: EvidenceRecord, access_tx: str, destination: Path) -> Released:
        """Write ``item``'s plaintext to ``destination``, released against the committed
        access record ``access_tx`` and checked against the ledger's hashes; return what was
        released (with the item's claims or derivation description, as its owner keeps them).

        Raises:
            OwnerUnknown: no exchange address for ``item.owner_org``.
            ReleaseRefused: the owner's node refused (its stable code).
            FetchFailed: the bytes do not match the ledger (nothing is written).
            OwnerUnreachable: the owner's node could not be reached.
        """
        owner = self.owners.get(item.owner_org)
        if owner is None:
            raise OwnerUnknown(item.owner_org)
        channel = open_channel(
            owner.address,
            owner.tls_root_pem,
            client_cert_pem=self.client_cert_pem,
            client_key_pem=self.client_key_pem,
        )
        try:
            return await self._fetch_once_committed(channel, item, access_tx, destination)
        except grpc.aio.AioRpcError as err:
            raise OwnerUnreachable(item.owner_org, err.code().name) from None
        finally:
            await channel.close(None)

    async def _fetch_once_committed(
        self, channel: grpc.aio.Channel, item: EvidenceRecord, access_tx: str, destination: Path
    ) -> Released:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.replication_wait
        while True:
            try:
                released = await fetch(
                    channel,
                    evidence_id=item.evidence_id,
                    access_tx=access_tx,
                    keyring=self.keyring,
                    ledger_plaintext=Digest.parse(item.plaintext_hash),
                    ledger_ciphertext=Digest.parse(item.ciphertext_hash),
                    destination=destination,
                    timeout=self.timeout,
                )
                return released
            except ReleaseRefused as err:
                if err.code != "RECORD_NOT_FOUND" or loop.time() > deadline:
                    raise
            await asyncio.sleep(0.25)


F = TypeVar("F", bound=ExchangeFetcher)


def consortium_fetcher(layout: Layout, department: str, keyring: KeyRing, kind: type[F]) -> F:
    """How ``department``'s node fetches other departments' items (a ``kind``: the
    :class:`ExchangeFetcher` or a subclass): their nodes' exchange servers (addresses from
    their configuration), its own exchange identity, its key ring."""
    me = layout.consortium.department(department)
    tls = exchange_tls(layout, me.name)
    owners = {}
    for other in layout.consortium.departments:
        if other.name == me.name:
            continue
        runtime = department_runtime(layout.state_dir, other)
        ca = org_crypto(layout.state_dir, layout.consortium, other.name).tlsca_cert
        owners[other.msp_id] = OwnerNode(f"{runtime.host}:{runtime.exchange_port}", ca.read_bytes())
    return kind(owners, tls.cert_pem, tls.key_pem, keyring)


__all__ = [
    "ExchangeFetcher",
    "OwnerNode",
    "OwnerUnknown",
    "OwnerUnreachable",
    "consortium_fetcher",
]
