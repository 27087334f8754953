"""EvidenceNet's chaincode runtime: a small shim over Fabric's official protos."""

from chaincode.runtime.contract import Contract, Registry, transaction
from chaincode.runtime.errors import ContractError, PeerError
from chaincode.runtime.identity import ClientIdentity
from chaincode.runtime.stub import Stub

__all__ = [
    "ClientIdentity",
    "Contract",
    "ContractError",
    "PeerError",
    "Registry",
    "Stub",
    "transaction",
]
