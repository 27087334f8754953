"""The owner node's side: a gRPC service over mutual TLS, one server-streaming method.

Request: JSON ``{"evidence_id", "access_tx"}``. Response: a JSON header (hashes and the
data key wrapped to the requester's published org key), then the ciphertext in chunks.
The requester's org is the department whose TLS CA issued its client certificate; a
refusal is a PERMISSION_DENIED status whose details are ``{"code", "message"}``, logged.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import grpc
from cryptography import x509

from node.crypto.key_wrap import EncryptionPublicKey, KeyRing, rewrap
from node.crypto.pki import issued_by
from node.crypto.wrapped_key import WrappedKey
from node.exchange.policy import DEFAULT_MAX_AGE, ReleaseRefused, check_release
from node.store import BlobStore
from schemas.canonical import canonical_json
from schemas.hashes import Digest
from schemas.ledger import AccessRecord

log = logging.getLogger(__name__)

SERVICE = "evidencenet.exchange.Exchange"
FETCH = f"/{SERVICE}/Fetch"
CHUNK = 256 * 1024
MAX_REQUEST = 4096


@dataclass(frozen=True)
class HeldItem:
    ciphertext: Digest
    plaintext: Digest
    wrapped_key: WrappedKey  # wrapped to this org's key
    # Released with the bytes, for packages: the device-signed capture claims, or, for a
    # redacted copy, its derivation description.
    claims: Mapping[str, object] | None = None
    derivation: Mapping[str, object] | None = None


class OwnerItems(Protocol):
    """What the server needs from the node and its peer (collaborators, for tests)."""

    async def access_record(self, tx_id: str) -> AccessRecord | None: ...

    async def item(self, evidence_id: str) -> HeldItem | None: ...

    async def org_public_key(self, msp_id: str) -> EncryptionPublicKey: ...


def org_of(cert_pem: bytes, tls_cas: Mapping[str, bytes]) -> str | None:
    """The MSP id whose TLS CA signed ``cert_pem`` (the TLS handshake already verified the
    chain against the union of CAs; this tells which one)."""
    cert = x509.load_pem_x509_certificate(cert_pem)
    for msp_id, ca_pem in tls_cas.items():
        if issued_by(cert, x509.load_pem_x509_certificate(ca_pem)):
            return msp_id
    return None


class ExchangeServer:
    def __init__(
        self,
        items: OwnerItems,
        store: BlobStore,
        keyring: KeyRing,
        tls_cas: Mapping[str, bytes],
        *,
        clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
        max_age: dt.timedelta = DEFAULT_MAX_AGE,
    ) -> None:
        self._items, self._store, self._keyring = items, store, keyring
        self._tls_cas = dict(tls_cas)
        self._clock, self._max_age = clock, max_age
        self._server: grpc.aio.Server | None = None

    async def start(self, address: str, tls_cert: bytes, tls_key: bytes) -> int:
        """Listen on ``address`` (port 0 picks one); return the port."""
        server = grpc.aio.server()
        handler = grpc.method_handlers_generic_handler(
            SERVICE, {"Fetch": grpc.unary_stream_rpc_method_handler(self._fetch)}
        )
        server.add_generic_rpc_handlers((handler,))
        creds = grpc.ssl_server_credentials(
            [(tls_key, tls_cert)],
            root_certificates=b"".join(self._tls_cas.values()),
            require_client_auth=True,
        )
        port = server.add_secure_port(address, creds)
        await server.start()
        self._server = server
        return port

    async def stop(self) -> None:
        if self._server is not None:
            await self._server.stop(grace=1)

    async def _refuse(self, context: Any, org: str | None, refused: ReleaseRefused) -> None:
        log.warning("exchange: refused %s: %s", org or "unknown requester", refused)
        await context.abort(
            grpc.StatusCode.PERMISSION_DENIED,
            canonical_json({"code": refused.code, "message": refused.message}).decode(),
        )

    async def _fetch(self, request: bytes, context: Any) -> AsyncIterator[bytes]:
        certs = context.auth_context().get("x509_pem_cert") or []
        org = org_of(certs[0], self._tls_cas) if certs else None
        try:
            if org is None:
                raise ReleaseRefused(
                    "UNKNOWN_REQUESTER", "the client certificate names no department"
                )
            evidence_id, access_tx = _parse(request)
            record = await self._items.access_record(access_tx)
            check_release(
                record,
                access_tx=access_tx,
                requester_org=org,
                evidence_id=evidence_id,
                now=self._clock(),
                max_age=self._max_age,
            )
            held = await self._items.item(evidence_id)
            if held is None:
                raise ReleaseRefused("NOT_HELD", f"this node does not hold {evidence_id}")
            recipient = await self._items.org_public_key(org)
            wrapped = rewrap(held.wrapped_key, self._keyring, recipient, evidence_id)
        except ReleaseRefused as refused:
            await self._refuse(context, org, refused)
            return
        log.info("exchange: releasing %s to %s against %s", evidence_id, org, access_tx[:16])
        yield canonical_json(
            {
                "evidence_id": evidence_id,
                "ciphertext": str(held.ciphertext),
                "plaintext": str(held.plaintext),
                "wrapped_key": wrapped.to_dict(),
                "claims": None if held.claims is None else dict(held.claims),
                "derivation": None if held.derivation is None else dict(held.derivation),
            }
        )
        with self._store.open(held.ciphertext) as blob:
            while chunk := blob.read(CHUNK):
                yield chunk


def _parse(request: bytes) -> tuple[str, str]:
    if len(request) > MAX_REQUEST:
        raise ReleaseRefused("BAD_REQUEST", "request too large")
    try:
        doc = json.loads(request)
        evidence_id, access_tx = doc["evidence_id"], doc["access_tx"]
    except (ValueError, KeyError, TypeError):
        raise ReleaseRefused("BAD_REQUEST", 'expected JSON {"evidence_id", "access_tx"}') from None
    if (
        not isinstance(evidence_id, str)
        or not isinstance(access_tx, str)
        or set(doc) != {"evidence_id", "access_tx"}
    ):
        raise ReleaseRefused("BAD_REQUEST", 'expected JSON {"evidence_id", "access_tx"}')
    return evidence_id, access_tx


def request_bytes(evidence_id: str, access_tx: str) -> bytes:
    return canonical_json({"evidence_id": evidence_id, "access_tx": access_tx})


__all__ = ["ExchangeServer", "HeldItem", "OwnerItems", "org_of", "request_bytes"]
