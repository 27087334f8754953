"""gRPC channels to a department's gateway peer: TLS with the org's TLS CA, optional mTLS."""

from __future__ import annotations

import grpc

_OPTIONS: list[tuple[str, str | int]] = [
    ("grpc.max_receive_message_length", 100 * 1024 * 1024),
    ("grpc.max_send_message_length", 100 * 1024 * 1024),
    ("grpc.keepalive_time_ms", 60_000),
    ("grpc.keepalive_timeout_ms", 20_000),
]


def open_channel(
    address: str,
    tls_root_pem: bytes,
    *,
    server_name: str | None = None,
    client_cert_pem: bytes | None = None,
    client_key_pem: bytes | None = None,
) -> grpc.aio.Channel:
    """A TLS channel to ``address``; share one channel among many gateways."""
    creds = grpc.ssl_channel_credentials(
        root_certificates=tls_root_pem,
        private_key=client_key_pem,
        certificate_chain=client_cert_pem,
    )
    options = list(_OPTIONS)
    if server_name:
        options.append(("grpc.ssl_target_name_override", server_name))
    return grpc.aio.secure_channel(address, creds, options=options)
