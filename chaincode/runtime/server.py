"""The chaincode-as-a-service gRPC server that peers dial."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import grpc
from fabric_protos.peer import chaincode_shim_pb2_grpc as shim_grpc

from chaincode.runtime.contract import Registry
from chaincode.runtime.handler import Message, StreamHandler

log = logging.getLogger(__name__)

# The peer pings every 60 s (its chaincode keepalive defaults); accept pings that often
# and keep idle connections, so a quiet network does not lose its chaincode.
_KEEPALIVE = [
    ("grpc.keepalive_time_ms", 60_000),
    ("grpc.keepalive_timeout_ms", 20_000),
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.http2.min_ping_interval_without_data_ms", 10_000),
    ("grpc.http2.max_pings_without_data", 0),
    ("grpc.max_receive_message_length", 100 * 1024 * 1024),
    ("grpc.max_send_message_length", 100 * 1024 * 1024),
]


@dataclass(frozen=True)
class ServerSettings:
    chaincode_id: str
    address: str
    tls_cert: Path | None = None
    tls_key: Path | None = None
    client_ca: Path | None = None


class _Servicer(shim_grpc.ChaincodeServicer):  # type: ignore[misc]
    def __init__(self, registry: Registry, chaincode_id: str) -> None:
        self._registry = registry
        self._chaincode_id = chaincode_id

    async def Connect(
        self,
        request_iterator: AsyncIterator[Message],
        context: grpc.aio.ServicerContext[Message, Message],
    ) -> AsyncIterator[Message]:
        log.info("peer connected")
        handler = StreamHandler(self._registry, self._chaincode_id)
        async for msg in handler.run(request_iterator):
            yield msg
        log.info("peer disconnected")


def _credentials(settings: ServerSettings) -> grpc.ServerCredentials | None:
    if settings.tls_cert is None or settings.tls_key is None:
        return None
    client_ca = settings.client_ca.read_bytes() if settings.client_ca else None
    return grpc.ssl_server_credentials(
        [(settings.tls_key.read_bytes(), settings.tls_cert.read_bytes())],
        root_certificates=client_ca,
        require_client_auth=client_ca is not None,
    )


async def serve(settings: ServerSettings, registry: Registry) -> None:
    """Serve until SIGTERM or SIGINT, then stop gracefully."""
    server = grpc.aio.server(options=_KEEPALIVE)
    shim_grpc.add_ChaincodeServicer_to_server(_Servicer(registry, settings.chaincode_id), server)
    creds = _credentials(settings)
    if creds is None:
        server.add_insecure_port(settings.address)
    else:
        server.add_secure_port(settings.address, creds)
    await server.start()
    log.info("chaincode %s listening on %s", settings.chaincode_id, settings.address)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    log.info("stopping")
    await server.stop(grace=5)
