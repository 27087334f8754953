"""The package builder's evidence step without a ledger: the department's own items,
decrypted from its store straight into the archive file, or refused.

The whole build, with the ledger, runs in tests/network/test_package_network.py.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import os
import tarfile
import threading
import time
from pathlib import Path
from typing import BinaryIO

import pytest

from node.crypto.sealing import DEFAULT_CHUNK_SIZE, IntegrityError
from node.department import NodeParts, NodePaths, open_parts
from node.evidence_sealing import seal_to_store
from node.package import evidence_files
from node.package import manifest as layout
from node.package.archive_file import ArchiveFile
from node.package.manifest import Item
from node.store import BlobNotFound
from schemas.hashes import Digest

C = DEFAULT_CHUNK_SIZE


@pytest.fixture
def parts(tmp_path: Path) -> NodeParts:
    return open_parts(NodePaths(tmp_path / "node"))


def _plaintext(n: int, size: int) -> bytes:
    return hashlib.shake_256(f"item-{n}".encode()).digest(size) if size else b""


def _seal(parts: NodeParts, n: int, data: bytes, chunk_size: int = C) -> tuple[Item, Digest]:
    evidence_id = f"EV-{n:04d}"
    sealed = seal_to_store(
        io.BytesIO(data),
        evidence_id=evidence_id,
        recipients=[parts.keyring.current],
        store=parts.store,
        max_bytes=len(data),
        chunk_size=chunk_size,
    )
    parts.vault.put(evidence_id, sealed.wrapped_keys[parts.keyring.current.key_id])
    item = Item(
        evidence_id=evidence_id,
        path=layout.evidence_path(evidence_id),
        sha256=str(sealed.plaintext),
        size=len(data),
        media_type="video/mp4",
        owner_org="UrbanManagementMSP",
        registered_tx=f"tx-{n}",
    )
    return item, sealed.ciphertext


def _granted(items: list[Item]) -> dict[str, threading.Event]:
    grants = {i.evidence_id: threading.Event() for i in items}
    for grant in grants.values():
        grant.set()
    return grants


def _write(
    parts: NodeParts,
    out: Path,
    items: list[Item],
    ciphertexts: dict[str, Digest],
    stop: threading.Event | None = None,
    granted: dict[str, threading.Event] | None = None,
    after: dict[str, bytes] | None = None,
) -> None:
    """As the builder writes: the own evidence, then tarfile's members (``after``) and end."""
    with ArchiveFile(out) as file:  # around the page cache
        evidence_files.write_own_evidence(
            file,
            items,
            ciphertexts,
            _granted(items) if granted is None else granted,
            parts,
            stop or threading.Event(),
        )
        with tarfile.TarFile(fileobj=file, mode="w", format=evidence_files.FORMAT) as archive:
            for name, data in (after or {}).items():
                archive.addfile(evidence_files.member_info(name, len(data)), io.BytesIO(data))


def _members(path: Path) -> dict[str, bytes]:
    with tarfile.open(path) as archive:
        return {
            m.name: archive.extractfile(m).read()  # type: ignore[union-attr]
            for m in archive.getmembers()
        }


def _writing_threads() -> int:
    """Threads the evidence step left running (the archive file's disk thread)."""
    return sum(1 for t in threading.enumerate() if t.name.startswith("archive-file"))


def test_items_of_every_size_and_chunk_size_come_out_whole(
    parts: NodeParts, tmp_path: Path
) -> None:
    sizes = [0, 1, C - 1, C, C + 1, 3 * C + 5]
    cases = [(size, C) for size in sizes] + [(200_000, 64 * 1024), (5 * C + 3, 4 * C)]
    plain = {}
    items, ciphertexts = [], {}
    for n, (size, chunk_size) in enumerate(cases):
        data = _plaintext(n, size)
        item, ciphertext = _seal(parts, n, data, chunk_size)
        items.append(item)
        ciphertexts[item.evidence_id] = ciphertext
        plain[item.path] = data
    out = tmp_path / "case.tar"
    after = {layout.MANIFEST: b"{}", "a/" + "long-name-" * 12: b"x" * 700}
    _write(parts, out, items, ciphertexts, after=after)
    assert _members(out) == plain | after
    assert _writing_threads() == 0
    # Byte for byte the archive tarfile writes for the same members by itself.
    reference = io.BytesIO()
    with tarfile.TarFile(fileobj=reference, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for name, data in (plain | after).items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o644
            archive.addfile(info, io.BytesIO(data))
    assert out.read_bytes() == reference.getvalue()


def test_a_long_member_name_gets_its_extended_header() -> None:
    name = "evidence/" + "x" * 120 + "/clip.mp4"
    header = evidence_files.member_header(name, 5)
    with tarfile.open(fileobj=io.BytesIO(header + b"hello" + bytes(507) + bytes(1024))) as tar:
        (member,) = tar.getmembers()
    assert (member.name, member.size) == (name, 5)
    assert len(header) > tarfile.BLOCKSIZE


@pytest.mark.parametrize("ledger_size", ["shorter", "longer"])
def test_a_plaintext_not_of_the_ledgers_size_is_refused(
    parts: NodeParts, tmp_path: Path, ledger_size: str
) -> None:
    item, ciphertext = _seal(parts, 1, _plaintext(1, 2 * C + 7))
    wrong = item.size - 1 if ledger_size == "shorter" else item.size + 1
    with pytest.raises(IntegrityError):
        _write(
            parts,
            tmp_path / "case.tar",
            [item.model_copy(update={"size": wrong})],
            {item.evidence_id: ciphertext},
        )
    assert _writing_threads() == 0


def test_a_tampered_blob_fails_after_the_items_before_it(parts: NodeParts, tmp_path: Path) -> None:
    first, first_ct = _seal(parts, 1, _plaintext(1, C + 3))
    second, second_ct = _seal(parts, 2, _plaintext(2, 3 * C))
    blob = parts.store.root / second_ct.hex[:2] / second_ct.hex[2:4] / second_ct.hex
    os.chmod(blob, 0o600)
    with blob.open("r+b") as f:
        f.seek(2 * C)
        byte = f.read(1)
        f.seek(2 * C)
        f.write(bytes([byte[0] ^ 1]))
    with pytest.raises(IntegrityError):
        _write(
            parts,
            tmp_path / "case.tar",
            [first, second],
            {first.evidence_id: first_ct, second.evidence_id: second_ct},
        )
    assert _writing_threads() == 0


def test_a_missing_blob_is_named(parts: NodeParts, tmp_path: Path) -> None:
    item, _ = _seal(parts, 1, _plaintext(1, 10))
    with pytest.raises(BlobNotFound):
        _write(parts, tmp_path / "case.tar", [item], {item.evidence_id: Digest.of(b"other")})


def test_a_stopped_build_stops_decrypting(parts: NodeParts, tmp_path: Path) -> None:
    items, ciphertexts = [], {}
    for n in range(3):
        item, ciphertext = _seal(parts, n, _plaintext(n, 4 * C))
        items.append(item)
        ciphertexts[item.evidence_id] = ciphertext
    stop = threading.Event()
    stop.set()
    with pytest.raises(evidence_files.Stopped):
        _write(parts, tmp_path / "case.tar", items, ciphertexts, stop)
    assert _writing_threads() == 0


def test_an_item_is_opened_only_once_its_export_is_granted(
    parts: NodeParts, tmp_path: Path
) -> None:
    items, ciphertexts = [], {}
    for n in range(2):
        item, ciphertext = _seal(parts, n, _plaintext(n, C + n))
        items.append(item)
        ciphertexts[item.evidence_id] = ciphertext
    opened: list[Digest] = []
    store = parts.store

    class Spy:
        def open(self, digest: Digest) -> BinaryIO:
            opened.append(digest)
            return store.open(digest)

    grants = {i.evidence_id: threading.Event() for i in items}
    grants[items[0].evidence_id].set()
    out = tmp_path / "case.tar"
    failed: list[BaseException] = []

    def write() -> None:
        try:
            _write(dataclasses.replace(parts, store=Spy()), out, items, ciphertexts, None, grants)  # type: ignore[arg-type]
        except BaseException as exc:
            failed.append(exc)

    writer = threading.Thread(target=write)
    writer.start()
    deadline = time.monotonic() + 10
    while not opened and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.3)  # time enough to open the next item, were it not waiting
    assert opened == [ciphertexts[items[0].evidence_id]]
    grants[items[1].evidence_id].set()
    writer.join(10)
    assert not failed
    assert opened == [ciphertexts[i.evidence_id] for i in items]
    assert _members(out) == {i.path: _plaintext(n, C + n) for n, i in enumerate(items)}


def test_member_bytes_is_what_the_archive_spends_on_short_names(tmp_path: Path) -> None:
    sizes = [0, 1, 511, 512, 513, 3 * C + 5]
    path = tmp_path / "plain.tar"
    with tarfile.TarFile(path, "w", format=tarfile.PAX_FORMAT) as archive:
        for n, size in enumerate(sizes):
            info = tarfile.TarInfo(layout.evidence_path(f"EV-{n}"))
            info.size = size
            archive.addfile(info, io.BytesIO(bytes(size)))
        written = archive.offset
    assert evidence_files.member_bytes(sizes) == written
