"""Private notes in each department's implicit collection, written from the transient map.

A note is UTF-8 text an org keeps in ``_implicit_org_<MSPID>``: only that org's peers hold
the value; every peer holds its SHA-256 (the hashed write set is in the block). The value
comes from the transient field ``value``, so it is in neither the proposal nor the block.

What the real network showed (Fabric v3.1.5, three departments, chaincode policy MAJORITY;
tests/network/test_runtime_private_data.py):

- Endorsement. A write to an implicit collection is validated against that org's own
  ``Endorsement`` policy (``OR('<MSP>.peer')`` in our channel config), not MAJORITY: the
  owner's peer alone commits VALID. Owner plus another org also commits VALID, but the
  other peer saw the value. Non-members alone fail with ENDORSEMENT_POLICY_FAILURE, and
  only after the owner's peer has waited ``pullRetryThreshold`` (60 s) for private data
  nobody can send, holding up every later block. Clients therefore name the owner:
  ``endorsing_orgs=[own MSP]``. Without it, the gateway first simulates on its own org's
  peer (transient data included) and then plans the owner alone from the collection the
  simulation touched, so through another org's gateway that peer sees the value.
- Reading. Implicit collections do not restrict readers by org: another org's client read
  a note on the owner's peer. :meth:`GetPrivateNote` therefore refuses callers outside the
  owning org (ACCESS_DENIED). A peer outside the collection that holds the key's hash fails
  the read ("private data matching public hash version is not available ..."); the stub
  raises :class:`~chaincode.runtime.PeerError` and the caller sees code ``INTERNAL``.
- :meth:`CopyPrivateNote` writes public state, which needs MAJORITY, yet only the owner's
  peer can read the note; on this channel it cannot gather a valid endorsement. It exists
  to show that a read the peer fails fails the transaction: nothing derived from the error
  is endorsed, let alone committed.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

from chaincode.contracts.base import actor_of, not_found
from chaincode.runtime import Contract, ContractError, Stub, transaction
from chaincode.runtime.keys import composite_key
from schemas.canonical import canonical_json
from schemas.ledger import LedgerErrorCode

MAX_NOTE_BYTES = 64 * 1024
TRANSIENT_FIELD = "value"
_MSP_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")


def implicit_collection(msp_id: str) -> str:
    """The name of ``msp_id``'s implicit private data collection.

    Raises:
        ContractError: VALIDATION_FAILED if ``msp_id`` is not an MSP id.
    """
    if not _MSP_ID.fullmatch(msp_id):
        raise ContractError(LedgerErrorCode.VALIDATION_FAILED, "org must be an MSP id")
    return f"_implicit_org_{msp_id}"


def _note_key(key: str) -> str:
    if not key or len(key) > 256:
        raise ContractError(LedgerErrorCode.VALIDATION_FAILED, "key must be 1-256 characters")
    return composite_key("private_note", [key])


def _copy_key(key: str) -> str:
    if not key or len(key) > 256:
        raise ContractError(LedgerErrorCode.VALIDATION_FAILED, "key must be 1-256 characters")
    return composite_key("private_note_copy", [key])


def _note_from_transient(ctx: Stub) -> bytes:
    value = ctx.transient().get(TRANSIENT_FIELD)
    if not value:
        raise ContractError(
            LedgerErrorCode.VALIDATION_FAILED,
            f"the note goes in the transient field {TRANSIENT_FIELD!r}, which is missing or empty",
        )
    if len(value) > MAX_NOTE_BYTES:
        raise ContractError(
            LedgerErrorCode.VALIDATION_FAILED, f"note exceeds {MAX_NOTE_BYTES} bytes"
        )
    try:
        value.decode("utf-8")
    except UnicodeDecodeError:
        raise ContractError(LedgerErrorCode.VALIDATION_FAILED, "note is not UTF-8") from None
    return value


class PrivateNotesContract(Contract):
    name = "PrivateNotes"

    @transaction()
    async def PutPrivateNote(self, ctx: Stub, key: str) -> dict[str, Any]:
        """Write the transient ``value`` into the caller's own org's implicit collection.

        Raises:
            ContractError: VALIDATION_FAILED for a bad key or a missing, oversized or
                non-UTF-8 value.
            PeerError: the peer refused the write.
        """
        collection = implicit_collection(actor_of(ctx).org)
        value = _note_from_transient(ctx)
        await ctx.put_state(_note_key(key), value, collection=collection)
        return {
            "collection": collection,
            "key": key,
            "sha256": hashlib.sha256(value).hexdigest(),
            "tx_id": ctx.tx_id,
        }

    @transaction(read_only=True)
    async def GetPrivateNote(self, ctx: Stub, org_msp: str, key: str) -> dict[str, Any]:
        """The note as this peer holds it.

        Raises:
            ContractError: ACCESS_DENIED unless the caller belongs to ``org_msp``;
                NOT_FOUND if the peer has no such note.
            PeerError: the peer refused the read (e.g. it is not in ``org_msp``'s collection
                but holds the key's hash).
        """
        collection = implicit_collection(org_msp)
        actor_of(ctx).require_org(org_msp, "read its private notes")
        value = await ctx.get_state(_note_key(key), collection=collection)
        if value is None:
            raise not_found(f"private note of {org_msp}", key)
        return {"org": org_msp, "key": key, "value": value.decode("utf-8")}

    @transaction(read_only=True)
    async def PrivateNoteHash(self, ctx: Stub, org_msp: str, key: str) -> dict[str, Any]:
        """The hex SHA-256 of the note as this peer's ledger holds it; any org may ask.

        Raises:
            ContractError: NOT_FOUND if the peer holds no hash for the key (yet).
        """
        digest = await ctx.get_private_data_hash(implicit_collection(org_msp), _note_key(key))
        if digest is None:
            raise not_found(f"private note hash of {org_msp}", key)
        return {"org": org_msp, "key": key, "sha256": digest.hex()}

    @transaction()
    async def CopyPrivateNote(
        self, ctx: Stub, org_msp: str, key: str, dest_key: str
    ) -> dict[str, Any]:
        """Record the note's digest and size in public state under ``dest_key``.

        Raises:
            ContractError: ACCESS_DENIED unless the caller belongs to ``org_msp``;
                NOT_FOUND if the peer has no such note.
            PeerError: the peer refused the private read; the transaction fails and
                nothing is written.
        """
        dest = _copy_key(dest_key)
        collection = implicit_collection(org_msp)
        actor_of(ctx).require_org(org_msp, "publish a digest of its private notes")
        value = await ctx.get_state(_note_key(key), collection=collection)
        if value is None:
            raise not_found(f"private note of {org_msp}", key)
        record = {
            "source_org": org_msp,
            "source_key": key,
            "sha256": hashlib.sha256(value).hexdigest(),
            "size": len(value),
            "copied_tx": ctx.tx_id,
        }
        await ctx.put_state(dest, canonical_json(record))
        return record

    @transaction(read_only=True)
    async def GetPrivateNoteCopy(self, ctx: Stub, dest_key: str) -> dict[str, Any]:
        """What ``CopyPrivateNote`` recorded under ``dest_key``.

        Raises:
            ContractError: NOT_FOUND if nothing was recorded there.
        """
        raw = await ctx.get_state(_copy_key(dest_key))
        if raw is None:
            raise not_found("private note copy", dest_key)
        record: dict[str, Any] = json.loads(raw)
        return record
