"""The node's typed view of the evidence chaincode: requests in, ledger records out."""

from node.ledger.client import Committed, LedgerClient, LedgerRefused

__all__ = ["Committed", "LedgerClient", "LedgerRefused"]
