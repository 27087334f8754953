"""HTTPS and mutual TLS on the real server: uvicorn with the gateway's TLS settings on
127.0.0.1, certificates from a freshly generated department CA, the real certificate
directory. The ledger is the gateway kit's fake (the seam); everything TLS is real."""

from __future__ import annotations

import datetime as dt
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import httpx
import pytest
import uvicorn
from gatewaykit import build

from gateway.app import create_app
from gateway.auth import CertificateDirectory, TokenStore
from gateway.tls import ClientCertificates, ServerTls, client_context
from node.consortium.identities import IdentityFiles, OrgCrypto, ensure_gateway_tls
from node.crypto.pki import KeyPair, issue, write_private

NOW = dt.datetime.now(dt.UTC)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _person(crypto: OrgCrypto, name: str, role: str) -> IdentityFiles:
    attrs = {"hf.EnrollmentID": name, "hf.Type": "client", "role": role}
    return crypto.ensure_identity(
        crypto.user(name), f"{name}@{crypto.domain}", "client", NOW, attributes=attrs
    )


@dataclass
class Served:
    url: str
    crypto: OrgCrypto
    tokens: TokenStore

    def client(self, who: IdentityFiles | None = None, **kw: object) -> httpx.Client:
        cert = (who.cert, who.key) if who is not None else (None, None)
        context = client_context(self.crypto.tlsca_cert, *cert)
        return httpx.Client(base_url=self.url, verify=context, timeout=10, **kw)  # type: ignore[arg-type]


def _serve(tmp_path: Path, mode: ClientCertificates) -> Iterator[Served]:
    crypto = OrgCrypto(tmp_path / "crypto" / "UrbanManagement", "UrbanManagement", "urban.evnet")
    crypto.ensure_cas(NOW)
    for name, role in (("officer1", "officer"), ("reviewer1", "reviewer"), ("edge-07", "device")):
        _person(crypto, name, role)
    server_files = ensure_gateway_tls(crypto, "127.0.0.1", NOW)
    kit = build(tmp_path / "gw")
    deps = replace(kit.deps, identities=CertificateDirectory(lambda u: crypto.user(u).msp_dir))
    tls = ServerTls(server_files.tls_cert, server_files.tls_key, crypto.ca_cert, mode)
    port = _free_port()
    config = uvicorn.Config(
        create_app(deps), host="127.0.0.1", port=port, log_level="warning", **tls.uvicorn_options()
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    try:
        yield Served(f"https://127.0.0.1:{port}", crypto, deps.tokens)
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    yield from _serve(tmp_path, ClientCertificates.OPTIONAL)


@pytest.fixture
def strict(tmp_path: Path) -> Iterator[Served]:
    yield from _serve(tmp_path, ClientCertificates.REQUIRED)


def test_a_person_s_enrollment_certificate_is_its_identity(served: Served) -> None:
    officer = served.crypto.user("officer1")
    with served.client(officer) as c:
        resp = c.get("/evidence")
    assert resp.status_code == 200, resp.text


def test_the_role_comes_from_the_certificate(served: Served) -> None:
    device = served.crypto.user("edge-07")
    with served.client(device) as c:
        resp = c.get("/evidence")
    assert resp.status_code == 403
    assert resp.json()["code"] == "ACCESS_DENIED"


def test_no_certificate_and_no_token_is_unauthenticated(served: Served) -> None:
    with served.client() as c:
        resp = c.get("/evidence")
    assert resp.status_code == 401
    assert resp.json()["code"] == "UNAUTHENTICATED"


def test_a_token_still_works_without_a_certificate(served: Served) -> None:
    token = served.tokens.issue_token("reviewer1", dt.timedelta(hours=1))
    with served.client(headers={"Authorization": f"Bearer {token}"}) as c:
        assert c.get("/evidence").status_code == 200


def test_a_token_for_someone_else_than_the_certificate_is_refused(served: Served) -> None:
    token = served.tokens.issue_token("reviewer1", dt.timedelta(hours=1))
    officer = served.crypto.user("officer1")
    with served.client(officer, headers={"Authorization": f"Bearer {token}"}) as c:
        resp = c.get("/evidence")
    assert resp.status_code == 401
    assert resp.json()["code"] == "CREDENTIALS_CONFLICT"


def test_a_reissued_identity_s_old_certificate_is_refused(served: Served, tmp_path: Path) -> None:
    # Same CA, same name, but not the certificate on file: what a stolen or superseded
    # certificate looks like.
    ca = KeyPair(
        (served.crypto.root / "ca" / "ca.pem").read_bytes(),
        (served.crypto.root / "ca" / "key.pem").read_bytes(),
    )
    attrs = {"hf.EnrollmentID": "officer1", "hf.Type": "client", "role": "officer"}
    old = issue(ca, "officer1@urban.evnet", "urban.evnet", NOW, attributes=attrs)
    cert, key = tmp_path / "old.pem", tmp_path / "old.key"
    cert.write_bytes(old.cert_pem)
    write_private(key, old.key_pem)
    context = client_context(served.crypto.tlsca_cert, cert, key)
    with httpx.Client(base_url=served.url, verify=context, timeout=10) as c:
        resp = c.get("/evidence")
    assert resp.status_code == 401
    assert resp.json()["code"] == "UNKNOWN_CERTIFICATE"


def test_a_certificate_from_another_ca_fails_the_handshake(served: Served, tmp_path: Path) -> None:
    stranger = OrgCrypto(tmp_path / "stranger", "Stranger", "urban.evnet")
    stranger.ensure_cas(NOW)
    who = _person(stranger, "officer1", "officer")
    context = client_context(served.crypto.tlsca_cert, who.cert, who.key)
    with (
        httpx.Client(base_url=served.url, verify=context, timeout=10) as c,
        pytest.raises(httpx.HTTPError),
    ):
        c.get("/evidence")


def test_a_client_that_does_not_trust_the_department_ca_refuses_the_gateway(
    served: Served,
) -> None:
    with httpx.Client(base_url=served.url, timeout=10) as c, pytest.raises(httpx.ConnectError):
        c.get("/healthz")


def test_plain_http_is_not_served(served: Served) -> None:
    with pytest.raises(httpx.HTTPError):
        httpx.get(served.url.replace("https://", "http://") + "/healthz", timeout=5)


def test_required_client_certificates_refuse_a_caller_without_one(strict: Served) -> None:
    token = strict.tokens.issue_token("reviewer1", dt.timedelta(hours=1))
    with (
        strict.client(headers={"Authorization": f"Bearer {token}"}) as c,
        pytest.raises(httpx.HTTPError),
    ):
        c.get("/evidence")
    with strict.client(strict.crypto.user("officer1")) as c:
        assert c.get("/evidence").status_code == 200


def test_the_client_context_refuses_an_unreadable_key(tmp_path: Path) -> None:
    missing = tmp_path / "nope.pem"
    crypto = OrgCrypto(tmp_path / "c", "UrbanManagement", "urban.evnet")
    crypto.ensure_cas(NOW)
    with pytest.raises((OSError, ssl.SSLError)):
        client_context(crypto.tlsca_cert, missing, missing)
