"""Sealing into the blob store and opening back out, end to end on a real filesystem."""

from __future__ import annotations

import hashlib
import io
import tracemalloc
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from node.crypto.key_wrap import EncryptionPrivateKey, KeyRing, NoMatchingKey
from node.crypto.sealing import DataKey, IntegrityError, RandomSource, open_to_path, sealed_size
from node.evidence_sealing import SealedItem, open_from_store, seal_to_store
from node.store import BlobTooLarge, FilesystemBlobStore
from node.streams import IterReader
from schemas.hashes import Digest

MiB = 1024 * 1024
EID = "ev-2024-000123"
URBAN = EncryptionPrivateKey.from_raw(b"\x11" * 32)
POLICE = EncryptionPrivateKey.from_raw(b"\x22" * 32)
MARKET = EncryptionPrivateKey.from_raw(b"\x33" * 32)
PLAIN = hashlib.shake_256(b"clip").digest(3 * MiB + 123)


@pytest.fixture
def store(tmp_path: Path) -> FilesystemBlobStore:
    return FilesystemBlobStore(tmp_path / "blobs", max_blob_bytes=1024 * MiB)


def seal(store: FilesystemBlobStore, random: RandomSource | None = None) -> SealedItem:
    extra = {} if random is None else {"random": random}
    return seal_to_store(
        io.BytesIO(PLAIN),
        evidence_id=EID,
        recipients=[URBAN.public_key(), POLICE.public_key()],
        store=store,
        max_bytes=100 * MiB,
        **extra,  # type: ignore[arg-type]
    )


def open_as(
    store: FilesystemBlobStore, item: SealedItem, key: EncryptionPrivateKey, dest: Path
) -> None:
    open_from_store(
        store,
        evidence_id=item.evidence_id,
        ciphertext=item.ciphertext,
        wrapped_key=item.wrapped_keys[key.public_key().key_id],
        keyring=KeyRing(key),
        expected_plaintext=item.plaintext,
        destination=dest,
    )


def test_each_recipient_can_open(store: FilesystemBlobStore, tmp_path: Path) -> None:
    item = seal(store)
    assert item.plaintext == Digest.of(PLAIN)
    assert item.plaintext_size == len(PLAIN)
    assert item.ciphertext_size == sealed_size(len(PLAIN))
    assert list(store.iter_digests()) == [item.ciphertext]
    store.verify(item.ciphertext)
    assert set(item.wrapped_keys) == {URBAN.public_key().key_id, POLICE.public_key().key_id}
    for key in (URBAN, POLICE):
        dest = tmp_path / f"{key.public_key().key_id.hex[:8]}.mp4"
        open_as(store, item, key, dest)
        assert dest.read_bytes() == PLAIN


def test_a_department_without_a_wrap_cannot_open(
    store: FilesystemBlobStore, tmp_path: Path
) -> None:
    item = seal(store)
    with pytest.raises(NoMatchingKey):
        open_from_store(
            store,
            evidence_id=EID,
            ciphertext=item.ciphertext,
            wrapped_key=item.wrapped_keys[URBAN.public_key().key_id],
            keyring=KeyRing(MARKET),
            expected_plaintext=item.plaintext,
            destination=tmp_path / "out",
        )


def test_ledger_hash_mismatch_or_other_id_is_refused(
    store: FilesystemBlobStore, tmp_path: Path
) -> None:
    item = seal(store)
    dest = tmp_path / "out.mp4"
    common = {
        "ciphertext": item.ciphertext,
        "wrapped_key": item.wrapped_keys[URBAN.public_key().key_id],
        "keyring": KeyRing(URBAN),
        "destination": dest,
    }
    with pytest.raises(IntegrityError):
        open_from_store(store, evidence_id=EID, expected_plaintext=Digest.of(b"other"), **common)  # type: ignore[arg-type]
    with pytest.raises(IntegrityError):
        open_from_store(store, evidence_id="ev-other", expected_plaintext=item.plaintext, **common)  # type: ignore[arg-type]
    assert not dest.exists()


def test_plaintext_limit_enforced_while_streaming(store: FilesystemBlobStore) -> None:
    pulled = 0

    def frames() -> Iterator[bytes]:
        nonlocal pulled
        block = b"f" * MiB
        for _ in range(10_000):
            pulled += 1
            yield block

    with pytest.raises(BlobTooLarge):
        seal_to_store(
            IterReader(frames()),
            evidence_id=EID,
            recipients=[URBAN.public_key()],
            store=store,
            max_bytes=4 * MiB,
        )
    assert pulled <= 6
    assert list(store.iter_digests()) == []
    assert list((store.root / ".tmp").iterdir()) == []


def test_recipients_are_required_and_distinct(store: FilesystemBlobStore) -> None:
    for recipients in ([], [URBAN.public_key(), URBAN.public_key()]):
        with pytest.raises(ValueError, match="recipient"):
            seal_to_store(
                io.BytesIO(b"x"), evidence_id=EID, recipients=recipients, store=store, max_bytes=10
            )
    assert list(store.iter_digests()) == []


def test_crypto_shredding(
    store: FilesystemBlobStore, tmp_path: Path, det_random: Callable[[], object]
) -> None:
    random = det_random()
    item = seal(store, random)  # type: ignore[arg-type]
    data_key = random.outputs[0]  # type: ignore[attr-defined]
    assert len(data_key) == 32
    # The data key is nowhere at rest: not in the blob, not in any wrap.
    with store.open(item.ciphertext) as f:
        assert data_key not in f.read()
    for wrapped in item.wrapped_keys.values():
        assert data_key not in wrapped.to_json()
        assert data_key.hex().encode() not in wrapped.to_json()
    # Sanity: the recorded key really is the data key.
    with store.open(item.ciphertext) as f:
        open_to_path(f, tmp_path / "probe", data_key=DataKey(data_key), evidence_id=EID)

    # Shred: destroy every persisted wrap of this item's data key. What remains (the blob,
    # the departments' private keys, wraps of *other* items) no longer opens it.
    persisted = {kid: w.to_json() for kid, w in item.wrapped_keys.items()}
    persisted.clear()
    other = seal_to_store(
        io.BytesIO(b"another clip"),
        evidence_id=EID,
        recipients=[URBAN.public_key()],
        store=store,
        max_bytes=MiB,
    )
    with pytest.raises(IntegrityError):
        open_from_store(
            store,
            evidence_id=EID,
            ciphertext=item.ciphertext,
            wrapped_key=other.wrapped_keys[URBAN.public_key().key_id],
            keyring=KeyRing(URBAN),
            expected_plaintext=item.plaintext,
            destination=tmp_path / "shredded",
        )
    for guess in (DataKey.generate(), DataKey(b"\x11" * 32), DataKey(b"\x22" * 32)):
        with store.open(item.ciphertext) as f, pytest.raises(IntegrityError):
            open_to_path(f, tmp_path / "shredded", data_key=guess, evidence_id=EID)
    assert not (tmp_path / "shredded").exists()


def test_sealing_200_mb_end_to_end_keeps_memory_flat(store: FilesystemBlobStore) -> None:
    block = b"\x5a" * MiB

    def frames() -> Iterator[bytes]:
        for _ in range(200):
            yield block

    tracemalloc.start()
    try:
        item = seal_to_store(
            IterReader(frames()),
            evidence_id=EID,
            recipients=[URBAN.public_key()],
            store=store,
            max_bytes=256 * MiB,
        )
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert item.plaintext_size == 200 * MiB
    assert (store.root / item.ciphertext.hex[:2]).exists()
    assert peak < 16 * MiB, f"peak traced memory {peak / MiB:.1f} MiB"
