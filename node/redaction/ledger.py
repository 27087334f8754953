"""The ledger calls a redaction makes, as the acting person: the Derivations contract next to
the evidence and access functions of :class:`node.ledger.LedgerClient`."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from pydantic import TypeAdapter

from node.fabric import Contract, GatewayError, submit_with_retry
from node.ledger import Committed, LedgerClient, LedgerRefused
from schemas.derivations import DerivationErrorCode, DerivationRecord, DerivationRequest
from schemas.ledger import (
    AccessRecord,
    AccessRequest,
    EvidenceRecord,
    EvidenceRegistration,
    LedgerErrorCode,
)


class DerivationConflict(Exception):
    """RecordDerivation refused with DERIVATION_CONFLICT: the copy is already linked."""

    def __init__(self, message: str, tx_id: str) -> None:
        super().__init__(f"{DerivationErrorCode.DERIVATION_CONFLICT}: {message}")
        self.message, self.tx_id = message, tx_id


@runtime_checkable
class DerivationLedger(Protocol):
    async def evidence(self, evidence_id: str) -> EvidenceRecord: ...
    async def request_access(self, req: AccessRequest) -> Committed[AccessRecord]: ...
    async def register_evidence(self, reg: EvidenceRegistration) -> Committed[EvidenceRecord]: ...
    async def record_derivation(self, req: DerivationRequest) -> Committed[DerivationRecord]: ...
    async def derivations(self, original_id: str) -> list[DerivationRecord]: ...
    async def derived_from(self, derived_id: str) -> DerivationRecord | None: ...


def _translated(err: GatewayError) -> Exception:
    code = err.chaincode_code
    message = err.chaincode_message or str(err)
    if code == DerivationErrorCode.DERIVATION_CONFLICT:
        return DerivationConflict(message, err.tx_id)
    if code is not None and code in LedgerErrorCode.__members__:
        return LedgerRefused(LedgerErrorCode(code), message, err.tx_id)
    return err


class EvidenceClient(Protocol):
    """What :class:`DerivationsClient` needs of a :class:`LedgerClient` (or a proxy of one)."""

    contract: Contract

    async def evidence(self, evidence_id: str) -> EvidenceRecord: ...
    async def request_access(self, req: AccessRequest) -> Committed[AccessRecord]: ...
    async def register_evidence(self, reg: EvidenceRegistration) -> Committed[EvidenceRecord]: ...


class DerivationsClient:
    """:class:`DerivationLedger` over one identity's :class:`LedgerClient`."""

    def __init__(self, client: LedgerClient | EvidenceClient) -> None:
        self._client = client

    async def evidence(self, evidence_id: str) -> EvidenceRecord:
        return await self._client.evidence(evidence_id)

    async def request_access(self, req: AccessRequest) -> Committed[AccessRecord]:
        return await self._client.request_access(req)

    async def register_evidence(self, reg: EvidenceRegistration) -> Committed[EvidenceRecord]:
        return await self._client.register_evidence(reg)

    async def record_derivation(self, req: DerivationRequest) -> Committed[DerivationRecord]:
        """Raises: DerivationConflict, LedgerRefused, GatewayError (transport, commit)."""
        try:
            result = await submit_with_retry(
                self._client.contract, "RecordDerivation", req.model_dump_json()
            )
        except GatewayError as err:
            raise _translated(err) from err
        record = DerivationRecord.model_validate_json(result.result)
        return Committed(record, result.tx_id, result.block_number)

    async def derivations(self, original_id: str) -> list[DerivationRecord]:
        try:
            raw = await self._client.contract.evaluate("GetDerivations", original_id)
        except GatewayError as err:
            raise _translated(err) from err
        return TypeAdapter(list[DerivationRecord]).validate_json(raw)

    async def derived_from(self, derived_id: str) -> DerivationRecord | None:
        try:
            raw = await self._client.contract.evaluate("GetDerivedFrom", derived_id)
        except GatewayError as err:
            translated = _translated(err)
            if isinstance(translated, LedgerRefused) and (
                translated.code is LedgerErrorCode.NOT_FOUND
            ):
                return None
            raise translated from err
        return DerivationRecord.model_validate_json(raw)
