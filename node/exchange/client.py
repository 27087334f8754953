"""The requesting node's side: fetch an item and open it only if it matches the ledger."""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc

from node.crypto.key_wrap import KeyRing
from node.crypto.sealing import OpenResult, open_to_path
from node.crypto.wrapped_key import WrappedKey
from node.exchange.policy import ReleaseRefused
from node.exchange.server import FETCH, request_bytes
from schemas.hashes import Digest, Hasher


class FetchFailed(Exception):
    """The owner's answer was malformed or did not match the ledger."""


@dataclass(frozen=True)
class Released:
    """What the owner released: the opened item and its provenance as the owner keeps it —
    the device-signed capture claims (``{"claims", "signature", "certificate"}``) of a
    captured item, the derivation description of a redacted copy; checked by verifiers."""

    opened: OpenResult
    claims: dict[str, Any] | None
    derivation: dict[str, Any] | None = None


async def fetch(
    channel: grpc.aio.Channel,
    *,
    evidence_id: str,
    access_tx: str,
    keyring: KeyRing,
    ledger_plaintext: Digest,
    ledger_ciphertext: Digest,
    destination: Path,
    timeout: float = 300,
) -> Released:
    """Fetch ``evidence_id`` from its owner against ``access_tx`` into ``destination``.

    ``ledger_*`` are the hashes from the evidence record on the ledger: the file appears
    only if the ciphertext and the decrypted plaintext both match them.

    Raises:
        ReleaseRefused: the owner refused (its stable code and message).
        FetchFailed: a malformed answer, or bytes that do not match the ledger.
        grpc.aio.AioRpcError: the owner could not be reached.
    """
    call = channel.unary_stream(FETCH, request_serializer=None, response_deserializer=None)
    stream = call(request_bytes(evidence_id, access_tx), timeout=timeout)
    fd, tmp_name = tempfile.mkstemp(prefix=".fetch-", dir=destination.parent)
    tmp = Path(tmp_name)
    try:
        header: dict[str, object] | None = None
        hasher = Hasher()
        with os.fdopen(fd, "wb") as out:
            try:
                async for message in stream:
                    if header is None:
                        header = json.loads(message)
                        continue
                    hasher.update(message)
                    out.write(message)
            except grpc.aio.AioRpcError as err:
                if err.code() == grpc.StatusCode.PERMISSION_DENIED:
                    doc = json.loads(err.details() or "{}")
                    raise ReleaseRefused(str(doc.get("code")), str(doc.get("message"))) from err
                raise
        if header is None:
            raise FetchFailed("the owner sent nothing")
        if hasher.digest() != ledger_ciphertext:
            raise FetchFailed("the ciphertext does not match the hash on the ledger")
        claims, derivation = header.get("claims"), header.get("derivation")
        if claims is not None and not _signed_claims(claims):
            raise FetchFailed("the owner sent malformed capture claims")
        if derivation is not None and not isinstance(derivation, dict):
            raise FetchFailed("the owner sent a malformed derivation description")
        assert claims is None or isinstance(claims, dict)  # (checked just above)
        wrapped = WrappedKey.from_dict(header["wrapped_key"])
        data_key = keyring.unwrap(wrapped, evidence_id)
        with tmp.open("rb") as blob:
            result = open_to_path(
                blob,
                destination,
                data_key=data_key,
                evidence_id=evidence_id,
                expected_plaintext=ledger_plaintext,
            )
        return Released(result, claims, derivation)
    finally:
        tmp.unlink(missing_ok=True)


def _signed_claims(doc: object) -> bool:
    """Whether ``doc`` has the shape of signed claims (their content is the verifier's)."""
    return (
        isinstance(doc, dict)
        and set(doc) == {"claims", "signature", "certificate"}
        and isinstance(doc["claims"], dict)
        and isinstance(doc["signature"], str)
        and isinstance(doc["certificate"], str)
    )
