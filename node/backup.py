"""Backup and restore of one department node: store, index, vault, identities, config.

An archive is an uncompressed tar (sealed blobs do not compress) whose paths are relative
to a state directory::

    nodes/<Department>/node.sqlite     the index, copied with SQLite's online backup API
    nodes/<Department>/blobs/...       every blob the copied index refers to
    nodes/<Department>/keys/*.json     the wrapped data keys of those items
    nodes/<Department>/org.key         the org's encryption key
    nodes/<Department>/claims/...      device-signed capture claims
    nodes/<Department>/gateway/tokens.json
    crypto/<Department>/...            the department's CAs and identities
    secrets/subject-key                the consortium's subject secret
    departments/<Department>.toml      its configuration file, if any
    MANIFEST.json                      last: department, and SHA-256 and size of each member

Not in it: ``nodes/<Department>/chain.sqlite``, the node's copy of the channel's blocks
(node.chain): the restored gateway follows its peer from block 0 and rebuilds it.

Consistency: the index is snapshotted first; blobs are immutable and content-addressed, so
copying afterwards exactly the blobs and keys the snapshot names gives a store that agrees
with it (an item ingested meanwhile is left out whole: row, blob and key). The archive holds
private keys: it is written with mode 0600.

Restore reads the whole archive and checks every member against the manifest before it
writes anything; it then extracts into a temporary sibling directory and renames it into
place, so a failed restore leaves no target behind.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import os
import shutil
import sqlite3
import tarfile
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO

from node.crypto.subjects import subject_secret_path
from node.department import NodePaths

FORMAT = "evnet-node-backup/1"
MANIFEST = "MANIFEST.json"
_CHUNK = 1 << 20
_SKIPPED_DIRS = {"spool", ".tmp", "tmp"}


class BackupError(Exception):
    """Base of backup and restore failures; ``code`` is stable, the message one line."""

    code = "BACKUP_FAILED"


class BackupUnsupported(BackupError):
    code = "BACKUP_UNSUPPORTED"


class BackupCorrupt(BackupError):
    """The archive is truncated, not a tar, or its manifest is missing or malformed."""

    code = "BACKUP_CORRUPT"


class BackupTampered(BackupError):
    """A member's bytes, a member list or the department differ from the manifest."""

    code = "BACKUP_TAMPERED"


class RestoreTargetNotEmpty(BackupError):
    code = "RESTORE_TARGET_NOT_EMPTY"


@dataclass(frozen=True)
class Member:
    path: str
    sha256: str
    size: int


@dataclass(frozen=True)
class BackupManifest:
    department: str
    created_at: str
    members: tuple[Member, ...]

    def to_json(self) -> bytes:
        doc = {
            "format": FORMAT,
            "department": self.department,
            "created_at": self.created_at,
            "members": [{"path": m.path, "sha256": m.sha256, "size": m.size} for m in self.members],
        }
        return json.dumps(doc, indent=1, sort_keys=True).encode()

    @classmethod
    def from_json(cls, data: bytes) -> BackupManifest:
        """Raises: BackupCorrupt: not a manifest of this format."""
        try:
            doc = json.loads(data)
            if doc["format"] != FORMAT:
                raise BackupCorrupt(f"unknown backup format {doc['format']!r}")
            members = tuple(
                Member(str(m["path"]), str(m["sha256"]), int(m["size"])) for m in doc["members"]
            )
            return cls(str(doc["department"]), str(doc["created_at"]), members)
        except (ValueError, KeyError, TypeError) as exc:
            raise BackupCorrupt(f"malformed {MANIFEST}: {exc}") from exc


def sqlite_path(index_url: str) -> Path:
    """The file of a ``sqlite:///`` URL.

    Raises:
        BackupUnsupported: another database (back it up with that database's own tools).
    """
    if not index_url.startswith("sqlite:///"):
        raise BackupUnsupported(
            "only a SQLite index can be backed up here; use the database's own tools for "
            f"{index_url.split(':', 1)[0]}"
        )
    return Path(index_url.removeprefix("sqlite:///"))


@dataclass(frozen=True)
class _Snapshot:
    digests: list[str]  # blobs the copied index refers to
    evidence_ids: set[str]  # items it knows (indexed or in the ingest journal)


def _snapshot_index(source: Path, target: Path) -> _Snapshot:
    """Copy the live index with SQLite's online backup API; return what the copy names."""
    if not source.exists():
        raise BackupError(f"no index database at {source}")
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    dst = sqlite3.connect(target)
    try:
        src.backup(dst)
        rows = dst.execute("SELECT evidence_id, ciphertext_hash FROM evidence").fetchall()
        rows += dst.execute("SELECT evidence_id, ciphertext_hash FROM ingest_journal").fetchall()
    finally:
        dst.close()
        src.close()
    return _Snapshot(
        digests=sorted({str(h) for _, h in rows if h}), evidence_ids={str(e) for e, _ in rows}
    )


def _files(root: Path, rel: PurePosixPath) -> Iterator[tuple[Path, str]]:
    if not root.is_dir():
        return
    for path in sorted(root.rglob("*")):
        parts = path.relative_to(root).parts
        if path.is_file() and not path.name.endswith(".tmp") and not _SKIPPED_DIRS & set(parts):
            yield path, str(rel.joinpath(*parts))


class _HashingWriter:
    def __init__(self, tar: tarfile.TarFile) -> None:
        self.tar = tar
        self.members: list[Member] = []

    def add(self, source: Path | IO[bytes], arcname: str, size: int | None = None) -> None:
        if isinstance(source, Path):
            with source.open("rb") as f:
                self._add(f, arcname, os.fstat(f.fileno()).st_size)
        else:
            assert size is not None
            self._add(source, arcname, size)

    def _add(self, f: IO[bytes], arcname: str, size: int) -> None:
        digest = hashlib.sha256()
        start = f.tell()
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
        f.seek(start)
        info = tarfile.TarInfo(arcname)
        info.size, info.mode, info.mtime = size, 0o600, 0
        self.tar.addfile(info, f)
        self.members.append(Member(arcname, digest.hexdigest(), size))


def create_backup(
    out: Path,
    *,
    state_dir: Path,
    department: str,
    paths: NodePaths,
    index_url: str,
    now: dt.datetime,
) -> BackupManifest:
    """Write a backup of ``department``'s node (files under ``paths``, index at ``index_url``,
    identities and configuration under ``state_dir``) to ``out``.

    Raises:
        BackupUnsupported: the index is not SQLite.
        BackupError: the node has no index yet, or ``out`` exists.
        OSError: reading the node or writing ``out`` failed.
    """
    if out.exists():
        raise BackupError(f"{out} exists; choose a new file")
    index_file = sqlite_path(index_url)
    node_rel = PurePosixPath("nodes", department)
    tmp = out.with_name(f".{out.name}.partial")
    with tempfile.TemporaryDirectory(prefix="evnet-backup-") as work:
        snapshot = Path(work) / "node.sqlite"
        snap = _snapshot_index(index_file, snapshot)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            with os.fdopen(fd, "wb") as raw, tarfile.open(fileobj=raw, mode="w") as tar:
                w = _HashingWriter(tar)
                w.add(snapshot, str(node_rel / "node.sqlite"))
                for digest in snap.digests:
                    # The store's layout: <blobs>/<hex[0:2]>/<hex[2:4]>/<hex>.
                    h = digest.removeprefix("sha256:")
                    blob = paths.blobs / h[0:2] / h[2:4] / h
                    if blob.is_file():  # a missing blob is the doctor's to report
                        w.add(blob, str(node_rel / "blobs" / h[0:2] / h[2:4] / h))
                for path, arcname in _files(paths.keys, node_rel / "keys"):
                    if path.name.removesuffix(".json") in snap.evidence_ids:
                        w.add(path, arcname)
                for sub in ("claims", "gateway"):
                    for path, arcname in _files(paths.root / sub, node_rel / sub):
                        w.add(path, arcname)
                if paths.org_key.is_file():
                    w.add(paths.org_key, str(node_rel / "org.key"))
                crypto_rel = PurePosixPath("crypto", department)
                for path, arcname in _files(state_dir / "crypto" / department, crypto_rel):
                    w.add(path, arcname)
                # The consortium's subject secret: without it a restored gateway cannot
                # key parties as the other departments do (node.crypto.subjects).
                secret = subject_secret_path(state_dir)
                if secret.is_file():
                    w.add(secret, str(secret.relative_to(state_dir)))
                config = state_dir / "departments" / f"{department}.toml"
                if config.is_file():
                    w.add(config, f"departments/{department}.toml")
                manifest = BackupManifest(department, now.isoformat(), tuple(w.members))
                data = manifest.to_json()
                info = tarfile.TarInfo(MANIFEST)
                info.size, info.mode = len(data), 0o600
                tar.addfile(info, io.BytesIO(data))
                raw.flush()
                os.fsync(raw.fileno())
            os.replace(tmp, out)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
    return manifest


def _safe_name(name: str) -> PurePosixPath:
    path = PurePosixPath(name)
    if path.is_absolute() or ".." in path.parts or not path.parts or name != str(path):
        raise BackupTampered(f"unsafe member path {name!r}")
    return path


def _read_verified(archive: Path, department: str, target: Path | None) -> BackupManifest:
    """One pass over the archive: hash every member (writing it under ``target`` if given)
    and check the lot against the manifest."""
    seen: dict[str, Member] = {}
    manifest_bytes: bytes | None = None
    try:
        with tarfile.open(archive, mode="r:") as tar:
            for info in tar:
                if manifest_bytes is not None:
                    raise BackupTampered(f"member {info.name!r} after {MANIFEST}")
                if not info.isfile():
                    raise BackupTampered(f"member {info.name!r} is not a regular file")
                f = tar.extractfile(info)
                assert f is not None
                if info.name == MANIFEST:
                    manifest_bytes = f.read()
                    continue
                rel = _safe_name(info.name)
                if info.name in seen:
                    raise BackupTampered(f"member {info.name!r} appears twice")
                digest, size = hashlib.sha256(), 0
                out: IO[bytes] | None = None
                if target is not None:
                    dest = target.joinpath(*rel.parts)
                    try:
                        dest.parent.mkdir(parents=True, exist_ok=True)
                        fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                    except (FileExistsError, NotADirectoryError):
                        # ``a`` and ``a/b`` both listed: no archive this module wrote.
                        raise BackupTampered(
                            f"member {info.name!r} collides with another"
                        ) from None
                    out = os.fdopen(fd, "wb")
                try:
                    while chunk := f.read(_CHUNK):
                        digest.update(chunk)
                        size += len(chunk)
                        if out is not None:
                            out.write(chunk)
                finally:
                    if out is not None:
                        out.close()
                seen[info.name] = Member(info.name, digest.hexdigest(), size)
    except (tarfile.TarError, EOFError) as exc:
        raise BackupCorrupt(f"{archive}: truncated or not a backup archive ({exc})") from exc
    if manifest_bytes is None:
        raise BackupCorrupt(f"{archive}: no {MANIFEST} (truncated?)")
    manifest = BackupManifest.from_json(manifest_bytes)
    if manifest.department != department:
        raise BackupTampered(f"{archive} is a backup of {manifest.department}, not of {department}")
    listed = {m.path: m for m in manifest.members}
    for name in sorted(set(listed) | set(seen)):
        if name not in seen:
            raise BackupTampered(f"{name}: listed in the manifest but missing from the archive")
        if name not in listed:
            raise BackupTampered(f"{name}: in the archive but not in the manifest")
        if seen[name] != listed[name]:
            raise BackupTampered(f"{name}: SHA-256 or size differs from the manifest")
    return manifest


def verify_backup(archive: Path, department: str) -> BackupManifest:
    """Check ``archive`` against its manifest without writing anything.

    Raises:
        BackupCorrupt, BackupTampered: as :func:`restore_backup`.
    """
    return _read_verified(archive, department, None)


def restore_backup(archive: Path, *, department: str, state_dir: Path) -> BackupManifest:
    """Restore ``department``'s node from ``archive`` into the new ``state_dir``.

    Raises:
        RestoreTargetNotEmpty: ``state_dir`` exists and is not empty.
        BackupCorrupt: the archive is truncated or malformed; nothing was written.
        BackupTampered: a member differs from the manifest; nothing was written.
    """
    if state_dir.exists() and (not state_dir.is_dir() or any(state_dir.iterdir())):
        raise RestoreTargetNotEmpty(f"{state_dir} is not empty; restore into a new directory")
    verify_backup(archive, department)
    state_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{state_dir.name}.restore-", dir=state_dir.parent))
    try:
        # Verified again while writing: the archive may have changed since the first pass.
        manifest = _read_verified(archive, department, staging)
        if state_dir.exists():
            state_dir.rmdir()
        staging.rename(state_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return manifest
