"""One-click evidence packages and their offline verifier (docs/PACKAGE.md)."""

from node.package.archive_stream import ArchiveStream, StreamCancelled, StreamFailed
from node.package.builder import (
    Destination,
    Exporter,
    ForeignEvidence,
    ForeignEvidenceUnavailable,
    PackageRefused,
    build_package,
    stream_package,
)
from node.package.claims_archive import ClaimsArchive, ClaimsNotArchived, SignedClaims
from node.package.manifest import Manifest
from node.package.verifier import Failure, Report, verify_package

__all__ = [
    "ArchiveStream",
    "ClaimsArchive",
    "ClaimsNotArchived",
    "Destination",
    "Exporter",
    "Failure",
    "ForeignEvidence",
    "ForeignEvidenceUnavailable",
    "Manifest",
    "PackageRefused",
    "Report",
    "SignedClaims",
    "StreamCancelled",
    "StreamFailed",
    "build_package",
    "stream_package",
    "verify_package",
]
