"""EvidenceNet chaincode package."""
