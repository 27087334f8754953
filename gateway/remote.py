"""Evidence owned by another department: fetched from the owner's node over the exchange,
against this caller's committed access record, and checked against the ledger hashes.

The fetch itself is :class:`node.exchange.remote.ExchangeFetcher`; here its failures become
problems an API caller understands."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Protocol

from gateway.problems import Problem
from node.exchange import ReleaseRefused
from node.exchange.client import FetchFailed, Released
from node.exchange.remote import ExchangeFetcher, OwnerNode, OwnerUnknown, OwnerUnreachable
from schemas.ledger import EvidenceRecord

log = logging.getLogger("gateway")


class RemoteEvidence(Protocol):
    async def fetch(self, item: EvidenceRecord, access_tx: str, destination: Path) -> Released:
        """Write ``item``'s verified plaintext to ``destination``; return what was released
        (its claims or derivation description, as the owner keeps them).

        Raises:
            Problem: 403 if the owner refuses, 501 for an owner with no known node, 502 if the
                bytes do not match the ledger, 503 if the owner's node cannot be reached.
        """
        ...


class ExchangeRemote(ExchangeFetcher):
    """:class:`ExchangeFetcher` answering with problems."""

    async def fetch(self, item: EvidenceRecord, access_tx: str, destination: Path) -> Released:
        try:
            return await super().fetch(item, access_tx, destination)
        except OwnerUnknown as err:
            raise Problem(501, "OWNER_NODE_UNKNOWN", str(err)) from None
        except ReleaseRefused as err:
            log.info("owner %s refused %s: %s", item.owner_org, item.evidence_id, err)
            raise Problem(403, "ACCESS_DENIED", "the owner's node refused the release") from None
        except FetchFailed as err:
            log.error("fetch of %s failed verification: %s", item.evidence_id, err)
            raise Problem(
                502, "EVIDENCE_UNAVAILABLE", "the item could not be read intact"
            ) from None
        except OwnerUnreachable as err:
            log.error("%s", err)
            raise Problem(
                503, "OWNER_UNAVAILABLE", f"the node of {item.owner_org} cannot be reached"
            ) from None


__all__ = ["ExchangeRemote", "OwnerNode", "RemoteEvidence"]
