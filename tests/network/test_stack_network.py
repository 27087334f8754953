"""``evnet up / status / down`` on a real consortium: every department's gateway runs as a
detached service answering /healthz on 127.0.0.1, a token issued by ``evnet gateway token``
works against it, a node backed up and restored into a fresh state directory is clean for
``evnet doctor``, and ``down`` leaves nothing running.

The stack runs from its own port-shifted consortium file and state directory, driven through
the ``evnet`` command line exactly as an operator would.
"""

from __future__ import annotations

import os
import sqlite3
import ssl
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import httpx
import pytest
from conftest import PORT_SHIFT
from netsupport import Upload, network_settings, shifted_consortium, signed_upload

from node.consortium import load_consortium
from node.consortium.identities import org_crypto
from node.ops.config import GATEWAY_PORT_OFFSET
from schemas.hashes import Digest

pytestmark = pytest.mark.network


def _get(url: str, context: ssl.SSLContext, token: str | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(url)  # noqa: S310 (loopback https)
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=10, context=context) as resp:  # noqa: S310
            return int(resp.status), resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


PHOTO = b"\xff\xd8 goods outside the shop door " * 5_000


def _device_upload(state: Path, consortium_file: Path) -> Upload:
    """A submission signed by ``device1``, the registrar identity ``evnet up`` issued."""
    consortium = load_consortium(consortium_file)
    device = org_crypto(state, consortium, "UrbanManagement").user("device1")
    return signed_upload(
        device,
        "UrbanManagementMSP",
        PHOTO,
        event_id="evt-stack-1",
        detections=[],
        model_sha256=str(Digest.of(b"model")),
    )


def _with_client_cert(
    context: ssl.SSLContext, cert: Path, key: Path, password: bytes | None = None
) -> ssl.SSLContext:
    context.load_cert_chain(cert, key, password)
    return context


def _pids(state: Path) -> dict[str, str]:
    return {p.stem: p.read_text() for p in sorted((state / "run").glob("*.pid"))}


def test_the_stack_comes_up_once_serves_backs_up_and_goes_down(tmp_path: Path) -> None:
    # Its own ports: the session's shared network (conftest) runs at PORT_SHIFT, the fault
    # suite's at PORT_SHIFT + 300.
    consortium_file = shifted_consortium(tmp_path / "c.yaml", PORT_SHIFT + 600)
    settings = network_settings(tmp_path / "state", consortium_file)
    state = settings.state_dir
    env = {
        **os.environ,
        "EVNET_STATE_DIR": str(state),
        "EVNET_CONSORTIUM": str(consortium_file),
        "EVNET_FABRIC_BIN": str(settings.fabric_bin),
    }

    def evnet(*args: str, timeout: float = 120, **extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "node.cli", *args],
            env={**env, **extra}, capture_output=True, text=True, timeout=timeout, check=False,
        )  # fmt: skip

    consortium = load_consortium(consortium_file)
    departments = consortium.departments
    health = {
        d.name: f"https://127.0.0.1:{d.peer.port + GATEWAY_PORT_OFFSET}/healthz"
        for d in departments
    }

    def trust(dep: str) -> ssl.SSLContext:
        """Trust the department's TLS CA: the gateway serves HTTPS by default."""
        return ssl.create_default_context(cafile=org_crypto(state, consortium, dep).tlsca_cert)

    try:
        up = evnet("up", timeout=600)
        assert up.returncode == 0, up.stdout + up.stderr
        assert f"{len(departments)} service(s) started" in up.stdout
        for dep in departments:
            status, body = _get(health[dep.name], trust(dep.name))
            assert status == 200
            assert f'"org":"{dep.msp_id}"' in body.decode()
            assert (state / "logs" / f"gateway.{dep.name}.log").stat().st_size > 0
        running = _pids(state)
        assert {f"gateway.{d.name}" for d in departments} <= set(running)

        again = evnet("up", timeout=300)
        assert again.returncode == 0, again.stdout + again.stderr
        assert "0 service(s) started" in again.stdout
        assert _pids(state) == running

        status_run = evnet("status")
        assert status_run.returncode == 0, status_run.stdout + status_run.stderr
        lines = {line.split()[0]: line.split() for line in status_run.stdout.splitlines()[1:]}
        for dep in departments:
            assert lines[f"gateway.{dep.name}"][2] == "ok"
            assert lines[f"peer0.{dep.name}"][2] == "ok"
        assert lines["orderer1"][2] == "ok"

        issued = evnet("identity", "issue", "--org", "UrbanManagement", "--role", "officer", "o1")
        assert issued.returncode == 0, issued.stderr
        token_run = evnet(
            "gateway", "token", "issue", "--department", "UrbanManagement", "--user", "o1",
            "--hours", "1",
        )  # fmt: skip
        assert token_run.returncode == 0, token_run.stderr
        token = token_run.stdout.strip()
        search = health["UrbanManagement"].removesuffix("/healthz") + "/evidence"
        urban_tls = trust("UrbanManagement")
        assert _get(search, urban_tls)[0] == 401
        assert _get(search, urban_tls, token)[0] == 200
        # `evnet up` keeps people's keys sealed: o1's was sealed when it was issued.
        o1 = org_crypto(state, consortium, "UrbanManagement").user("o1")
        assert b"ENCRYPTED PRIVATE KEY" in o1.key.read_bytes()
        sealed = evnet("identity", "seal", "--org", "UrbanManagement")
        assert sealed.returncode == 0, sealed.stdout + sealed.stderr
        assert "0 key(s) sealed" in sealed.stdout
        passphrase = state / "secrets" / "UrbanManagement.key-passphrase"
        # Mutual TLS: o1's enrollment certificate is its identity, no token needed (o1's own
        # copy of the key opened with the passphrase, as a person's client would).
        client = _with_client_cert(
            trust("UrbanManagement"), o1.cert, o1.key, passphrase.read_bytes().strip()
        )
        with httpx.Client(verify=client) as mtls:
            assert mtls.get(search).status_code == 200
        # o1 signs its ledger calls with its sealed key, which the gateway opens.
        case_url = search.removesuffix("/evidence") + "/cases/CASE-NONE"
        status, body = _get(case_url, trust("UrbanManagement"), token)
        assert status == 404, body  # the chaincode answered a query signed by o1
        assert b"NOT_FOUND" in body
        assert b"CASE-NONE" in body  # the chaincode's message names the case
        # Without the passphrase the node says so plainly (a2 is sealed at issue too).
        evnet("identity", "issue", "--org", "UrbanManagement", "--role", "auditor", "a2")
        a2_token = evnet("gateway", "token", "issue", "--department", "UrbanManagement",
                         "--user", "a2", "--hours", "1").stdout.strip()  # fmt: skip
        hidden = passphrase.with_name("moved-away")
        passphrase.rename(hidden)
        try:
            status, body = _get(case_url, trust("UrbanManagement"), a2_token)
        finally:
            hidden.rename(passphrase)
        assert status == 503, body
        assert b"KEY_PASSPHRASE_FILE_INVALID" in body
        # Plain HTTP is not served.
        with pytest.raises(httpx.HTTPError):
            httpx.get(search.replace("https://", "http://"), timeout=5)
        unknown = evnet("gateway", "token", "issue", "--department", "UrbanManagement",
                        "--user", "nobody")  # fmt: skip
        assert unknown.returncode == 2
        assert "UNKNOWN_USER" in unknown.stderr
        # The ledger's refusal of a package is one line with its code, and no file.
        no_case = evnet("package", "case-nowhere", "--org", "UrbanManagement", "--user", "o1",
                        "--out", str(tmp_path / "none.tar"))  # fmt: skip
        assert no_case.returncode == 1
        assert no_case.stderr.startswith("evnet: NOT_FOUND: "), no_case.stderr
        assert no_case.stderr.count("\n") == 1
        assert not list(tmp_path.glob("none.tar*"))

        # One item ingested through the running gateway, so the restored node has something
        # the doctor must find (its blob, key and index row, against the ledger).
        # The device presents its certificate (mutual TLS) instead of a token.
        device = org_crypto(state, consortium, "UrbanManagement").user("device1")
        submitted = httpx.post(
            health["UrbanManagement"].removesuffix("/healthz") + "/devices/submissions",
            files=_device_upload(state, consortium_file),
            verify=_with_client_cert(trust("UrbanManagement"), device.cert, device.key),
            timeout=60,
        )
        assert submitted.status_code == 201, submitted.text
        [item] = submitted.json()["items"]

        archive = tmp_path / "urban.tar"
        backup = evnet("backup", "--department", "UrbanManagement", "--out", str(archive))
        assert backup.returncode == 0, backup.stderr
        restored = tmp_path / "restored"
        restore = evnet("restore", "--department", "UrbanManagement", "--from", str(archive),
                        "--state-dir", str(restored))  # fmt: skip
        assert restore.returncode == 0, restore.stderr
        doctor = evnet("doctor", "--org", "UrbanManagement", EVNET_STATE_DIR=str(restored))
        assert doctor.returncode == 0, doctor.stdout + doctor.stderr
        assert "doctor: UrbanManagement: 0 problem(s)" in doctor.stdout
        node = restored / "nodes" / "UrbanManagement"
        with sqlite3.connect(node / "node.sqlite") as db:
            rows = db.execute("SELECT evidence_id FROM evidence").fetchall()
        assert rows == [(item["evidence_id"],)]
        assert len([b for b in (node / "blobs").rglob("*") if b.is_file()]) == 1
    finally:
        down = evnet("down", timeout=300)
    assert down.returncode == 0, down.stdout + down.stderr
    assert _pids(state) == {}
    for url in health.values():
        with pytest.raises(urllib.error.URLError):
            urllib.request.urlopen(url, timeout=5, context=trust("UrbanManagement"))  # noqa: S310
    status_after = evnet("status")
    assert status_after.returncode == 3
