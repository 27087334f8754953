"""Sealing evidence bytes: chunked streaming AEAD under a per-item data key.

This module (with its siblings in ``node.crypto``; key wrapping is in
:mod:`node.crypto.key_wrap`) is the only place that touches ``cryptography.hazmat``; the rest
of the node calls the recipes below.

Sealed stream, version 1 (all integers big-endian)::

    header  = "EVSEAL" | version u8 = 1 | reserved u8 = 0 | chunk_size u32 | salt 32 bytes
    chunk i = AES-256-GCM(subkey, nonce_i, plaintext_i, ad_i)  -> ciphertext_i | tag 16 bytes

    subkey | nonce_prefix = HKDF-SHA256(data_key, salt, "evidencenet/seal/v1/chunk", 32 + 7)
    nonce_i = nonce_prefix (7) | i u32 | final u8
    ad_i    = header | i u32 | final u8 | len(evidence_id) u16 | evidence_id (UTF-8)

Every chunk but the last holds exactly ``chunk_size`` plaintext bytes; the last holds fewer
(possibly none), so a stream always ends in a short, final-flagged chunk. This is the STREAM
construction (Hoang, Reyhanitabar, Rogaway, Vizár 2015): the index in the nonce and associated
data catches reordering, swapping and duplication; the final flag catches truncation at a chunk
boundary and anything appended after the end; the header in every chunk's associated data
authenticates the header; the evidence id stops a ciphertext from being passed off as another
item's.

Decryption writes each chunk only after its tag verifies, but a stream cut short is only
detected at its end: output is untrusted until :func:`open_stream` returns. Use
:func:`open_to_path`, which publishes the file only on success.

Every authentication failure raises one opaque :class:`IntegrityError`; the detail goes to this
module's logger at debug level.
"""

from __future__ import annotations

import logging
import os
import struct
import tempfile
from collections.abc import Callable, Generator
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from node.streams import IterReader, Readable, Writable, read_exact
from schemas.hashes import Digest, Hasher

__all__ = [
    "DEFAULT_CHUNK_SIZE",
    "ChunkOpener",
    "DataKey",
    "IntegrityError",
    "OpenResult",
    "PlaintextFacts",
    "RandomSource",
    "SealResult",
    "SealingError",
    "SealingReader",
    "evidence_id_field",
    "open_stream",
    "open_to_path",
    "seal_reader",
    "seal_stream",
    "sealed_size",
]

log = logging.getLogger(__name__)

RandomSource = Callable[[int], bytes]
"""``random(n)`` returns ``n`` unpredictable bytes; :func:`os.urandom` unless a test passes one."""

DEFAULT_CHUNK_SIZE: Final = 1024 * 1024
MIN_CHUNK_SIZE: Final = 64
# A reader allocates one chunk from the (not yet authenticated) header, so bound it.
MAX_CHUNK_SIZE: Final = 16 * 1024 * 1024

_MAGIC: Final = b"EVSEAL"
_VERSION: Final = 1
_HEADER = struct.Struct(">6sBBI32s")
HEADER_SIZE: Final = _HEADER.size
_TAG_SIZE: Final = 16
_MAX_CHUNKS: Final = 2**32
_CHUNK_INFO: Final = b"evidencenet/seal/v1/chunk"

Buffer = bytes | bytearray | memoryview


class SealingError(Exception):
    """Base of this module's errors."""


class IntegrityError(SealingError):
    """Sealed data or a wrapped key failed authentication (tampered, truncated, wrong key or
    wrong evidence id). Deliberately carries no detail."""

    def __init__(self) -> None:
        super().__init__("sealed data failed the integrity check")


def _fail(detail: str, *args: object) -> IntegrityError:
    log.debug("integrity failure: " + detail, *args)
    return IntegrityError()


class DataKey:
    """A per-item 256-bit data key. Exists in memory only; it is stored only wrapped."""

    __slots__ = ("_key",)

    def __init__(self, key: bytes) -> None:
        if len(key) != 32:
            raise ValueError("a data key is 32 bytes")
        self._key = bytes(key)

    @classmethod
    def generate(cls, random: RandomSource = os.urandom) -> DataKey:
        return cls(random(32))

    def secret_bytes(self) -> bytes:
        """The raw key, for :mod:`node.crypto.key_wrap` only: never store or log it."""
        return self._key

    def __repr__(self) -> str:
        return "DataKey(<secret>)"


# ------------------------------------------------------------------------------ stream AEAD


@dataclass(frozen=True, slots=True)
class SealResult:
    """What sealing learnt in its single pass over the data."""

    plaintext: Digest
    ciphertext: Digest
    plaintext_size: int
    ciphertext_size: int


@dataclass(frozen=True, slots=True)
class PlaintextFacts:
    """What the sealer itself knows after a pull-based seal (see :class:`SealingReader`)."""

    plaintext: Digest
    plaintext_size: int
    ciphertext_size: int


OpenResult = SealResult
""":func:`open_stream` reports the same four facts, from the reading side."""


def sealed_size(plaintext_size: int, chunk_size: int = DEFAULT_CHUNK_SIZE) -> int:
    """Exact size of the sealed stream for ``plaintext_size`` bytes of plaintext."""
    return HEADER_SIZE + plaintext_size + _TAG_SIZE * (plaintext_size // chunk_size + 1)


def evidence_id_field(evidence_id: str) -> bytes:
    """Length-prefixed UTF-8 evidence id, as bound into associated data and KDF info.

    Raises:
        ValueError: empty, or longer than 65535 bytes.
    """
    raw = evidence_id.encode("utf-8")
    if not raw or len(raw) > 0xFFFF:
        raise ValueError("evidence id must be 1..65535 UTF-8 bytes")
    return struct.pack(">H", len(raw)) + raw


class _ChunkCipher:
    """The per-item key schedule shared by sealing and opening."""

    __slots__ = ("_ad_prefix", "_ad_suffix", "_aead", "_nonce_prefix")

    def __init__(self, data_key: DataKey, header: bytes, salt: bytes, evidence_id: str) -> None:
        okm = HKDF(algorithm=hashes.SHA256(), length=39, salt=salt, info=_CHUNK_INFO).derive(
            data_key._key
        )
        self._aead = AESGCM(okm[:32])
        self._nonce_prefix = okm[32:]
        self._ad_prefix = header
        self._ad_suffix = evidence_id_field(evidence_id)

    def _nonce_ad(self, index: int, final: bool) -> tuple[bytes, bytes]:
        position = struct.pack(">IB", index, final)
        return self._nonce_prefix + position, self._ad_prefix + position + self._ad_suffix

    def seal(self, index: int, final: bool, plaintext: bytes) -> bytes:
        nonce, ad = self._nonce_ad(index, final)
        return self._aead.encrypt(nonce, plaintext, ad)

    def open(self, index: int, final: bool, ciphertext: Buffer) -> bytes:
        nonce, ad = self._nonce_ad(index, final)
        try:
            return self._aead.decrypt(nonce, ciphertext, ad)
        except InvalidTag:
            raise _fail("chunk %d (final=%s) tag mismatch", index, final) from None

    def open_into(self, index: int, final: bool, ciphertext: Buffer, out: memoryview) -> None:
        """As :meth:`open`, into ``out`` (exactly the plaintext's length). On a tag
        mismatch ``out`` may hold garbage: the caller discards it with the error."""
        nonce, ad = self._nonce_ad(index, final)
        try:
            self._aead.decrypt_into(nonce, ciphertext, ad, out)
        except InvalidTag:
            raise _fail("chunk %d (final=%s) tag mismatch", index, final) from None


def _seal_chunks(
    reader: Readable,
    data_key: DataKey,
    evidence_id: str,
    chunk_size: int,
    random: RandomSource,
) -> Generator[bytes, None, PlaintextFacts]:
    if not MIN_CHUNK_SIZE <= chunk_size <= MAX_CHUNK_SIZE:
        raise ValueError(f"chunk size must be {MIN_CHUNK_SIZE}..{MAX_CHUNK_SIZE}")
    salt = random(32)
    header = _HEADER.pack(_MAGIC, _VERSION, 0, chunk_size, salt)
    cipher = _ChunkCipher(data_key, header, salt, evidence_id)
    plain = Hasher()
    yield header
    index = 0
    while True:
        if index >= _MAX_CHUNKS:
            raise SealingError("plaintext too long for one sealed stream")
        chunk = read_exact(reader, chunk_size)
        # A full chunk is never final: the stream always ends with a short (maybe empty) one,
        # so neither side needs to look ahead to know where the end is.
        final = len(chunk) < chunk_size
        plain.update(chunk)
        yield cipher.seal(index, final, chunk)
        if final:
            return PlaintextFacts(plain.digest(), plain.size, sealed_size(plain.size, chunk_size))
        index += 1


def seal_stream(
    reader: Readable,
    writer: Writable,
    *,
    data_key: DataKey,
    evidence_id: str,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    random: RandomSource = os.urandom,
) -> SealResult:
    """Seal everything ``reader`` yields into ``writer``, one chunk in memory at a time.

    Raises:
        ValueError: bad ``chunk_size`` or ``evidence_id``.
        Whatever ``reader`` or ``writer`` raise, unchanged.
    """
    chunks = _seal_chunks(reader, data_key, evidence_id, chunk_size, random)
    sealed = Hasher()
    while True:
        try:
            out = next(chunks)
        except StopIteration as done:
            facts: PlaintextFacts = done.value
            return SealResult(facts.plaintext, sealed.digest(), facts.plaintext_size, sealed.size)
        sealed.update(out)
        writer.write(out)


class SealingReader:
    """A :class:`Readable` that produces the sealed stream while the consumer pulls it.

    Lets a consumer such as a blob store drive sealing, so plaintext flows straight into the
    store's temporary file with no intermediate copy. :attr:`result` is available once the
    stream has been read to its end. It has no ciphertext digest: the consumer sees every
    sealed byte and hashes them itself (a blob store must anyway), and a second SHA-256 pass
    in here would cost about a third of the end-to-end throughput.
    """

    __slots__ = ("_out", "_result")

    def __init__(
        self,
        reader: Readable,
        data_key: DataKey,
        evidence_id: str,
        chunk_size: int,
        random: RandomSource,
    ) -> None:
        self._result: PlaintextFacts | None = None
        self._out = IterReader(
            self._run(_seal_chunks(reader, data_key, evidence_id, chunk_size, random))
        )

    def _run(self, chunks: Generator[bytes, None, PlaintextFacts]) -> Generator[bytes, None, None]:
        self._result = yield from chunks

    def read(self, size: int = -1, /) -> bytes:
        return self._out.read(size)

    @property
    def result(self) -> PlaintextFacts:
        """Raises: RuntimeError: the stream has not been read to its end."""
        if self._result is None:
            raise RuntimeError("sealed stream not fully read yet")
        return self._result


def seal_reader(
    reader: Readable,
    *,
    data_key: DataKey,
    evidence_id: str,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    random: RandomSource = os.urandom,
) -> SealingReader:
    """Pull-based twin of :func:`seal_stream`: returns a readable sealed stream.

    Raises:
        ValueError: bad ``chunk_size`` or ``evidence_id`` (when first read).
    """
    return SealingReader(reader, data_key, evidence_id, chunk_size, random)


class ChunkOpener:
    """Opens a sealed stream one chunk at a time, in order: :meth:`open_next` returns each
    chunk's plaintext as new bytes, :meth:`open_into` decrypts it into a buffer the caller
    owns and reuses (the package builder: no allocation per chunk, so no fresh pages for
    every megabyte written). Each chunk is returned only once its tag verifies; the stream
    is whole only once :attr:`ended` is true, which also means nothing followed the final
    chunk. ``sealed``, when given, is fed every byte read (header included).

    Raises (on construction and from each open):
        IntegrityError: a bad header, a chunk that fails authentication, a stream cut short
            or with data after its final chunk.
    """

    __slots__ = ("_cipher", "_ended", "_index", "_reader", "_record", "_sealed", "chunk_size",
                 "plaintext_size", "sealed_size")  # fmt: skip

    def __init__(
        self, reader: Readable, data_key: DataKey, evidence_id: str, sealed: Hasher | None = None
    ) -> None:
        header = read_exact(reader, HEADER_SIZE)
        if len(header) != HEADER_SIZE:
            raise _fail("stream shorter than the header")
        magic, version, reserved, chunk_size, salt = _HEADER.unpack(header)
        if magic != _MAGIC or version != _VERSION or reserved != 0:
            raise _fail("unknown magic/version/flags %r %d %d", magic, version, reserved)
        if not MIN_CHUNK_SIZE <= chunk_size <= MAX_CHUNK_SIZE:
            raise _fail("chunk size %d out of range", chunk_size)
        self._cipher = _ChunkCipher(data_key, header, salt, evidence_id)
        self._reader = reader
        self._sealed = sealed
        if sealed is not None:
            sealed.update(header)
        self.chunk_size: int = chunk_size
        self.plaintext_size = 0
        self.sealed_size = HEADER_SIZE
        self._index = 0
        self._ended = False
        # Read into one reusable buffer when the source can (files, the blob store).
        self._record = bytearray(chunk_size + _TAG_SIZE) if hasattr(reader, "readinto") else None

    @property
    def ended(self) -> bool:
        """The final chunk was opened and nothing followed it."""
        return self._ended

    def open_next(self) -> bytes:
        """The next chunk's plaintext (``b""`` for an empty final chunk)."""
        record, final = self._next_record()
        chunk = self._cipher.open(self._index, final, record)
        self._advance(len(chunk), final)
        return chunk

    def open_into(self, out: bytearray | memoryview) -> int:
        """Decrypt the next chunk into the start of ``out`` (at least :attr:`chunk_size`
        bytes) and return its length."""
        record, final = self._next_record()
        size = len(record) - _TAG_SIZE
        self._cipher.open_into(self._index, final, record, memoryview(out)[:size])
        self._advance(size, final)
        return size

    def _next_record(self) -> tuple[Buffer, bool]:
        if self._ended:
            raise ValueError("the sealed stream has ended")
        size = self.chunk_size + _TAG_SIZE
        record: Buffer
        if self._record is None:
            record = read_exact(self._reader, size)
        else:
            record = memoryview(self._record)[: _readinto_exact(self._reader, self._record)]
        if self._sealed is not None:
            self._sealed.update(record)
        self.sealed_size += len(record)
        final = len(record) < size
        if final and len(record) < _TAG_SIZE:
            raise _fail("stream ends without a final chunk after chunk %d", self._index)
        if self._index >= _MAX_CHUNKS:
            raise _fail("too many chunks")
        return record, final

    def _advance(self, size: int, final: bool) -> None:
        self.plaintext_size += size
        if not final:
            self._index += 1
            return
        if self._reader.read(1):
            raise _fail("data after the final chunk")
        self._ended = True


def _readinto_exact(reader: Readable, buffer: bytearray) -> int:
    """Fill ``buffer`` from ``reader.readinto``; fewer bytes only where the stream ends."""
    view = memoryview(buffer)
    got = 0
    while got < len(buffer):
        n = reader.readinto(view[got:])  # type: ignore[attr-defined]
        if not n:
            break
        got += n
    return got


def _open_chunks(
    reader: Readable,
    data_key: DataKey,
    evidence_id: str,
    plain: Hasher | None,
    sealed: Hasher | None,
) -> Generator[bytes, None, tuple[int, int]]:
    """Yield each chunk's plaintext once its tag verifies; return (plaintext size, sealed
    size). ``plain`` and ``sealed``, when given, are fed every byte of each side."""
    opener = ChunkOpener(reader, data_key, evidence_id, sealed)
    while not opener.ended:
        chunk = opener.open_next()
        if plain is not None:
            plain.update(chunk)
        yield chunk
    return opener.plaintext_size, opener.sealed_size


def open_stream(
    reader: Readable, writer: Writable, *, data_key: DataKey, evidence_id: str
) -> OpenResult:
    """Decrypt a sealed stream into ``writer``, chunk by chunk.

    Each chunk is written only after it authenticates, but truncation is only detectable at the
    end: treat what was written as untrusted until this returns (see :func:`open_to_path`).

    Raises:
        IntegrityError: any tampering, truncation, extension, wrong key or wrong evidence id.
        Whatever ``reader`` or ``writer`` raise, unchanged.
    """
    plain, sealed = Hasher(), Hasher()
    chunks = _open_chunks(reader, data_key, evidence_id, plain, sealed)
    while True:
        try:
            writer.write(next(chunks))
        except StopIteration as done:
            plain_size, sealed_size = done.value
            return OpenResult(plain.digest(), sealed.digest(), plain_size, sealed_size)


def open_to_path(
    reader: Readable,
    destination: Path,
    *,
    data_key: DataKey,
    evidence_id: str,
    expected_plaintext: Digest | None = None,
    expected_ciphertext: Digest | None = None,
) -> OpenResult:
    """Decrypt into ``destination``, which appears (atomically) only if everything verified.

    Plaintext goes to a temporary file beside ``destination`` (same filesystem, so the final
    rename is atomic); on any failure that file is removed and ``destination`` is untouched.

    Raises:
        IntegrityError: as :func:`open_stream`, or the plaintext (ciphertext) does not hash to
            ``expected_plaintext`` (``expected_ciphertext``).
        OSError: the file could not be written.
    """
    fd, tmp_name = tempfile.mkstemp(
        dir=destination.parent, prefix=f".{destination.name}.", suffix=".part"
    )
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            result = open_stream(reader, out, data_key=data_key, evidence_id=evidence_id)
            if expected_plaintext is not None and result.plaintext != expected_plaintext:
                raise _fail("plaintext %s, expected %s", result.plaintext, expected_plaintext)
            if expected_ciphertext is not None and result.ciphertext != expected_ciphertext:
                raise _fail("ciphertext %s, expected %s", result.ciphertext, expected_ciphertext)
            out.flush()
            os.fsync(out.fileno())
        tmp.replace(destination)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return result
