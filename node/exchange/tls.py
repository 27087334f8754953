"""A department node's own TLS identity for the exchange (issued by its org's TLS CA on
first use), as the node's server and client both present it."""

from __future__ import annotations

import datetime as dt
from typing import NamedTuple

from node.consortium.identities import org_crypto
from node.consortium.launch import Layout


class ExchangeTls(NamedTuple):
    cert_pem: bytes
    key_pem: bytes
    ca_pem: bytes  # the org's TLS CA, which the other nodes trust for this node


def exchange_tls(layout: Layout, department: str, host: str = "127.0.0.1") -> ExchangeTls:
    """``department``'s exchange certificate and key (made if missing) and its TLS CA."""
    crypto = org_crypto(layout.state_dir, layout.consortium, department)
    files = crypto.ensure_identity(
        crypto.node("exchange"),
        f"exchange.{crypto.domain}",
        "peer",
        dt.datetime.now(dt.UTC),
        hosts=(host,),
    )
    return ExchangeTls(
        files.tls_cert.read_bytes(), files.tls_key.read_bytes(), crypto.tlsca_cert.read_bytes()
    )
