"""Sealing evidence into the department's blob store, and opening it back out.

``seal_to_store`` streams end to end: the plaintext is hashed and encrypted chunk by chunk while
the blob store pulls the sealed stream into its temporary file, so neither a 2 GB clip nor its
ciphertext is ever held in memory or written twice. The data key lives only inside the call;
what comes back (:class:`SealedItem`) holds it only wrapped, once per recipient department.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

from node.crypto.key_wrap import EncryptionPublicKey, KeyRing, WrappedKey, wrap_key
from node.crypto.sealing import (
    DEFAULT_CHUNK_SIZE,
    ChunkOpener,
    DataKey,
    OpenResult,
    RandomSource,
    open_to_path,
    seal_reader,
    sealed_size,
)
from node.store import BlobStore, BlobTooLarge
from node.streams import Readable
from schemas.hashes import Digest


@dataclass(frozen=True, slots=True)
class SealedItem:
    """What sealing one item produced: the facts the ledger records plus the wrapped keys."""

    evidence_id: str
    plaintext: Digest
    ciphertext: Digest
    plaintext_size: int
    ciphertext_size: int
    wrapped_keys: Mapping[Digest, WrappedKey]
    """One wrap of the data key per recipient, by recipient key id."""


class _LimitedReader:
    """Fails as soon as the plaintext passes ``limit``, before the excess is encrypted."""

    __slots__ = ("_limit", "_read", "_reader")

    def __init__(self, reader: Readable, limit: int) -> None:
        self._reader, self._limit, self._read = reader, limit, 0

    def read(self, size: int = -1, /) -> bytes:
        data = self._reader.read(size)
        self._read += len(data)
        if self._read > self._limit:
            raise BlobTooLarge(self._limit)
        return data


def seal_to_store(
    plaintext: Readable,
    *,
    evidence_id: str,
    recipients: Sequence[EncryptionPublicKey],
    store: BlobStore,
    max_bytes: int,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    random: RandomSource = os.urandom,
) -> SealedItem:
    """Encrypt ``plaintext`` under a fresh data key into ``store``; wrap the key to each
    recipient.

    Raises:
        ValueError: no recipients, duplicate recipients, or a bad evidence id / chunk size.
        BlobTooLarge: the plaintext exceeds ``max_bytes`` (checked while streaming; the rest of
            the stream is not read and nothing is stored).
        StoreError: the store could not write.
        SealingError: a recipient key is unusable.
    """
    key_ids = [r.key_id for r in recipients]
    if not key_ids or len(set(key_ids)) != len(key_ids):
        raise ValueError("need at least one recipient, each once")
    data_key = DataKey.generate(random)
    # Wrap first: a bad recipient key then fails before any bytes are written.
    wrapped = {r.key_id: wrap_key(data_key, r, evidence_id, random) for r in recipients}
    sealed = seal_reader(
        _LimitedReader(plaintext, max_bytes),
        data_key=data_key,
        evidence_id=evidence_id,
        chunk_size=chunk_size,
        random=random,
    )
    # The store hashes the sealed bytes as it writes them: that hash is the ciphertext digest.
    ciphertext = store.put(sealed, max_bytes=sealed_size(max_bytes, chunk_size))
    result = sealed.result
    return SealedItem(
        evidence_id=evidence_id,
        plaintext=result.plaintext,
        ciphertext=ciphertext,
        plaintext_size=result.plaintext_size,
        ciphertext_size=result.ciphertext_size,
        wrapped_keys=MappingProxyType(wrapped),
    )


def open_from_store(
    store: BlobStore,
    *,
    evidence_id: str,
    ciphertext: Digest,
    wrapped_key: WrappedKey,
    keyring: KeyRing,
    expected_plaintext: Digest,
    destination: Path,
) -> OpenResult:
    """Decrypt a stored item into ``destination``, which appears only if everything verified:
    every chunk, the ciphertext digest and the plaintext digest (as registered on the ledger).

    Raises:
        BlobNotFound: no blob ``ciphertext`` in ``store``.
        NoMatchingKey: ``keyring`` cannot unwrap ``wrapped_key``.
        IntegrityError: the wrap, the blob or the plaintext failed verification.
        OSError: ``destination`` could not be written.
    """
    data_key = keyring.unwrap(wrapped_key, evidence_id)
    with store.open(ciphertext) as blob:
        result = open_to_path(
            blob,
            destination,
            data_key=data_key,
            evidence_id=evidence_id,
            expected_plaintext=expected_plaintext,
            # A store serving other bytes than it names is refused even if they decrypt.
            expected_ciphertext=ciphertext,
        )
    return result


@contextmanager
def chunks_from_store(
    store: BlobStore,
    *,
    evidence_id: str,
    ciphertext: Digest,
    wrapped_key: WrappedKey,
    keyring: KeyRing,
) -> Iterator[ChunkOpener]:
    """A stored item's plaintext, opened chunk by chunk (see
    :class:`~node.crypto.sealing.ChunkOpener`); publish nothing of it before the opener
    has ended.

    The blob is found by its digest and not hashed again: every chunk authenticates under
    the item's own key and id, so other bytes (a store serving the wrong blob, a flipped
    bit, a cut) fail there.

    Raises:
        BlobNotFound, NoMatchingKey: as :func:`open_from_store` (on entry).
        IntegrityError: the blob's header is not a sealed stream's (on entry).
    """
    data_key = keyring.unwrap(wrapped_key, evidence_id)
    with store.open(ciphertext) as blob:
        yield ChunkOpener(blob, data_key, evidence_id)
