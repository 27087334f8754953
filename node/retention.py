"""Retention expiry: the node destroys an item's data key and records it on the ledger.

Crypto-shredding: the ciphertext may stay on disk (and in backups) but no key can open it.
The key goes first: if recording on the ledger then fails, the item is unreadable and the
call can be repeated (the chaincode records an expiry once); the reverse order could leave
a ledger that says "expired" over an item that still opens.
"""

from __future__ import annotations

from typing import Any, Protocol

from sqlalchemy import update

from node.index import IndexDatabase
from node.index.schema import EvidenceRow
from node.vault import KeyVault
from schemas.ledger import EvidenceStatus


class RetentionLedger(Protocol):
    async def expire_evidence(self, evidence_id: str, reason: str) -> Any: ...


async def expire(
    evidence_id: str, reason: str, *, vault: KeyVault, ledger: RetentionLedger, index: IndexDatabase
) -> str:
    """Destroy the key, record the expiry (as the org admin), mark the index row.

    Returns the ledger transaction id.
    """
    vault.destroy(evidence_id)
    committed = await ledger.expire_evidence(evidence_id, reason)
    with index.session() as session:
        session.execute(
            update(EvidenceRow)
            .where(EvidenceRow.evidence_id == evidence_id)
            .values(status=EvidenceStatus.RETENTION_EXPIRED.value)
        )
    return str(committed.tx_id)
