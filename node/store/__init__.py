"""Content-addressed storage for sealed evidence blobs."""

from node.store.blob_store import BlobStore
from node.store.errors import BlobCorrupted, BlobNotFound, BlobTooLarge, StoreError
from node.store.filesystem import FilesystemBlobStore

__all__ = [
    "BlobCorrupted",
    "BlobNotFound",
    "BlobStore",
    "BlobTooLarge",
    "FilesystemBlobStore",
    "StoreError",
]
