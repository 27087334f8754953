"""A Python client for the Fabric Gateway, on Fabric's official protobuf bindings."""

from node.fabric.connection import open_channel
from node.fabric.errors import (
    CommitError,
    CommitStatusError,
    EndorseError,
    EvaluateError,
    GatewayError,
    PeerDetail,
    SubmitError,
)
from node.fabric.gateway import ChaincodeEvent, Contract, Deadlines, Gateway, SubmitResult
from node.fabric.identity import Identity, Signer, load_msp_identity

__all__ = [
    "ChaincodeEvent",
    "CommitError",
    "CommitStatusError",
    "Contract",
    "Deadlines",
    "EndorseError",
    "EvaluateError",
    "Gateway",
    "GatewayError",
    "Identity",
    "PeerDetail",
    "Signer",
    "SubmitError",
    "SubmitResult",
    "load_msp_identity",
    "open_channel",
]
