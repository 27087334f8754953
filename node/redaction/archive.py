"""What the owner node keeps of each redacted copy it made: the description (the copy's
claims, which the ledger binds by ``claims_hash``) and the sealed blob's facts, so that an
interrupted redaction resumes with the same bytes instead of sealing a second ciphertext."""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from schemas.derivations import DerivationDescription
from schemas.hashes import Digest
from schemas.ledger import MediaType

_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}\Z")


class CopyEntry(BaseModel):
    """A sealed, stored copy: enough to register it again byte for byte."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    derived_id: str
    description: DerivationDescription
    plaintext_hash: Digest
    ciphertext_hash: Digest
    size: Annotated[int, Field(gt=0)]
    media_type: MediaType


class CopyArchive:
    """Entries by derived evidence id under ``root`` (created on first write)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, derived_id: str) -> Path:
        if not _ID.match(derived_id) or ":" in derived_id:
            raise ValueError("not an evidence id")
        return self.root / f"{derived_id}.json"

    def put(self, entry: CopyEntry) -> None:
        """Keep ``entry`` durably (fsync, atomic rename). Raises OSError."""
        self.root.mkdir(parents=True, exist_ok=True)
        target = self._path(entry.derived_id)
        fd, tmp = tempfile.mkstemp(dir=self.root, prefix=".copy-")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(entry.model_dump_json().encode())
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def get(self, derived_id: str) -> CopyEntry | None:
        """The entry, or None. Raises ValueError for a corrupt file."""
        try:
            raw = self._path(derived_id).read_bytes()
        except FileNotFoundError:
            return None
        return CopyEntry.model_validate_json(raw)

    def ciphertexts(self) -> set[str]:
        """Every archived copy's ciphertext digest: blobs the ingest's crash clean-up must
        keep even before their copy is indexed. Unreadable entries are skipped (the doctor
        reports the blobs)."""
        found: set[str] = set()
        for path in sorted(self.root.glob("*.json")) if self.root.is_dir() else []:
            try:
                found.add(str(CopyEntry.model_validate_json(path.read_bytes()).ciphertext_hash))
            except (OSError, ValueError):
                continue
        return found
