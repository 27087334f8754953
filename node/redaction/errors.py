"""Why a redacted copy was not made: stable codes for the gateway to map, text for people."""

from __future__ import annotations


class RedactionError(Exception):
    """A redaction refused or failed; ``tx_id`` names the ledger transaction involved, if any."""

    def __init__(self, code: str, message: str, tx_id: str | None = None) -> None:
        super().__init__(f"{code}: {message}")
        self.code, self.message, self.tx_id = code, message, tx_id


UNSUPPORTED_MEDIA = "REDACTION_UNSUPPORTED_MEDIA"  # not a JPEG or PNG still image
UNDECODABLE = "REDACTION_UNDECODABLE"  # the bytes are not the image their media type says
TOO_LARGE = "REDACTION_TOO_LARGE"  # over the byte or pixel limit
MODEL_MISSING = "REDACTION_MODEL_MISSING"  # a detector file is absent or unreadable
NOT_OWN_EVIDENCE = "NOT_OWN_EVIDENCE"  # only the owner department makes copies of an item
ACCESS_DENIED = "ACCESS_DENIED"  # the redaction's access of the original was denied
EVIDENCE_UNAVAILABLE = "EVIDENCE_UNAVAILABLE"  # the original could not be read intact
COPY_UNRECOVERABLE = "REDACTED_COPY_UNRECOVERABLE"  # registered copy, its local record lost
