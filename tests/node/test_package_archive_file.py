"""The package archive's file: written around the page cache where the filesystem allows,
through it where not, the same bytes on disk either way."""

from __future__ import annotations

import errno
import hashlib
import io
import os
import tarfile
from pathlib import Path
from typing import Any

import pytest

from node.package import archive_file
from node.package.archive_file import SPILL, STAGE, STAGES, ArchiveFile


def _bytes(n: int, size: int) -> bytes:
    return hashlib.shake_256(f"part-{n}".encode()).digest(size) if size else b""


# Writes of awkward sizes: empty, under a page, a tar block, exactly a stage, across stages.
WRITES = [0, 1, 511, 512, 4095, 4096, STAGE - 1, STAGE, STAGE + 1, 3 * STAGE + 17]


@pytest.mark.parametrize("direct", [True, False], ids=["direct", "through the cache"])
def test_the_file_holds_exactly_what_was_written(tmp_path: Path, direct: bool) -> None:
    path = tmp_path / "archive.tar"
    parts = [_bytes(n, size) for n, size in enumerate(WRITES)]
    file = ArchiveFile(path, direct=direct)
    for n, part in enumerate(parts):
        assert file.write(memoryview(part) if n % 2 else part) == len(part)
        assert file.tell() == sum(len(p) for p in parts[: n + 1])
    file.close()
    assert path.read_bytes() == b"".join(parts)


def test_a_short_file_is_cut_back_from_its_padded_page(tmp_path: Path) -> None:
    path = tmp_path / "short.tar"
    with ArchiveFile(path) as file:
        file.write(b"evidence")
    assert path.read_bytes() == b"evidence"
    with ArchiveFile(path) as file:  # an existing file is truncated, as "wb" would
        pass
    assert path.read_bytes() == b""


def test_on_linux_ext4_and_tmpfs_the_writes_bypass_the_page_cache(tmp_path: Path) -> None:
    # Where the kernel and filesystem support O_DIRECT (Linux on ext4, xfs, and tmpfs since
    # 6.6) the file must take it: that is what this module is for. Elsewhere it says why.
    if not hasattr(os, "O_DIRECT"):
        pytest.fail("this platform has no O_DIRECT; the archive file is written through the cache")
    with ArchiveFile(tmp_path / "archive.tar") as file:
        file.write(_bytes(0, STAGE + 5))
        assert file.direct, f"{tmp_path} refused direct I/O (filesystem without O_DIRECT?)"


def test_a_filesystem_without_direct_io_is_written_through_the_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_open = os.open

    def no_direct(path: Any, flags: int, mode: int = 0o777) -> int:
        if flags & archive_file._O_DIRECT:
            raise OSError(errno.EINVAL, "Invalid argument")
        return real_open(path, flags, mode)

    monkeypatch.setattr(os, "open", no_direct)
    path = tmp_path / "archive.tar"
    data = _bytes(1, 2 * STAGE + 3)
    with ArchiveFile(path) as file:
        assert not file.direct
        file.write(data)
    assert path.read_bytes() == data


def test_a_direct_write_refused_midway_goes_on_through_the_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_pwrite = os.pwrite
    refused: list[int] = []

    def refuse_once(fd: int, data: Any, offset: int) -> int:
        if not refused and offset == STAGE:  # the second stage: the first went direct
            refused.append(offset)
            raise OSError(errno.EINVAL, "Invalid argument")
        return real_pwrite(fd, data, offset)

    monkeypatch.setattr(os, "pwrite", refuse_once)
    path = tmp_path / "archive.tar"
    data = _bytes(2, 3 * STAGE + 100)
    file = ArchiveFile(path)
    file.write(data)
    file.close()
    assert refused == [STAGE]
    assert not file.direct
    assert path.read_bytes() == data


def test_other_write_errors_are_raised_not_hidden(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def full(fd: int, data: Any, offset: int) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "pwrite", full)
    file = ArchiveFile(tmp_path / "long.tar")
    with pytest.raises(OSError, match="No space") as raised:
        file.write(_bytes(3, 3 * STAGE))  # the third stage waits for the first's write
    assert raised.value.errno == errno.ENOSPC
    file.discard()
    assert file.closed
    file = ArchiveFile(tmp_path / "short.tar")
    file.write(b"evidence")
    with pytest.raises(OSError, match="No space"):
        file.close()
    assert file.closed


def test_discarding_writes_nothing_more_and_closes(tmp_path: Path) -> None:
    path = tmp_path / "archive.tar"
    file = ArchiveFile(path)
    file.write(_bytes(4, STAGES * STAGE + 10))
    file.discard()
    assert file.closed
    # The first stage was written (handing over the last waited for it); the others were
    # being written or are cancelled; the partial last one never goes out.
    assert path.stat().st_size in range(STAGE, STAGES * STAGE + 1, STAGE)
    file.discard()  # twice is harmless
    file.close()
    with pytest.raises(ValueError, match="closed"):
        file.write(b"more")


def test_a_with_block_ending_in_an_error_discards_the_file(tmp_path: Path) -> None:
    path = tmp_path / "archive.tar"
    file = ArchiveFile(path)

    def build() -> None:
        with file:
            file.write(_bytes(5, STAGE + 10))
            raise RuntimeError("build failed")

    with pytest.raises(RuntimeError, match="build failed"):
        build()
    assert file.closed
    # Not closed: the full stage was written or cancelled, the tail never goes out.
    assert path.stat().st_size in (0, STAGE)


def test_reserving_allocates_blocks_without_changing_the_size(tmp_path: Path) -> None:
    path = tmp_path / "archive.tar"
    with ArchiveFile(path) as file:
        file.write(b"x" * 1000)
        before = os.fstat(file.fileno()).st_blocks
        file.reserve(8 * STAGE)
        after = os.fstat(file.fileno())
        assert after.st_size == 0  # nothing of the stage written yet
        assert (after.st_blocks - before) * 512 >= 8 * STAGE
    assert path.stat().st_size == 1000


def test_a_tar_archive_written_through_it_reads_back(tmp_path: Path) -> None:
    path = tmp_path / "package.tar"
    members = {f"evidence/EV-{n}/clip.mp4": _bytes(n, size) for n, size in enumerate(WRITES)}
    with (
        ArchiveFile(path) as file,
        tarfile.TarFile(fileobj=file, mode="w", format=tarfile.PAX_FORMAT) as archive,
    ):
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    with tarfile.open(path) as archive:
        read = {m.name: archive.extractfile(m).read() for m in archive.getmembers()}  # type: ignore[union-attr]
    assert read == members


def _filler(data: bytes) -> tuple[list[int], Any]:
    """A ``fill`` for write_into that copies ``data`` in, noting each view's size."""
    sizes: list[int] = []

    def fill(view: memoryview) -> int:
        sizes.append(len(view))
        view[: len(data)] = data
        return len(data)

    return sizes, fill


@pytest.mark.parametrize("direct", [True, False], ids=["direct", "through the cache"])
def test_filling_in_place_across_stages_keeps_every_byte_in_order(
    tmp_path: Path, direct: bool
) -> None:
    # Chunks as the evidence step writes them, between headers and padding: they run past
    # the end of a stage (spilled into the next) and land exactly on it; one is larger than
    # the room a stage has past its end, another fills less than its view.
    path = tmp_path / "archive.tar"
    parts: list[bytes] = []
    with ArchiveFile(path, direct=direct) as file:
        for n in range(3 * STAGE // SPILL + 2):
            header = _bytes(1000 + n, 512 * (n % 3))
            file.write(header)
            chunk = _bytes(n, SPILL - (n % 2))
            sizes, fill = _filler(chunk)
            assert file.write_into(SPILL, fill) == len(chunk)
            assert sizes == [SPILL]
            parts += [header, chunk]
            assert file.tell() == sum(map(len, parts))
        big = _bytes(-1, 2 * SPILL + 3)
        sizes, fill = _filler(big[:-3])
        assert file.write_into(len(big), fill) == len(big) - 3
        assert sizes == [len(big)]
        parts.append(big[:-3])
        _, fill = _filler(b"")
        assert file.write_into(SPILL, fill) == 0  # a sealed stream's empty final chunk
    assert path.read_bytes() == b"".join(parts)


def test_a_fill_that_fails_or_overstates_writes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "archive.tar"
    with ArchiveFile(path) as file:
        file.write(b"head")

        def failing(view: memoryview) -> int:
            view[:3] = b"bad"
            raise ValueError("tag mismatch")

        with pytest.raises(ValueError, match="tag mismatch"):
            file.write_into(SPILL, failing)
        for size in (SPILL, 2 * SPILL):
            with pytest.raises(ValueError, match="filled"):
                file.write_into(size, lambda view: len(view) + 1)
            with pytest.raises(ValueError, match="filled"):
                file.write_into(size, lambda view: -1)
        assert file.tell() == 4
        file.write(b"tail")
    assert path.read_bytes() == b"headtail"
    with pytest.raises(ValueError, match="closed"):
        file.write_into(1, lambda view: 0)


def test_a_failed_fill_still_holding_its_view_does_not_stop_the_discard(tmp_path: Path) -> None:
    file = ArchiveFile(tmp_path / "archive.tar")
    kept: list[memoryview] = []

    def failing(view: memoryview) -> int:
        kept.append(view[:10])  # as a traceback keeps the frame of a decryption that failed
        raise ValueError("tag mismatch")

    with pytest.raises(ValueError, match="tag mismatch"):
        file.write_into(SPILL, failing)
    file.discard()
    assert file.closed
    kept.clear()


@pytest.mark.parametrize("direct", [True, False], ids=["direct", "through the cache"])
def test_a_file_to_keep_is_synced_once_whole_and_only_when_asked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, direct: bool
) -> None:
    # A direct write can still sit in the disk's cache, and the file's size and extents are
    # metadata the filesystem journals later: a package to keep is synced at its close,
    # after its last byte and its cut back to length, or a crash can lose it.
    synced: list[tuple[str, int]] = []
    real_fsync = os.fsync

    def fsync(fd: int) -> None:
        synced.append((os.readlink(f"/proc/self/fd/{fd}"), os.fstat(fd).st_size))
        real_fsync(fd)

    monkeypatch.setattr(archive_file.os, "fsync", fsync)
    content = _bytes(1, STAGE + 4097)
    kept, spooled, discarded = (tmp_path / n for n in ("kept.tar", "spool.tar", "gone.tar"))
    with ArchiveFile(kept, direct=direct, sync=True) as file:
        file.write(content)
        assert synced == []
    assert synced == [(str(kept), len(content))]
    assert kept.read_bytes() == content
    with ArchiveFile(spooled, direct=direct) as file:
        file.write(content)
    file = ArchiveFile(discarded, direct=direct, sync=True)
    file.write(content)
    file.discard()  # a failed build's file is removed, not synced
    assert synced == [(str(kept), len(content))]
