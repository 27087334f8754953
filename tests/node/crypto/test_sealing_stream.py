"""The chunked AEAD format: round trips, and every kind of tampering caught opaquely."""

from __future__ import annotations

import hashlib
import io
import logging
import tracemalloc
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from node.crypto.sealing import (
    DEFAULT_CHUNK_SIZE,
    HEADER_SIZE,
    MIN_CHUNK_SIZE,
    ChunkOpener,
    DataKey,
    IntegrityError,
    SealResult,
    open_stream,
    open_to_path,
    seal_reader,
    seal_stream,
    sealed_size,
)
from node.streams import IterReader
from schemas.hashes import Digest

C = DEFAULT_CHUNK_SIZE
SMALL = MIN_CHUNK_SIZE  # tiny chunks make chunk-level tampering cheap to enumerate
RECORD = SMALL + 16
EID = "ev-2024-000123"
KEY = DataKey(bytes(range(32)))


def seal_bytes(
    plaintext: bytes, *, chunk_size: int = SMALL, evidence_id: str = EID, key: DataKey = KEY
) -> tuple[bytes, SealResult]:
    out = io.BytesIO()
    result = seal_stream(
        io.BytesIO(plaintext), out, data_key=key, evidence_id=evidence_id, chunk_size=chunk_size
    )
    return out.getvalue(), result


def open_bytes(sealed: bytes, *, evidence_id: str = EID, key: DataKey = KEY) -> bytes:
    out = io.BytesIO()
    open_stream(io.BytesIO(sealed), out, data_key=key, evidence_id=evidence_id)
    return out.getvalue()


def open_into_bytes(sealed: bytes, *, evidence_id: str = EID, key: DataKey = KEY) -> bytes:
    """Through :class:`ChunkOpener` into one reused buffer, as the package builder opens."""
    opener = ChunkOpener(io.BytesIO(sealed), key, evidence_id)
    buffer = bytearray(opener.chunk_size)
    out = bytearray()
    while not opener.ended:
        out += buffer[: opener.open_into(buffer)]
    return bytes(out)


def records(sealed: bytes) -> tuple[bytes, list[bytes]]:
    body = sealed[HEADER_SIZE:]
    return sealed[:HEADER_SIZE], [body[i : i + RECORD] for i in range(0, len(body), RECORD)]


# 3 full chunks and a 10-byte final one.
PLAIN = bytes(i % 251 for i in range(3 * SMALL + 10))
SEALED, _ = seal_bytes(PLAIN)


@pytest.mark.parametrize("size", [0, 1, C - 1, C, C + 1, 3 * C + 5])
def test_round_trip_at_chunk_boundaries(size: int) -> None:
    plaintext = hashlib.shake_256(b"x").digest(size) if size else b""
    sealed, result = seal_bytes(plaintext, chunk_size=C)
    assert len(sealed) == sealed_size(size, C) == result.ciphertext_size
    assert result.plaintext == Digest.of(plaintext)
    assert result.ciphertext == Digest.of(sealed)
    assert result.plaintext_size == size
    out = io.BytesIO()
    opened = open_stream(io.BytesIO(sealed), out, data_key=KEY, evidence_id=EID)
    assert out.getvalue() == plaintext
    assert opened == result
    assert open_into_bytes(sealed) == plaintext


def test_reads_from_a_generator_and_short_reads(det_random: Callable[[], object]) -> None:
    pieces = [b"a" * 7, b"", b"b" * 100, b"c" * 3]
    out = io.BytesIO()
    seal_stream(IterReader(pieces), out, data_key=KEY, evidence_id=EID, chunk_size=SMALL)
    assert open_bytes(out.getvalue()) == b"".join(pieces)


def test_sealing_is_deterministic_given_the_randomness(det_random: Callable[[], object]) -> None:
    a, b = io.BytesIO(), io.BytesIO()
    for out in (a, b):
        seal_stream(io.BytesIO(PLAIN), out, data_key=KEY, evidence_id=EID, random=det_random())  # type: ignore[arg-type]
    assert a.getvalue() == b.getvalue()
    fresh, _ = seal_bytes(PLAIN)
    assert fresh != SEALED  # default randomness: a new salt every time


def test_seal_reader_produces_the_same_stream_and_result() -> None:
    rand = lambda n: b"\x01" * n  # noqa: E731
    out = io.BytesIO()
    expected = seal_stream(io.BytesIO(PLAIN), out, data_key=KEY, evidence_id=EID, random=rand)
    reader = seal_reader(io.BytesIO(PLAIN), data_key=KEY, evidence_id=EID, random=rand)
    with pytest.raises(RuntimeError):
        _ = reader.result
    got = b"".join(iter(lambda: reader.read(1000), b""))
    assert got == out.getvalue()
    assert reader.result.plaintext == expected.plaintext
    assert reader.result.plaintext_size == expected.plaintext_size
    assert reader.result.ciphertext_size == expected.ciphertext_size == len(got)


def assert_rejected(sealed: bytes, *, evidence_id: str = EID, key: DataKey = KEY) -> None:
    for opening in (open_bytes, open_into_bytes):  # a new chunk each time, or one buffer
        with pytest.raises(IntegrityError) as info:
            opening(sealed, evidence_id=evidence_id, key=key)
        err = info.value
        # Opaque: same message for every failure, no chained cause revealing the primitive.
        assert str(err) == "sealed data failed the integrity check"
        assert err.__cause__ is None
        assert err.__suppress_context__ or err.__context__ is None


def test_flipping_any_single_byte_is_detected() -> None:
    # Covers the header (magic, version, flags, chunk size, salt), every body and every tag.
    for pos in range(len(SEALED)):
        tampered = bytearray(SEALED)
        tampered[pos] ^= 0x01
        assert_rejected(bytes(tampered))


def test_every_truncation_is_detected() -> None:
    for length in range(len(SEALED)):
        assert_rejected(SEALED[:length])


def test_dropping_the_final_chunk_at_a_boundary_is_detected() -> None:
    header, recs = records(SEALED)
    assert_rejected(header + b"".join(recs[:-1]))
    # An exact multiple of the chunk size ends in an empty final chunk; dropping it fails too.
    aligned, _ = seal_bytes(b"z" * (2 * SMALL))
    assert len(aligned) == HEADER_SIZE + 2 * RECORD + 16
    assert_rejected(aligned[:-16])


def test_swapping_chunks_is_detected() -> None:
    header, recs = records(SEALED)
    recs[0], recs[1] = recs[1], recs[0]
    assert_rejected(header + b"".join(recs))


def test_duplicating_a_chunk_is_detected() -> None:
    header, recs = records(SEALED)
    assert_rejected(header + b"".join([recs[0], recs[1], recs[1], recs[2], recs[3]]))


def test_appending_after_the_final_chunk_is_detected() -> None:
    _header, recs = records(SEALED)
    assert_rejected(SEALED + recs[1])
    assert_rejected(SEALED + b"\x00")
    # Splicing in the final chunk of another stream sealed under the same key fails as well.
    other, _ = seal_bytes(PLAIN)
    assert_rejected(SEALED + records(other)[1][-1])


def test_splicing_chunks_from_another_item_is_detected() -> None:
    other, _ = seal_bytes(PLAIN)  # same key and id, different salt
    header, recs = records(SEALED)
    _, other_recs = records(other)
    assert_rejected(header + b"".join([recs[0], other_recs[1], recs[2], recs[3]]))


def test_wrong_evidence_id_or_key_is_detected() -> None:
    assert_rejected(SEALED, evidence_id="ev-2024-000124")
    assert_rejected(SEALED, key=DataKey(b"\x00" * 32))


def test_failure_detail_goes_to_the_debug_log_only(caplog: pytest.LogCaptureFixture) -> None:
    header, recs = records(SEALED)
    recs[0], recs[1] = recs[1], recs[0]
    with caplog.at_level(logging.DEBUG, logger="node.crypto.sealing"):
        assert_rejected(header + b"".join(recs))
    assert "chunk 0" in caplog.text


def test_only_verified_chunks_reach_the_writer() -> None:
    tampered = bytearray(SEALED)
    tampered[HEADER_SIZE + 2 * RECORD + 5] ^= 0x80  # inside chunk 2
    out = io.BytesIO()
    with pytest.raises(IntegrityError):
        open_stream(io.BytesIO(bytes(tampered)), out, data_key=KEY, evidence_id=EID)
    assert out.getvalue() == PLAIN[: 2 * SMALL]


def test_open_to_path_publishes_only_on_success(tmp_path: Path) -> None:
    dest = tmp_path / "clip.mp4"
    tampered = SEALED[: HEADER_SIZE + 3 * RECORD]  # final chunk dropped
    with pytest.raises(IntegrityError):
        open_to_path(io.BytesIO(tampered), dest, data_key=KEY, evidence_id=EID)
    assert list(tmp_path.iterdir()) == []

    with pytest.raises(IntegrityError):
        open_to_path(
            io.BytesIO(SEALED),
            dest,
            data_key=KEY,
            evidence_id=EID,
            expected_plaintext=Digest.of(b"something else"),
        )
    assert list(tmp_path.iterdir()) == []

    result = open_to_path(
        io.BytesIO(SEALED),
        dest,
        data_key=KEY,
        evidence_id=EID,
        expected_plaintext=Digest.of(PLAIN),
        expected_ciphertext=Digest.of(SEALED),
    )
    assert dest.read_bytes() == PLAIN
    assert result.plaintext == Digest.of(PLAIN)
    assert list(tmp_path.iterdir()) == [dest]


@pytest.mark.parametrize("bad", ["", "x" * 70000])
def test_evidence_id_must_be_usable_as_associated_data(bad: str) -> None:
    with pytest.raises(ValueError, match="evidence id"):
        seal_bytes(b"data", evidence_id=bad)


@pytest.mark.parametrize("chunk_size", [0, SMALL - 1, 16 * 1024 * 1024 + 1])
def test_chunk_size_is_bounded(chunk_size: int) -> None:
    with pytest.raises(ValueError, match="chunk size"):
        seal_bytes(b"data", chunk_size=chunk_size)


def test_data_key_does_not_leak_through_repr() -> None:
    assert bytes(range(32)).hex() not in repr(KEY)


class _NullWriter:
    def write(self, data: bytes, /) -> int:
        return len(data)


def test_sealing_200_mb_from_a_generator_keeps_memory_flat() -> None:
    block = b"\xa5" * C
    total = 200

    def frames() -> Iterator[bytes]:
        for _ in range(total):
            yield block  # the same object: the generator itself allocates nothing

    tracemalloc.start()
    try:
        result = seal_stream(IterReader(frames()), _NullWriter(), data_key=KEY, evidence_id=EID)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert result.plaintext_size == total * C
    # A handful of chunk-sized buffers at most, against 200 MiB of data streamed.
    assert peak < 8 * C, f"peak traced memory {peak / C:.1f} MiB"


@pytest.mark.parametrize(
    "what",
    ["other item's id", "other key", "swapped chunks", "appended chunk"],
)
def test_the_chunk_opener_refuses_other_bytes_without_hashing(what: str) -> None:
    """Why the package builder need not re-hash: every way to serve other bytes for this
    item, short of sealing them with its own key, fails authentication."""
    sealed, eid, key = SEALED, EID, KEY
    if what == "other item's id":
        eid = "EV-other"
    elif what == "other key":
        key = DataKey(bytes(32))
    elif what == "swapped chunks":
        one, two = (
            slice(HEADER_SIZE, HEADER_SIZE + RECORD),
            slice(HEADER_SIZE + RECORD, HEADER_SIZE + 2 * RECORD),
        )
        sealed = SEALED[: one.start] + SEALED[two] + SEALED[one] + SEALED[two.stop :]
    else:
        sealed = SEALED + SEALED[HEADER_SIZE : HEADER_SIZE + RECORD]
    with pytest.raises(IntegrityError):
        open_into_bytes(sealed, evidence_id=eid, key=key)


def test_the_chunk_opener_hands_out_each_chunk_only_once_it_verified() -> None:
    tampered = bytearray(SEALED)
    tampered[HEADER_SIZE + RECORD + 3] ^= 0x01  # inside chunk 1
    opener = ChunkOpener(io.BytesIO(bytes(tampered)), KEY, EID)
    buffer = bytearray(SMALL)
    assert buffer[: opener.open_into(buffer)] == PLAIN[:SMALL]
    with pytest.raises(IntegrityError):
        opener.open_into(buffer)
    assert not opener.ended


def test_the_chunk_opener_ends_only_after_the_final_chunk() -> None:
    cut = SEALED[: HEADER_SIZE + 3 * RECORD]  # the final chunk dropped
    opener = ChunkOpener(io.BytesIO(cut), KEY, EID)
    buffer = bytearray(SMALL)
    for _ in range(3):
        opener.open_into(buffer)
    assert not opener.ended  # what was opened so far is not the whole item
    with pytest.raises(IntegrityError):
        opener.open_into(buffer)


def test_the_chunk_opener_reads_any_readable_and_refuses_to_read_past_the_end() -> None:
    pieces = [SEALED[i : i + 7] for i in range(0, len(SEALED), 7)]  # short reads, no readinto
    opener = ChunkOpener(IterReader(pieces), KEY, EID)
    got = [opener.open_next() for _ in range(4)]
    assert opener.ended
    assert b"".join(got) == PLAIN
    assert (opener.plaintext_size, opener.sealed_size) == (len(PLAIN), len(SEALED))
    with pytest.raises(ValueError, match="ended"):
        opener.open_next()


def test_the_chunk_opener_allocates_nothing_per_chunk() -> None:
    chunk = 64 * 1024
    plaintext = hashlib.shake_256(b"y").digest(256 * chunk)  # 16 MiB, 256 chunks
    sealed, _ = seal_bytes(plaintext, chunk_size=chunk)
    source = io.BytesIO(sealed)
    buffer = bytearray(chunk)
    tracemalloc.start()
    try:
        opener = ChunkOpener(source, KEY, EID)
        while not opener.ended:
            opener.open_into(buffer)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert opener.plaintext_size == len(plaintext)
    # Its one record buffer and small change: a new chunk per open would hold two at once.
    assert peak < 1.5 * chunk, f"peak traced memory {peak / chunk:.2f} chunks"
