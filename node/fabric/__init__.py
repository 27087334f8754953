"""A Python client for the Fabric Gateway, on Fabric's official protobuf bindings."""

from node.fabric.blocks import (
    BlockView,
    ChainProblem,
    Endorsement,
    KVRead,
    KVWrite,
    MalformedLedgerData,
    NamespaceWrites,
    OrdererSignature,
    TransactionView,
    block_header_bytes,
    verify_chain,
)
from node.fabric.checkpoint import Checkpointer, FileCheckpointer, InMemoryCheckpointer
from node.fabric.connection import open_channel
from node.fabric.errors import (
    CheckpointError,
    CommitError,
    CommitStatusError,
    EndorseError,
    EvaluateError,
    GatewayError,
    PeerDetail,
    SubmitError,
)
from node.fabric.events import resume_events
from node.fabric.gateway import ChaincodeEvent, Contract, Deadlines, Gateway, SubmitResult
from node.fabric.identity import Identity, Signer, load_msp_identity
from node.fabric.ledger import ChainInfo, LedgerQueries, LedgerQueryError, NotFoundOnLedger
from node.fabric.retry import submit_with_retry

__all__ = [
    "BlockView",
    "ChainInfo",
    "ChainProblem",
    "ChaincodeEvent",
    "CheckpointError",
    "Checkpointer",
    "CommitError",
    "CommitStatusError",
    "Contract",
    "Deadlines",
    "EndorseError",
    "Endorsement",
    "EvaluateError",
    "FileCheckpointer",
    "Gateway",
    "GatewayError",
    "Identity",
    "InMemoryCheckpointer",
    "KVRead",
    "KVWrite",
    "LedgerQueries",
    "LedgerQueryError",
    "MalformedLedgerData",
    "NamespaceWrites",
    "NotFoundOnLedger",
    "OrdererSignature",
    "PeerDetail",
    "Signer",
    "SubmitError",
    "SubmitResult",
    "TransactionView",
    "block_header_bytes",
    "load_msp_identity",
    "open_channel",
    "resume_events",
    "submit_with_retry",
    "verify_chain",
]
