"""Backup and restore of a department node: a roundtrip the doctor finds clean, and every
damaged archive or occupied target refused with its code before anything is written."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import os
import subprocess
import sys
import tarfile
from collections.abc import Sequence
from pathlib import Path

import pytest
from ingestkit import FileLedger, claims, device, make_ca, service, signed

from node.backup import (
    MANIFEST,
    BackupCorrupt,
    BackupManifest,
    BackupTampered,
    BackupUnsupported,
    Member,
    RestoreTargetNotEmpty,
    create_backup,
    restore_backup,
    verify_backup,
)
from node.crypto.subjects import ensure_subject_secret, subject_secret_path
from node.department import NodePaths, open_parts
from node.doctor import sweep
from node.ingest import IngestService
from node.settings import PROJECT_ROOT
from schemas.hashes import Digest
from schemas.ledger import EvidenceRecord

DEP = "UrbanManagement"
NOW = dt.datetime(2026, 11, 22, 23, 0, tzinfo=dt.UTC)
PHOTO = b"keyframe " * 3000
CLIP = os.urandom(2 * 1024 * 1024 + 77)


class LedgerAdapter:
    """The doctor's ledger view over the ingest tests' file ledger (the seam it is made for)."""

    def __init__(self, ledger: FileLedger) -> None:
        self.ledger = ledger

    async def evidence(self, evidence_id: str) -> EvidenceRecord | None:
        doc = self.ledger.records().get(evidence_id)
        if doc is None:
            return None
        return EvidenceRecord(
            **doc["content"],
            registered_by="CN=edge-07",
            registered_role="device",
            registered_at="2026-11-22T01:00:00.000000Z",
            registered_tx=doc["tx"],
        )

    async def owned_evidence(self, org: str) -> Sequence[str]:
        records = self.ledger.records()
        return sorted(e for e, d in records.items() if d["content"]["owner_org"] == org)


async def _ingested_node(state: Path) -> IngestService:
    """A node under ``state`` holding two ingested items, plus identities and a config file."""
    svc = service(NodePaths.of(state, DEP).root)
    media = [("keyframe.jpg", "image/jpeg", PHOTO), ("clip.mp4", "video/mp4", CLIP)]
    c = claims(
        media=[
            {"name": n, "media_type": t, "sha256": str(Digest.of(b)), "size": len(b)}
            for n, t, b in media
        ]
    )
    body, sig, cert = signed(c, device(make_ca(NodePaths.of(state, DEP).root)))
    await svc.ingest(body, sig, cert, {n: io.BytesIO(b) for n, _, b in media})
    msp = state / "crypto" / DEP / "users" / "Admin" / "msp" / "keystore"
    msp.mkdir(parents=True)
    (msp / "priv_sk").write_bytes(b"-----BEGIN PRIVATE KEY-----\n")
    (state / "departments").mkdir()
    (state / "departments" / f"{DEP}.toml").write_text("[gateway]\nport = 18080\n")
    ensure_subject_secret(subject_secret_path(state))
    return svc


def _backup(state: Path, out: Path) -> None:
    paths = NodePaths.of(state, DEP)
    create_backup(
        out, state_dir=state, department=DEP, paths=paths, index_url=paths.index_url, now=NOW
    )


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


async def test_roundtrip_into_a_fresh_state_dir_is_clean_for_the_doctor(tmp_path: Path) -> None:
    old = tmp_path / "old"
    svc = await _ingested_node(old)
    # A blob no index row names (as if ingested after the snapshot) stays out of the backup.
    stray = svc.store.put(io.BytesIO(b"not yet indexed"))
    stray_key = NodePaths.of(old, DEP).keys / "ev-not-yet-indexed.json"
    stray_key.write_text("{}")
    archive = tmp_path / "urban.tar"
    _backup(old, archive)
    assert archive.stat().st_mode & 0o777 == 0o600

    new = tmp_path / "new"
    manifest = restore_backup(archive, department=DEP, state_dir=new)
    assert f"nodes/{DEP}/node.sqlite" in {m.path for m in manifest.members}
    assert _tree(new / "crypto") == _tree(old / "crypto")
    assert (new / "departments" / f"{DEP}.toml").read_text() == "[gateway]\nport = 18080\n"
    # The consortium's subject secret came along, still private: the restored gateway keys
    # parties as every other department does.
    secret = subject_secret_path(new)
    assert secret.read_bytes() == subject_secret_path(old).read_bytes()
    assert secret.stat().st_mode & 0o077 == 0
    parts = open_parts(NodePaths.of(new, DEP))
    assert not parts.store.exists(stray)
    assert not (NodePaths.of(new, DEP).keys / stray_key.name).exists()
    assert len(list(NodePaths.of(new, DEP).keys.iterdir())) == 2
    problems = await sweep(
        org="UrbanManagementMSP",
        store=parts.store,
        vault=parts.vault,
        index=parts.index,
        ledger=LedgerAdapter(FileLedger(NodePaths.of(old, DEP).root / "ledger.json")),
    )
    assert problems == []
    assert len(list(parts.store.iter_digests())) == 2
    # The restored key ring still opens the items: the org key came along.
    assert (NodePaths.of(new, DEP).org_key).read_bytes() == (
        NodePaths.of(old, DEP).org_key.read_bytes()
    )


def _member_offset(archive: Path, prefix: str) -> int:
    with tarfile.open(archive) as tar:
        info = next(i for i in tar if i.name.startswith(prefix) and i.size > 1000)
        return info.offset_data + info.size // 2


@pytest.mark.parametrize(
    ("damage", "error", "message"),
    [
        ("blob", BackupTampered, "SHA-256 or size differs from the manifest"),
        ("index", BackupTampered, "node.sqlite: SHA-256 or size differs"),
        ("truncate", BackupCorrupt, "truncated"),
        ("cut-manifest", BackupCorrupt, f"no {MANIFEST}"),
        ("garbage", BackupCorrupt, "not a backup archive"),
    ],
)
async def test_a_damaged_archive_is_refused_and_nothing_is_written(
    tmp_path: Path, damage: str, error: type[Exception], message: str
) -> None:
    await _ingested_node(tmp_path / "old")
    archive = tmp_path / "urban.tar"
    _backup(tmp_path / "old", archive)
    data = bytearray(archive.read_bytes())
    if damage == "blob":
        data[_member_offset(archive, f"nodes/{DEP}/blobs/")] ^= 0x01
    elif damage == "index":
        data[_member_offset(archive, f"nodes/{DEP}/node.sqlite")] ^= 0x01
    elif damage == "truncate":
        data = data[: len(data) // 2]
    elif damage == "cut-manifest":
        with tarfile.open(archive) as tar:
            last = next(i for i in tar if i.name == MANIFEST)
        data = data[: last.offset]
    else:
        data = bytearray(os.urandom(4096))
    archive.write_bytes(bytes(data))
    with pytest.raises(error, match=message):
        restore_backup(archive, department=DEP, state_dir=tmp_path / "new")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["old", "urban.tar"]


async def test_a_member_added_or_another_departments_archive_is_refused(tmp_path: Path) -> None:
    await _ingested_node(tmp_path / "old")
    archive = tmp_path / "urban.tar"
    _backup(tmp_path / "old", archive)
    with pytest.raises(BackupTampered, match="is a backup of UrbanManagement, not of Public"):
        verify_backup(archive, "PublicSecurity")
    # An extra member slipped in before the manifest: rebuild the tar with it.
    rebuilt = tmp_path / "rebuilt.tar"
    with tarfile.open(archive) as src, tarfile.open(rebuilt, "w") as dst:
        for info in src:
            if info.name == MANIFEST:
                extra = tarfile.TarInfo(f"nodes/{DEP}/keys/planted.json")
                extra.size = 2
                dst.addfile(extra, io.BytesIO(b"{}"))
            dst.addfile(info, src.extractfile(info))
    with pytest.raises(BackupTampered, match=r"planted\.json: in the archive but not in the"):
        restore_backup(rebuilt, department=DEP, state_dir=tmp_path / "new")
    assert not (tmp_path / "new").exists()


def test_members_that_collide_are_refused_and_nothing_is_left(tmp_path: Path) -> None:
    # "a" and "a/b" cannot both be files: an archive no backup made, consistent with itself.
    archive = tmp_path / "forged.tar"
    members = []
    with tarfile.open(archive, "w") as tar:
        for name in (f"nodes/{DEP}/a", f"nodes/{DEP}/a/b"):
            info = tarfile.TarInfo(name)
            info.size = 1
            tar.addfile(info, io.BytesIO(b"x"))
            members.append(Member(name, hashlib.sha256(b"x").hexdigest(), 1))
        data = BackupManifest(DEP, NOW.isoformat(), tuple(members)).to_json()
        info = tarfile.TarInfo(MANIFEST)
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    verify_backup(archive, DEP)  # each member matches the manifest
    with pytest.raises(BackupTampered, match="collides with another"):
        restore_backup(archive, department=DEP, state_dir=tmp_path / "new")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["forged.tar"]


async def test_restore_refuses_a_non_empty_target(tmp_path: Path) -> None:
    await _ingested_node(tmp_path / "old")
    archive = tmp_path / "urban.tar"
    _backup(tmp_path / "old", archive)
    target = tmp_path / "busy"
    target.mkdir()
    (target / "something").write_text("keep me")
    with pytest.raises(RestoreTargetNotEmpty):
        restore_backup(archive, department=DEP, state_dir=target)
    assert [p.name for p in target.iterdir()] == ["something"]
    # An empty directory is fine.
    empty = tmp_path / "empty"
    empty.mkdir()
    restore_backup(archive, department=DEP, state_dir=empty)
    assert (empty / "nodes" / DEP / "node.sqlite").exists()


def test_only_a_sqlite_index_is_backed_up(tmp_path: Path) -> None:
    with pytest.raises(BackupUnsupported):
        create_backup(
            tmp_path / "x.tar",
            state_dir=tmp_path,
            department=DEP,
            paths=NodePaths.of(tmp_path, DEP),
            index_url="postgresql+psycopg://evnet@127.0.0.1/urban",
            now=NOW,
        )
    assert not (tmp_path / "x.tar").exists()


async def test_the_cli_backs_up_and_restores_with_codes(tmp_path: Path) -> None:
    state = tmp_path / "old"
    await _ingested_node(state)
    env = {
        **os.environ,
        "EVNET_STATE_DIR": str(state),
        "EVNET_CONSORTIUM": str(PROJECT_ROOT / "network-config" / "consortium.yaml"),
    }

    def evnet(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "node.cli", *args],
            env=env, capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip

    archive = tmp_path / "urban.tar"
    done = evnet("backup", "--department", DEP, "--out", str(archive))
    assert done.returncode == 0, done.stderr
    assert "backed up UrbanManagement" in done.stdout
    again = evnet("backup", "--department", DEP, "--out", str(archive))
    assert again.returncode == 1
    assert "BACKUP_FAILED" in again.stderr
    busy = evnet("restore", "--department", DEP, "--from", str(archive), "--state-dir", str(state))
    assert busy.returncode == 1
    assert "evnet: RESTORE_TARGET_NOT_EMPTY:" in busy.stderr
    nowhere = tmp_path / "no-such-dir" / "urban.tar"
    unwritable = evnet("backup", "--department", DEP, "--out", str(nowhere))
    assert unwritable.returncode == 2
    assert unwritable.stderr.startswith(f"evnet: FILE_UNWRITABLE: {nowhere}: "), unwritable.stderr
    assert unwritable.stderr.count("\n") == 1
    missing = evnet(
        "restore", "--department", DEP, "--from", str(nowhere), "--state-dir", str(tmp_path / "x")
    )
    assert missing.returncode == 2
    assert missing.stderr.startswith("evnet: FILE_UNREADABLE: "), missing.stderr
    assert missing.stderr.count("\n") == 1
    assert not (tmp_path / "x").exists()
    new = tmp_path / "new"
    done = evnet("restore", "--department", DEP, "--from", str(archive), "--state-dir", str(new))
    assert done.returncode == 0, done.stderr
    assert (new / "nodes" / DEP / "node.sqlite").exists()
