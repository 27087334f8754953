"""EvidenceNet gateway package."""
