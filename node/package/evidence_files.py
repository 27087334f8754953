"""The exporting department's own evidence, decrypted into the package archive.

One thread writes the items in order as tar members: each member's header, then its
chunks, each decrypted straight into the archive file's current stage
(:meth:`StagedArchive.write_into <node.package.archive_file.StagedArchive.write_into>`), then
the padding to a whole tar block. Why this shape (measured, docs/BENCHMARKS.md "Evidence
packages"): on two cores shared with the consortium, every further copy of the gigabyte,
every buffer handed between threads, and the filesystem reserving blocks write by write
cost the build more than decrypting. So nothing is allocated per chunk, no chunk is
copied after it is decrypted, and the archive's blocks for the evidence are reserved in
one call (:meth:`ArchiveFile.reserve <node.package.archive_file.ArchiveFile.reserve>`)
before the first write. The rest of the package is written after these members by
``tarfile``, which goes on from the file's position: the two make one archive, the same
bytes ``tarfile`` would have written for these members itself.

Nothing is hashed here: each chunk's tag authenticates it under the item's own data key
with the item's id, its index and the final flag, so what is written is exactly the
complete plaintext sealed for this item at ingest, whose digest the ledger registered.
Other bytes fail (the wrong blob, a flipped bit, a cut, chunks swapped). Only someone
holding this item's unwrapped key could seal other content that passes, and then the file
does not hash to the manifest's (the ledger's) digest, which every verifier checks
(FILE_HASH_MISMATCH): the package cannot pass for the evidence. Hashing here as well would
cost two SHA-256 passes (ciphertext and plaintext) over every byte. A chunk that fails its
tag leaves its bytes in the stage's memory past the archive's end, where nothing writes
them; a plaintext longer than the ledger's size may reach the partial file. Either error
stops the build, which removes the partial file and publishes nothing.
"""

from __future__ import annotations

import tarfile
import threading
from collections.abc import Iterable, Mapping, Sequence
from typing import Final

from node.crypto.sealing import IntegrityError
from node.department import NodeParts
from node.evidence_sealing import chunks_from_store
from node.package.archive_file import StagedArchive
from node.package.manifest import Item
from schemas.hashes import Digest

FORMAT: Final = tarfile.PAX_FORMAT  # the package archive's: the builder's tarfile uses it too
_WAIT: Final = 0.05  # seconds between looks at ``stop`` while waiting for a grant


class Stopped(Exception):
    """The build failed elsewhere: stop decrypting."""


def write_own_evidence(
    file: StagedArchive,
    items: Sequence[Item],
    ciphertexts: Mapping[str, Digest],
    granted: Mapping[str, threading.Event],
    parts: NodeParts,
    stop: threading.Event,
) -> None:
    """Write each of ``items`` (this department's) into ``file`` as the tar member
    ``item.path``, in order, decrypted from the blob the ledger registered for it
    (``ciphertexts[evidence_id]``), opening none before its ``granted[evidence_id]`` is
    set (the chaincode granted its export). Gives up at the next chunk once ``stop`` is
    set.

    Raises:
        IntegrityError: an item's sealed bytes failed authentication, or its plaintext is
            not the ledger's size.
        BlobNotFound, KeyNotFound, NoMatchingKey: the node cannot open an item.
        Stopped: ``stop`` was set.
    """
    for item in items:
        _wait(granted[item.evidence_id], stop)
        file.write(member_header(item.path, item.size))
        written = 0
        with chunks_from_store(
            parts.store,
            evidence_id=item.evidence_id,
            ciphertext=ciphertexts[item.evidence_id],
            wrapped_key=parts.vault.get(item.evidence_id),
            keyring=parts.keyring,
        ) as opener:
            while not opener.ended:
                if stop.is_set():
                    raise Stopped()
                written += file.write_into(opener.chunk_size, opener.open_into)
                if written > item.size:
                    raise IntegrityError()
        if written != item.size:
            raise IntegrityError()
        file.write(bytes(-item.size % tarfile.BLOCKSIZE))


def member_info(path: str, size: int) -> tarfile.TarInfo:
    """Every member of a package: a regular file ``path`` of ``size`` bytes, readable by
    all, its other fields ``tarfile``'s defaults."""
    info = tarfile.TarInfo(path)
    info.size = size
    info.mode = 0o644
    return info


def member_header(path: str, size: int) -> bytes:
    """The tar header (with its PAX extended header where the name needs one) of the
    member ``path`` of ``size`` bytes, as the package's ``tarfile`` writes one."""
    return member_info(path, size).tobuf(FORMAT, tarfile.ENCODING, "surrogateescape")


def _wait(granted: threading.Event, stop: threading.Event) -> None:
    while not granted.wait(_WAIT):
        if stop.is_set():
            raise Stopped()


def member_bytes(sizes: Iterable[int]) -> int:
    """At least the archive bytes of regular members of these sizes: a header block each,
    the data padded to whole blocks (a long name's extended header comes on top)."""
    block = tarfile.BLOCKSIZE
    return sum(block + -(-size // block) * block for size in sizes)
