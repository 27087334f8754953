"""The owner node's facts for the exchange, from its own peer and its key vault."""

from __future__ import annotations

import base64
from typing import TYPE_CHECKING

from node.crypto.key_wrap import EncryptionPublicKey
from node.exchange.server import HeldItem
from node.ledger import LedgerClient, LedgerRefused
from node.package.claims_archive import ClaimsArchive, ClaimsNotArchived
from node.vault import KeyNotFound, KeyVault
from schemas.hashes import Digest
from schemas.ledger import AccessRecord, LedgerErrorCode

if TYPE_CHECKING:  # (node.redaction at run time would bring OpenCV into the exchange)
    from node.redaction.archive import CopyArchive


class LedgerOwnerItems:
    """Access records and org keys as this node's own peer has them; items this org owns."""

    def __init__(
        self,
        ledger: LedgerClient,
        vault: KeyVault,
        own_org: str,
        claims: ClaimsArchive | None = None,
        copies: CopyArchive | None = None,
    ) -> None:
        self._ledger, self._vault, self._org = ledger, vault, own_org
        self._claims, self._copies = claims, copies

    async def access_record(self, tx_id: str) -> AccessRecord | None:
        # The record key is written by the access transaction itself, so it is in the world
        # state exactly when that transaction committed VALID on this peer.
        try:
            return await self._ledger.access_record(tx_id)
        except LedgerRefused as exc:
            if exc.code in (LedgerErrorCode.NOT_FOUND, LedgerErrorCode.VALIDATION_FAILED):
                return None
            raise

    async def item(self, evidence_id: str) -> HeldItem | None:
        try:
            record = await self._ledger.evidence(evidence_id)
            wrapped = self._vault.get(evidence_id)
        except (LedgerRefused, KeyNotFound):
            return None
        if record.owner_org != self._org:
            return None
        return HeldItem(
            Digest.parse(record.ciphertext_hash),
            Digest.parse(record.plaintext_hash),
            wrapped,
            self._signed_claims(evidence_id),
            self._derivation(evidence_id),
        )

    def _derivation(self, evidence_id: str) -> dict[str, object] | None:
        entry = self._copies.get(evidence_id) if self._copies is not None else None
        return None if entry is None else entry.description.model_dump(mode="json")

    def _signed_claims(self, evidence_id: str) -> dict[str, object] | None:
        if self._claims is None:
            return None
        try:
            return self._claims.get(evidence_id).to_json()
        except ClaimsNotArchived:
            return None

    async def org_public_key(self, msp_id: str) -> EncryptionPublicKey:
        published = await self._ledger.org_key(msp_id)
        return EncryptionPublicKey.from_raw(base64.b64decode(published.public_key))
