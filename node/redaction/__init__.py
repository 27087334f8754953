"""Redacted copies: faces and plates pixelated in a new evidence item linked to its original.

``Redactor`` is the pure image step (real OpenCV detectors); ``RedactionService`` makes the
copy an evidence item of the owner (sealed, stored, registered, indexed) and links it on the
ledger with ``RecordDerivation``, after the original's reading is recorded as an access.
"""

from node.redaction.archive import CopyArchive, CopyEntry
from node.redaction.errors import RedactionError
from node.redaction.ledger import DerivationConflict, DerivationLedger, DerivationsClient
from node.redaction.redactor import METHOD, Redacted, Redactor
from node.redaction.service import RedactedCopy, RedactionService

__all__ = [
    "METHOD",
    "CopyArchive",
    "CopyEntry",
    "DerivationConflict",
    "DerivationLedger",
    "DerivationsClient",
    "Redacted",
    "RedactedCopy",
    "RedactionError",
    "RedactionService",
    "Redactor",
]
