"""EvidenceNet detectors package."""
