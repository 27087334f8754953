"""The local or multi-host Fabric consortium: definition, identities, toolchain, processes."""

from node.consortium.config import Consortium, Department, OrdererNode, load_consortium
from node.consortium.errors import (
    ConsortiumConfigError,
    NetworkError,
    PortInUseError,
    ToolchainError,
)

__all__ = [
    "Consortium",
    "ConsortiumConfigError",
    "Department",
    "NetworkError",
    "OrdererNode",
    "PortInUseError",
    "ToolchainError",
    "load_consortium",
]
