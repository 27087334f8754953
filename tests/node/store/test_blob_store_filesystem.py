"""FilesystemBlobStore: layout, atomicity, limits enforced while streaming, path safety."""

from __future__ import annotations

import hashlib
import io
from collections.abc import Iterator
from pathlib import Path

import pytest

from node.store import (
    BlobCorrupted,
    BlobNotFound,
    BlobStore,
    BlobTooLarge,
    FilesystemBlobStore,
)
from node.streams import IterReader
from schemas.hashes import Digest

MiB = 1024 * 1024


@pytest.fixture
def store(tmp_path: Path) -> FilesystemBlobStore:
    return FilesystemBlobStore(tmp_path / "blobs", max_blob_bytes=64 * MiB)


def blob_files(store: FilesystemBlobStore) -> list[Path]:
    return sorted(p for p in store.root.rglob("*") if p.is_file() and ".tmp" not in p.parts)


def temp_files(store: FilesystemBlobStore) -> list[Path]:
    tmp = store.root / ".tmp"
    return sorted(tmp.iterdir()) if tmp.exists() else []


def test_satisfies_the_protocol(store: FilesystemBlobStore) -> None:
    _: BlobStore = store


def test_put_open_round_trip_and_fan_out_layout(store: FilesystemBlobStore) -> None:
    data = b"sealed evidence bytes"
    digest = store.put(io.BytesIO(data))
    assert digest == Digest.of(data)
    h = hashlib.sha256(data).hexdigest()
    assert blob_files(store) == [store.root / h[:2] / h[2:4] / h]
    assert store.exists(digest)
    with store.open(digest) as f:
        assert f.read() == data
    assert list(store.iter_digests()) == [digest]
    store.verify(digest)
    assert temp_files(store) == []


def test_empty_blob(store: FilesystemBlobStore) -> None:
    digest = store.put(io.BytesIO(b""))
    assert digest == Digest.of(b"")
    with store.open(digest) as f:
        assert f.read() == b""


def test_put_is_idempotent(store: FilesystemBlobStore) -> None:
    first = store.put(io.BytesIO(b"same"))
    path = blob_files(store)[0]
    inode = path.stat().st_ino
    assert store.put(IterReader([b"sa", b"me"])) == first
    assert blob_files(store) == [path]
    assert path.stat().st_ino == inode  # the existing blob was left alone
    assert temp_files(store) == []


def test_missing_blob(store: FilesystemBlobStore) -> None:
    missing = Digest.of(b"never stored")
    assert not store.exists(missing)
    for op in (store.open, store.delete, store.verify):
        with pytest.raises(BlobNotFound) as info:
            op(missing)
        assert info.value.digest == missing


def test_delete(store: FilesystemBlobStore) -> None:
    digest = store.put(io.BytesIO(b"to shred"))
    store.delete(digest)
    assert not store.exists(digest)
    assert list(store.iter_digests()) == []


def test_failing_stream_leaves_nothing_visible(store: FilesystemBlobStore) -> None:
    seen_during_put: list[list[Path]] = []

    def frames() -> Iterator[bytes]:
        yield b"a" * MiB
        yield b"b" * MiB
        # Mid-put: data is on disk in a temp file, but no blob is visible.
        seen_during_put.append(blob_files(store))
        assert len(temp_files(store)) == 1
        raise ConnectionResetError("camera upload dropped")

    with pytest.raises(ConnectionResetError):
        store.put(IterReader(frames()))
    assert seen_during_put == [[]]
    assert blob_files(store) == []
    assert temp_files(store) == []
    assert list(store.iter_digests()) == []


def test_size_limit_is_enforced_while_streaming(store: FilesystemBlobStore) -> None:
    pulled = 0

    def endless() -> Iterator[bytes]:
        nonlocal pulled
        block = b"x" * MiB
        for _ in range(10_000):  # 10 GB if anyone tried to buffer or finish it
            pulled += 1
            yield block

    with pytest.raises(BlobTooLarge) as info:
        store.put(IterReader(endless()), max_bytes=8 * MiB)
    assert info.value.limit == 8 * MiB
    assert pulled <= 9 + 4  # stopped within one copy buffer of the limit
    assert blob_files(store) == []
    assert temp_files(store) == []


def test_store_limit_caps_per_call_limit(tmp_path: Path) -> None:
    small = FilesystemBlobStore(tmp_path, max_blob_bytes=10)
    assert small.put(io.BytesIO(b"x" * 10)) == Digest.of(b"x" * 10)  # exactly at the limit
    with pytest.raises(BlobTooLarge):
        small.put(io.BytesIO(b"x" * 11), max_bytes=1000)


@pytest.mark.parametrize(
    "name",
    ["../../etc/passwd", "sha256:../../etc/passwd", "/etc/passwd", "ab/cd/" + "0" * 64, ""],
)
def test_only_a_digest_can_name_a_blob(store: FilesystemBlobStore, name: str) -> None:
    for op in (store.open, store.exists, store.delete, store.verify):
        with pytest.raises(TypeError):
            op(name)  # type: ignore[arg-type]


def test_verify_reports_on_disk_corruption(store: FilesystemBlobStore) -> None:
    digest = store.put(io.BytesIO(b"original bytes"))
    path = blob_files(store)[0]
    path.write_bytes(b"original byteS")
    with pytest.raises(BlobCorrupted) as info:
        store.verify(digest)
    assert info.value.digest == digest
    assert info.value.actual == Digest.of(b"original byteS")


def test_iter_digests_skips_stray_files(store: FilesystemBlobStore) -> None:
    digest = store.put(io.BytesIO(b"real"))
    (store.root / "ab" / "cd").mkdir(parents=True)
    (store.root / "ab" / "cd" / "notes.txt").write_text("stray")
    (store.root / "ab" / "cd" / ("0" * 64)).write_text("misplaced")
    (store.root / "README").write_text("stray")
    assert list(store.iter_digests()) == [digest]


def test_remove_stale_temp_files(store: FilesystemBlobStore) -> None:
    (store.root / ".tmp").mkdir(parents=True)
    stale = store.root / ".tmp" / "put-crashed"
    stale.write_bytes(b"partial")
    mtime = stale.stat().st_mtime
    assert store.remove_stale_temp_files(now=mtime + 10, max_age_seconds=3600) == 0
    assert store.remove_stale_temp_files(now=mtime + 7200, max_age_seconds=3600) == 1
    assert temp_files(store) == []
