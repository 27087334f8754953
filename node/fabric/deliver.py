"""Blocks as a peer commits them: the peer's Deliver service (``protos.Deliver``), the same
stream Fabric's own block listeners use.

The request is one signed envelope of type DELIVER_SEEK_INFO whose payload is a SeekInfo:
from block ``start`` to the end of time, waiting for each block to be ready. The peer checks
the signature and the channel's Readers policy, then sends each block's bytes exactly as its
ledger stores them; it answers with a status instead when it refuses or ends.

Usage::

    async for raw in deliver_blocks(gateway, "evidence", start=archive.height):
        archive.append(raw)
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import AsyncGenerator

from fabric_protos.common import common_pb2
from fabric_protos.orderer import ab_pb2
from fabric_protos.peer import events_pb2_grpc
from google.protobuf import timestamp_pb2

from node.fabric.gateway import Gateway
from node.fabric.identity import Identity, Signer
from node.fabric.proposal import NONCE_BYTES, transaction_id

_NEWEST_POSSIBLE = (1 << 64) - 1  # SeekSpecified.number is a uint64: "never stop"


class DeliverError(Exception):
    """The peer refused the block stream or ended it: ``status`` is Fabric's (for example
    ``FORBIDDEN`` for an identity outside the channel's readers, ``NOT_FOUND`` for a channel
    the peer has not joined)."""

    def __init__(self, message: str, *, status: str) -> None:
        super().__init__(message)
        self.status = status


def seek_envelope(
    identity: Identity, signer: Signer, channel: str, start: int, now: dt.datetime
) -> common_pb2.Envelope:
    """The signed request for every block of ``channel`` from ``start`` on."""
    creator = identity.serialize()
    nonce = os.urandom(NONCE_BYTES)
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(now.astimezone(dt.UTC).replace(tzinfo=None))
    channel_header = common_pb2.ChannelHeader(
        type=common_pb2.DELIVER_SEEK_INFO,
        channel_id=channel,
        tx_id=transaction_id(nonce, creator),
        timestamp=stamp,
    )
    seek = ab_pb2.SeekInfo(
        start=ab_pb2.SeekPosition(specified=ab_pb2.SeekSpecified(number=start)),
        stop=ab_pb2.SeekPosition(specified=ab_pb2.SeekSpecified(number=_NEWEST_POSSIBLE)),
        behavior=ab_pb2.SeekInfo.BLOCK_UNTIL_READY,
    )
    payload = common_pb2.Payload(
        header=common_pb2.Header(
            channel_header=channel_header.SerializeToString(),
            signature_header=common_pb2.SignatureHeader(
                creator=creator, nonce=nonce
            ).SerializeToString(),
        ),
        data=seek.SerializeToString(),
    )
    payload_bytes = payload.SerializeToString()
    return common_pb2.Envelope(payload=payload_bytes, signature=signer.sign(payload_bytes))


async def deliver_blocks(
    gateway: Gateway, channel: str, *, start: int
) -> AsyncGenerator[bytes, None]:
    """Each block of ``channel`` from ``start`` on, as serialized ``common.Block`` bytes,
    waiting for new ones; ends only when the caller stops iterating (close the generator to
    end the stream) or the peer refuses.

    Raises:
        DeliverError: the peer answered with a status instead of blocks.
        grpc.aio.AioRpcError: the stream broke (the peer stopped, the network failed).
    """
    envelope = seek_envelope(gateway.identity, gateway.signer, channel, start, gateway.clock())
    call = events_pb2_grpc.DeliverStub(gateway.channel).Deliver()
    try:
        await call.write(envelope)
        await call.done_writing()
        async for response in call:
            kind = response.WhichOneof("Type")
            if kind == "block":
                yield response.block.SerializeToString()
            elif kind == "status":
                status = common_pb2.Status.Name(response.status)
                raise DeliverError(
                    f"the peer ended the block stream of {channel}: {status}", status=status
                )
    finally:
        call.cancel()
