"""EvidenceNet node package."""
