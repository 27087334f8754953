"""The index follower: chaincode events, with a checkpoint, into the department's index.

Cases filed, moved or transferred in, items attached to them (including other departments'
items, as rows without place or text), the department's flags, grants and access records
appear in the local index. Each event is handled idempotently (upserts of what the ledger
says now) and then checkpointed, so a restarted follower resumes where it stopped: an event
handled but not yet checkpointed before a crash is handled again, harmlessly.
"""

from __future__ import annotations

import asyncio
import json
import logging
from contextlib import aclosing
from typing import Any

from node.fabric import ChaincodeEvent, Checkpointer, Gateway, resume_events
from node.index import IndexDatabase
from node.index.changes import ChangeSignal
from node.index.schema import AccessRow, FlagRow, GrantRow
from node.ledger import LedgerClient, LedgerRefused
from schemas.ledger import CaseRecord, EvidenceRecord, TargetKind, parse_ledger_time

log = logging.getLogger(__name__)

_CASE_EVENTS = {
    "CaseFiled",
    "CaseStageChanged",
    "TransferProposed",
    "TransferAccepted",
    "TransferRejected",
    "EvidenceAttached",
    "DecisionSetAside",
}


def _evidence_row(record: EvidenceRecord) -> dict[str, Any]:
    return {
        "evidence_id": record.evidence_id,
        "owner_org": record.owner_org,
        "violation_type": record.violation_type.value,
        "camera_id": record.camera_id,
        "device_id": record.device_id,
        "captured_at": parse_ledger_time(record.captured_at),
        "lat": None,
        "lon": None,
        "zone": None,
        "subject_key": None,
        "media_type": record.media_type,
        "size": record.size,
        "plaintext_hash": record.plaintext_hash,
        "ciphertext_hash": record.ciphertext_hash,
        "text": "",
        "status": record.status.value,
        "ledger_tx": record.registered_tx,
    }


class IndexFollower:
    """``org``: the department whose index this is; its cases are the ones it holds, is
    offered in a transfer, was granted, or held before (already in its index). Without
    ``org`` every case on the channel is indexed."""

    def __init__(
        self,
        ledger: LedgerClient,
        index: IndexDatabase,
        checkpointer: Checkpointer,
        *,
        org: str | None = None,
        flag_changes: ChangeSignal | None = None,
    ) -> None:
        self.ledger, self.index, self.checkpointer = ledger, index, checkpointer
        self.org = org
        # Told after each flag written, so the officers' open feeds send it at once.
        self.flag_changes = flag_changes

    async def run(self, *, start_block: int | None = None, stop_after: int | None = None) -> int:
        """Follow events until cancelled (or ``stop_after`` events); return how many."""
        contract = self.ledger.contract
        gateway: Gateway = contract.gateway
        handled = 0
        events = resume_events(
            gateway,
            contract.channel,
            contract.chaincode,
            self.checkpointer,
            start_block=start_block,
        )
        async with aclosing(events) as stream:
            async for event in stream:
                await self.handle(event)
                self.checkpointer.checkpoint_event(event)
                handled += 1
                if stop_after is not None and handled >= stop_after:
                    break
        return handled

    async def handle(self, event: ChaincodeEvent) -> None:
        try:
            payload = json.loads(event.payload)
        except ValueError:
            log.warning("follower: event %s of tx %s has no JSON payload", event.name, event.tx_id)
            return
        try:
            registered_into_case = event.name == "EvidenceRegistered" and payload.get("case_id")
            if event.name in _CASE_EVENTS or registered_into_case:
                await self._case(payload["case_id"])
                # A case opened from a flag: the one event stands for the flag's step too.
                if event.name == "CaseFiled" and "flag_id" in payload and self._org_is(payload):
                    await self._flag(payload["flag_id"])
            elif event.name in ("AccessGranted", "AccessRevoked"):
                await self._grants(TargetKind(payload["target"]), payload["target_id"])
            elif event.name in ("ViolationFlagged", "ViolationMoved"):
                if self._org_is(payload, key="org"):
                    await self._flag(payload["flag_id"])
            elif event.name == "AccessRecorded":
                await self._access(payload["record_id"])
            elif event.name == "PackageAccessRecorded":
                for record_id in payload["record_ids"]:
                    await self._access(record_id)
        except LedgerRefused as exc:  # e.g. a record this identity may not read
            log.warning("follower: %s for %s: %s", event.name, event.tx_id[:12], exc)

    async def _case(self, case_id: str, *, granted: bool = False) -> None:
        case = await self.ledger.case(case_id)
        if not (granted or self._ours(case)):
            return
        evidence_ids = await self.ledger.case_evidence(case_id)
        rows = []
        for evidence_id in evidence_ids:
            if self.index.evidence(evidence_id) is None:  # another department's item
                rows.append(_evidence_row(await self.ledger.evidence(evidence_id)))
        self.index.upsert_evidence(rows)
        self.index.upsert_case(
            {
                "case_id": case.case_id,
                "holder_org": case.holder_org,
                "stage": case.stage.value,
                "violation_type": case.violation_type.value,
                "subject_key": case.subject_key,
                "updated_at": parse_ledger_time(case.updated_at),
                "filed_at": parse_ledger_time(case.filed_at),
                "filed_by_org": case.filed_by_org,
            },
            evidence_ids,
        )

    def _ours(self, case: CaseRecord) -> bool:
        if self.org is None or case.holder_org == self.org:
            return True
        pending = case.pending_transfer
        if pending is not None and pending.to_org == self.org:
            return True
        return self.index.case(case.case_id) is not None  # held it before: keep it current

    def _org_is(self, payload: dict[str, Any], key: str = "holder_org") -> bool:
        """Whether the event is this department's (every event, without ``org``)."""
        return self.org is None or payload.get(key) == self.org

    async def _flag(self, flag_id: str) -> None:
        flag = await self.ledger.violation(flag_id)  # as it stands now, whatever moved it
        self.index.upsert_rows(
            FlagRow,
            [
                {
                    "flag_id": flag.flag_id,
                    "org": flag.org,
                    "camera_id": flag.camera_id,
                    "violation_type": flag.violation_type.value,
                    "detected_at": parse_ledger_time(flag.detected_at),
                    "status": flag.status.value,
                    "updated_at": parse_ledger_time(flag.updated_at),
                    "case_id": flag.case_id,
                }
            ],
            ["flag_id"],
        )
        if self.flag_changes is not None:
            self.flag_changes.notify()

    async def _grants(self, target: TargetKind, target_id: str) -> None:
        grants = await self.ledger.grants(target, target_id)
        if target is TargetKind.CASE and any(g.grantee_org == self.org for g in grants):
            await self._case(target_id, granted=True)  # a case shared with this department
        rows = [
            {
                "target": g.target.value,
                "target_id": g.target_id,
                "grantee_org": g.grantee_org,
                "purpose": g.purpose,
                "kinds": ",".join(k.value for k in g.kinds),
                "expires_at": parse_ledger_time(g.expires_at),
                "revoked": g.revoked_at is not None,
                "granted_tx": g.granted_tx,
            }
            for g in grants
        ]
        self.index.upsert_rows(GrantRow, rows, ["target", "target_id", "grantee_org"])

    async def _access(self, record_id: str) -> None:
        r = await self.ledger.access_record(record_id)
        self.index.upsert_rows(
            AccessRow,
            [
                {
                    "record_id": r.record_id,
                    "accessor_org": r.accessor_org,
                    "accessor": r.accessor,
                    "role": r.role,
                    "target": r.target.value,
                    "target_id": r.target_id,
                    "kind": r.kind.value,
                    "at": parse_ledger_time(r.at),
                    "outcome": r.outcome.value,
                    "reason": r.reason,
                }
            ],
            ["record_id"],
        )


async def follow(
    follower: IndexFollower, *, start_block: int | None = 0, retry_seconds: float = 5.0
) -> None:
    """Run ``follower`` until cancelled, from ``start_block`` when it has no checkpoint (the
    chain's first block: a new index catches up with everything; None: the next block);
    when the event stream breaks (a peer restarting, a network blip) it is reopened from
    the checkpoint after ``retry_seconds``."""
    while True:
        try:
            await follower.run(start_block=start_block)
        except asyncio.CancelledError:
            raise
        except Exception:  # any stream failure: log it, reopen from the checkpoint
            log.exception("follower: event stream failed; reopening in %.0f s", retry_seconds)
        await asyncio.sleep(retry_seconds)
