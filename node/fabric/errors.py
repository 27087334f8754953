"""What can fail while talking to a Fabric Gateway, named for the phase that failed.

Every error carries the transaction id and the per-peer details the gateway reported;
a chaincode's own refusal surfaces as ``chaincode_code`` (e.g. ``ACCESS_DENIED``).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

import grpc


@dataclass(frozen=True)
class PeerDetail:
    """One endpoint's part of a gateway error."""

    address: str
    msp_id: str
    message: str


class GatewayError(Exception):
    """Base of the client's errors."""

    def __init__(
        self,
        message: str,
        *,
        tx_id: str = "",
        grpc_code: grpc.StatusCode | None = None,
        details: tuple[PeerDetail, ...] = (),
    ) -> None:
        super().__init__(message)
        self.tx_id = tx_id
        self.grpc_code = grpc_code
        self.details = details

    @property
    def deadline_exceeded(self) -> bool:
        return self.grpc_code == grpc.StatusCode.DEADLINE_EXCEEDED

    @property
    def chaincode_code(self) -> str | None:
        """The stable code of the chaincode's refusal, if a peer reported one."""
        for text in (str(self), *(d.message for d in self.details)):
            code = _chaincode_code(text)
            if code:
                return code
        return None

    @property
    def chaincode_message(self) -> str | None:
        for text in (str(self), *(d.message for d in self.details)):
            doc = _chaincode_doc(text)
            if doc:
                return str(doc.get("message", ""))
        return None


class EvaluateError(GatewayError):
    """The peer could not evaluate the transaction (or the chaincode refused it)."""


class EndorseError(GatewayError):
    """Endorsement failed (chaincode refusal, policy not satisfiable, peers unreachable)."""


class SubmitError(GatewayError):
    """The endorsed transaction could not be sent to the ordering service."""


class CommitStatusError(GatewayError):
    """The commit status could not be obtained (the transaction may still commit)."""


class CommitError(GatewayError):
    """The transaction was ordered but the peers marked it invalid."""

    def __init__(self, tx_id: str, code: str, block_number: int) -> None:
        super().__init__(
            f"transaction {tx_id} failed validation with code {code} in block {block_number}",
            tx_id=tx_id,
        )
        self.code = code
        self.block_number = block_number


class CheckpointError(Exception):
    """A checkpoint file could not be read or written, or does not hold a checkpoint.

    Not a :class:`GatewayError`: it is a local storage failure, and a listener must not
    treat it like a network fault and carry on from an unknown position.
    """


# Where the chaincode's {"code": ..., "message": ...} starts inside a peer's error text
# (sometimes with its quotes escaped). The document is then decoded as JSON from there:
# a message may itself contain braces ("{BlockNum: 10, TxNum: 0}").
_CHAINCODE_START = re.compile(r'\{\\?"code\\?":\s*\\?"[A-Z_]+\\?"')


def _chaincode_doc(text: str) -> dict[str, object] | None:
    match = _CHAINCODE_START.search(text)
    if match is None:
        return None
    rest = text[match.start() :]
    if rest.startswith('{\\"'):
        rest = rest.replace('\\"', '"')
    try:
        doc, _ = json.JSONDecoder().raw_decode(rest)
    except json.JSONDecodeError:
        return None
    return doc if isinstance(doc, dict) else None


def _chaincode_code(text: str) -> str | None:
    doc = _chaincode_doc(text)
    code = doc.get("code") if doc else None
    return code if isinstance(code, str) else None


def from_rpc_error(cls: type[GatewayError], err: grpc.aio.AioRpcError, tx_id: str) -> GatewayError:
    """Translate a gRPC failure into ``cls``, decoding the gateway's ErrorDetail list."""
    from fabric_protos.gateway import gateway_pb2
    from google.rpc import status_pb2

    details: list[PeerDetail] = []
    metadata: Any = err.trailing_metadata() or ()
    for key, value in metadata:
        if key == "grpc-status-details-bin" and isinstance(value, bytes):
            status = status_pb2.Status.FromString(value)
            for any_detail in status.details:
                detail = gateway_pb2.ErrorDetail()
                if any_detail.Unpack(detail):
                    details.append(PeerDetail(detail.address, detail.msp_id, detail.message))
    message = f"{cls.__name__[: -len('Error')].lower()} failed: {err.details()}"
    if details:
        message += " [" + "; ".join(f"{d.msp_id}@{d.address}: {d.message}" for d in details) + "]"
    return cls(message, tx_id=tx_id, grpc_code=err.code(), details=tuple(details))
