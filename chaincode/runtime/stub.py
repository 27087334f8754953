"""The transaction's view of the ledger: state calls answered by the peer.

Each call is a request on the shared stream; the handler routes the peer's answer back to
this transaction by channel and transaction id. An ERROR answer raises :class:`PeerError`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable

from fabric_protos.common import common_pb2
from fabric_protos.peer import chaincode_event_pb2, proposal_pb2
from fabric_protos.peer import chaincode_shim_pb2 as shim

from chaincode.runtime.identity import ClientIdentity

Call = Callable[[int, bytes], Awaitable[bytes]]


class Stub:
    """State access and facts about the running transaction."""

    def __init__(
        self, call: Call, channel_id: str, tx_id: str, signed_proposal: bytes | None
    ) -> None:
        self._call = call
        self.channel_id = channel_id
        self.tx_id = tx_id
        self.event: chaincode_event_pb2.ChaincodeEvent | None = None
        self._creator = b""
        self._timestamp = dt.datetime.fromtimestamp(0, dt.UTC)
        self._transient: dict[str, bytes] = {}
        if signed_proposal:
            self._read_proposal(signed_proposal)

    def _read_proposal(self, signed: bytes) -> None:
        sp = proposal_pb2.SignedProposal.FromString(signed)
        prop = proposal_pb2.Proposal.FromString(sp.proposal_bytes)
        header = common_pb2.Header.FromString(prop.header)
        channel_header = common_pb2.ChannelHeader.FromString(header.channel_header)
        sig_header = common_pb2.SignatureHeader.FromString(header.signature_header)
        self._creator = bytes(sig_header.creator)
        ts = channel_header.timestamp
        self._timestamp = dt.datetime.fromtimestamp(ts.seconds, dt.UTC) + dt.timedelta(
            microseconds=ts.nanos // 1000
        )
        payload = proposal_pb2.ChaincodeProposalPayload.FromString(prop.payload)
        self._transient = {k: bytes(v) for k, v in payload.TransientMap.items()}

    @property
    def timestamp(self) -> dt.datetime:
        """The client's transaction timestamp: the only clock a deterministic contract uses."""
        return self._timestamp

    @property
    def creator(self) -> bytes:
        return self._creator

    def client_identity(self) -> ClientIdentity:
        return ClientIdentity.from_creator(self._creator)

    def transient(self) -> dict[str, bytes]:
        return dict(self._transient)

    async def get_state(self, key: str, collection: str = "") -> bytes | None:
        """The committed value of ``key`` or None. Raises PeerError if the peer refuses."""
        value = await self._call(
            shim.ChaincodeMessage.GET_STATE,
            shim.GetState(key=key, collection=collection).SerializeToString(),
        )
        return value or None

    async def put_state(self, key: str, value: bytes, collection: str = "") -> None:
        if not key:
            raise ValueError("empty key")
        await self._call(
            shim.ChaincodeMessage.PUT_STATE,
            shim.PutState(key=key, value=value, collection=collection).SerializeToString(),
        )

    async def delete_state(self, key: str, collection: str = "") -> None:
        await self._call(
            shim.ChaincodeMessage.DEL_STATE,
            shim.DelState(key=key, collection=collection).SerializeToString(),
        )

    def set_event(self, name: str, payload: bytes) -> None:
        """Attach the transaction's (single) chaincode event, sent with COMPLETED."""
        if not name:
            raise ValueError("event name must not be empty")
        self.event = chaincode_event_pb2.ChaincodeEvent(event_name=name, payload=payload)
