"""EvidenceNet schemas package."""
