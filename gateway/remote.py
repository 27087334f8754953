"""Evidence owned by another department: fetched from the owner's node over the exchange,
against this caller's committed access record, and checked against the ledger hashes."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import grpc

from gateway.problems import Problem
from node.crypto.key_wrap import KeyRing
from node.exchange import ReleaseRefused, fetch
from node.exchange.client import FetchFailed
from node.fabric import open_channel
from schemas.hashes import Digest
from schemas.ledger import EvidenceRecord

log = logging.getLogger("gateway")


class RemoteEvidence(Protocol):
    async def fetch(self, item: EvidenceRecord, access_tx: str, destination: Path) -> None:
        """Write ``item``'s verified plaintext to ``destination``.

        Raises:
            Problem: 403 if the owner refuses, 501 for an owner with no known node, 502 if the
                bytes do not match the ledger, 503 if the owner's node cannot be reached.
        """
        ...


@dataclass(frozen=True)
class OwnerNode:
    address: str  # host:port of the owner's exchange server
    tls_root_pem: bytes  # the owner's TLS CA


@dataclass(frozen=True)
class ExchangeRemote:
    """This node's side of :mod:`node.exchange`: its mutual-TLS identity and its key ring."""

    owners: Mapping[str, OwnerNode]  # by MSP id
    client_cert_pem: bytes
    client_key_pem: bytes
    keyring: KeyRing
    timeout: float = 300
    # The owner's peer commits the access record a moment after ours: ask again meanwhile.
    replication_wait: float = 10

    async def fetch(self, item: EvidenceRecord, access_tx: str, destination: Path) -> None:
        owner = self.owners.get(item.owner_org)
        if owner is None:
            raise Problem(
                501, "OWNER_NODE_UNKNOWN", f"no exchange address is known for {item.owner_org}"
            )
        channel = open_channel(
            owner.address,
            owner.tls_root_pem,
            client_cert_pem=self.client_cert_pem,
            client_key_pem=self.client_key_pem,
        )
        try:
            await self._fetch_once_committed(channel, item, access_tx, destination)
        except ReleaseRefused as err:
            log.info("owner %s refused %s: %s", item.owner_org, item.evidence_id, err)
            raise Problem(403, "ACCESS_DENIED", "the owner's node refused the release") from None
        except FetchFailed as err:
            log.error("fetch of %s failed verification: %s", item.evidence_id, err)
            raise Problem(
                502, "EVIDENCE_UNAVAILABLE", "the item could not be read intact"
            ) from None
        except grpc.aio.AioRpcError as err:
            log.error("owner %s unreachable: %s", item.owner_org, err.code())
            raise Problem(
                503, "OWNER_UNAVAILABLE", f"the node of {item.owner_org} cannot be reached"
            ) from None
        finally:
            await channel.close(None)

    async def _fetch_once_committed(
        self, channel: grpc.aio.Channel, item: EvidenceRecord, access_tx: str, destination: Path
    ) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.replication_wait
        while True:
            try:
                await fetch(
                    channel,
                    evidence_id=item.evidence_id,
                    access_tx=access_tx,
                    keyring=self.keyring,
                    ledger_plaintext=Digest.parse(item.plaintext_hash),
                    ledger_ciphertext=Digest.parse(item.ciphertext_hash),
                    destination=destination,
                    timeout=self.timeout,
                )
                return
            except ReleaseRefused as err:
                if err.code != "RECORD_NOT_FOUND" or loop.time() > deadline:
                    raise
            await asyncio.sleep(0.25)
