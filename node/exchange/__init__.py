"""Node-to-node release of evidence over mutual TLS, under ledger control.

A partner node asks the owner node for an item, naming the transaction of its committed
access record. The owner releases the ciphertext and the data key wrapped to the
requester's published org key only if its own peer shows that record granted to the
requester's org, for that item, recently. The requester checks the plaintext against the
hash on the ledger before anyone sees it.
"""

from node.exchange.client import fetch
from node.exchange.policy import ReleaseRefused, check_release
from node.exchange.server import ExchangeServer, OwnerItems

__all__ = ["ExchangeServer", "OwnerItems", "ReleaseRefused", "check_release", "fetch"]
