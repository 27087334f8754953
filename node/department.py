"""Where a department node keeps its things, under the consortium's state directory.

<state>/nodes/<Department>/blobs/      sealed evidence (content-addressed)
                          keys/       wrapped data keys, one file per item
                          org.key     the org's X25519 private key (0600)
                          node.sqlite the index and the ingest journal (default URL)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from node.crypto.key_wrap import KeyRing
from node.index import IndexDatabase, open_index
from node.index.database import sqlite_url
from node.store import FilesystemBlobStore
from node.vault import KeyVault, load_or_create_org_key

MAX_BLOB_BYTES = 4 << 30


@dataclass(frozen=True)
class NodePaths:
    root: Path

    @classmethod
    def of(cls, state_dir: Path, department: str) -> NodePaths:
        return cls(state_dir / "nodes" / department)

    @property
    def blobs(self) -> Path:
        return self.root / "blobs"

    @property
    def keys(self) -> Path:
        return self.root / "keys"

    @property
    def org_key(self) -> Path:
        return self.root / "org.key"

    @property
    def chain(self) -> Path:
        """The node's copy of the channel's blocks (node.chain.BlockArchive)."""
        return self.root / "chain.sqlite"

    @property
    def index_url(self) -> str:
        return sqlite_url(self.root / "node.sqlite")


@dataclass(frozen=True)
class NodeParts:
    store: FilesystemBlobStore
    vault: KeyVault
    keyring: KeyRing
    index: IndexDatabase


def open_parts(paths: NodePaths, index_url: str | None = None) -> NodeParts:
    """Open (creating as needed) a department node's store, vault, key ring and index."""
    paths.root.mkdir(parents=True, exist_ok=True)
    return NodeParts(
        store=FilesystemBlobStore(paths.blobs, max_blob_bytes=MAX_BLOB_BYTES),
        vault=KeyVault(paths.keys),
        keyring=KeyRing(load_or_create_org_key(paths.org_key)),
        index=open_index(index_url or paths.index_url),
    )
