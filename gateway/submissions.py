"""Checks every evidence submission passes before anything of it is stored: a device's
claims (``/devices/submissions``) and an officer's capture on the spot (``/captures``)."""

from __future__ import annotations

from collections.abc import Collection

from fastapi import Request

from gateway.deps import GatewayDeps
from gateway.problems import Problem
from gateway.uploads import Upload, read_multipart
from node.package import ClaimsArchive
from schemas.claims import EvidenceClaims, canonical_bytes, evidence_id_for


async def read_submission(request: Request, deps: GatewayDeps, parts: Collection[str]) -> Upload:
    """The submission's body as it streams in: ``parts`` (signed documents, a form) kept in
    memory under the claims limit, every other part a file spooled under the upload limit.

    Raises:
        Problem: 415, 413 or 422 as the reader finds them; nothing is left spooled.
    """
    return await read_multipart(
        request.headers.get("content-type", ""),
        request.stream(),
        spool_dir=deps.spool_dir,
        max_file_bytes=deps.max_upload_bytes,
        max_field_bytes=deps.max_claims_bytes,
        field_names=parts,
    )


def check_idempotency_key(key: str | None, event_id: object) -> None:
    """An ``Idempotency-Key`` header, when sent, must name the submission's event: a client
    that retries one event under another's key has a bug worth stopping at the door."""
    if key is not None and key != event_id:
        raise Problem(
            422,
            "IDEMPOTENCY_KEY_MISMATCH",
            f"Idempotency-Key {key[:80]!r} is not the submission's event id",
        )


def check_same_event(archive: ClaimsArchive | None, claims: EvidenceClaims) -> None:
    """A replay must be the event already stored, claim for claim.

    Ingest answers a replay from its index (same ids, same bytes: ``duplicate``) and the
    claims are archived again after it. Other claims under a stored event id (another time,
    place or detection) would replace the archived ones, which the ledger's ``claims_hash``
    no longer matches: every later package of the item would fail verification. So they are
    refused here, before anything is stored.
    """
    if archive is None:
        return
    sent = canonical_bytes(claims)
    if any(archive.holds_other(evidence_id_for(claims, m), sent) for m in claims.media):
        raise Problem(
            409,
            "EVENT_CONFLICT",
            f"event {claims.event_id!r} is already stored with other claims; a new event "
            "needs an event id of its own",
        )
