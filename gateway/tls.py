"""HTTPS for the gateway, and mutual TLS: a person's or device's enrollment certificate as its
identity, with no token.

The TLS handshake checks that the client's certificate was issued by the department's
identity CA; the gateway then accepts it only if it is byte-for-byte the certificate the
node holds for that user (``<msp>/signcerts/cert.pem``), so a reissued or removed identity
stops working at once. The role comes from the certificate, as for tokens.

uvicorn does not pass the peer certificate to the application, so :class:`ClientCertProtocol`
(uvicorn's h11 protocol, one instance per connection) wraps the application for its
connection and puts the certificate into the request scope the way the ASGI TLS extension
defines (``scope["extensions"]["tls"]["client_cert_chain"]``, PEM strings). Routes read it
through :func:`client_certificate`, so nothing else depends on the server.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from cryptography import x509
from uvicorn.protocols.http.h11_impl import H11Protocol

Scope = dict[str, Any]
Receive = Any
Send = Any


class ClientCertificates(StrEnum):
    """Whether the gateway asks callers for a certificate during the handshake."""

    OFF = "off"  # tokens only
    OPTIONAL = "optional"  # a certificate if the caller has one, else a token (browsers)
    REQUIRED = "required"  # no certificate, no connection


_REQS = {
    ClientCertificates.OFF: ssl.CERT_NONE,
    ClientCertificates.OPTIONAL: ssl.CERT_OPTIONAL,
    ClientCertificates.REQUIRED: ssl.CERT_REQUIRED,
}


@dataclass(frozen=True)
class ServerTls:
    """The gateway's server certificate and the CA its callers' certificates must chain to."""

    cert: Path
    key: Path
    client_ca: Path
    client_certificates: ClientCertificates = ClientCertificates.OPTIONAL

    def uvicorn_options(self) -> dict[str, Any]:
        """Keyword arguments for ``uvicorn.Config``."""
        return {
            "ssl_certfile": str(self.cert),
            "ssl_keyfile": str(self.key),
            "ssl_ca_certs": str(self.client_ca),
            "ssl_cert_reqs": _REQS[self.client_certificates],
            "http": ClientCertProtocol,
        }


class _WithClientCert:
    """The application as seen by one TLS connection: each scope carries its certificate."""

    def __init__(self, app: Any, chain: list[str]) -> None:
        self._app, self._chain = app, chain

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            extensions = dict(scope.get("extensions") or {})
            extensions["tls"] = {"client_cert_chain": self._chain}
            scope = {**scope, "extensions": extensions}
        await self._app(scope, receive, send)


class ClientCertProtocol(H11Protocol):
    """uvicorn's h11 protocol that hands the client certificate to the application."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        ssl_object = transport.get_extra_info("ssl_object")
        der = ssl_object.getpeercert(binary_form=True) if ssl_object is not None else None
        if der:
            pem = ssl.DER_cert_to_PEM_cert(der)
            self.app = _WithClientCert(self.app, [pem])


def client_certificate(scope: Mapping[str, Any]) -> x509.Certificate | None:
    """The certificate the caller presented in the TLS handshake (already chain-checked)."""
    tls = (scope.get("extensions") or {}).get("tls") or {}
    chain = tls.get("client_cert_chain") or []
    if not chain:
        return None
    return x509.load_pem_x509_certificate(chain[0].encode("ascii"))


def client_context(ca: Path, cert: Path | None = None, key: Path | None = None) -> ssl.SSLContext:
    """A client's TLS context for the gateway: trust ``ca``; present ``cert``/``key`` if given."""
    context = ssl.create_default_context(cafile=str(ca))
    if cert is not None:
        context.load_cert_chain(str(cert), str(key) if key is not None else None)
    return context
