"""The ``evnet`` command line: one-line errors with stable codes, identities with roles."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography import x509

from schemas.glossary import ATTRIBUTE_EXTENSION_OID

ROOT = Path(__file__).resolve().parents[2]


def _evnet(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    base = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "EVNET_STATE_DIR": str(tmp_path / "s")}
    return subprocess.run(
        [sys.executable, "-m", "node.cli", *args],
        capture_output=True,
        text=True,
        env={**base, **env},
        cwd=ROOT,
        check=False,
        timeout=60,
    )


def test_missing_binary_is_one_line_and_starts_nothing(tmp_path: Path) -> None:
    empty = tmp_path / "bin"
    empty.mkdir()
    proc = _evnet(tmp_path, "network", "up", EVNET_FABRIC_BIN=str(empty))
    assert proc.returncode == 1
    assert proc.stderr.count("\n") == 1
    assert proc.stderr.startswith("evnet: TOOLCHAIN_MISSING: missing Fabric binary 'orderer'")
    assert not (tmp_path / "s" / "run").exists()


def test_malformed_consortium_file_is_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "c.yaml"
    bad.write_text("version: 1\nchannel: Evidence!\n")
    proc = _evnet(tmp_path, "network", "up", EVNET_CONSORTIUM=str(bad))
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1
    assert proc.stderr.startswith(f"evnet: CONSORTIUM_CONFIG_INVALID: {bad}: channel:")


def test_identity_issue_puts_the_role_in_the_certificate(tmp_path: Path) -> None:
    proc = _evnet(
        tmp_path, "identity", "issue", "--org", "PublicSecurity", "--role", "partner", "ps-wang"
    )
    assert proc.returncode == 0, proc.stderr
    cert_path = tmp_path / "s/crypto/PublicSecurity/users/ps-wang/msp/signcerts/cert.pem"
    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    ext = cert.extensions.get_extension_for_oid(x509.ObjectIdentifier(ATTRIBUTE_EXTENSION_OID))
    assert isinstance(ext.value, x509.UnrecognizedExtension)
    assert json.loads(ext.value.value)["attrs"]["role"] == "partner"
    ou = cert.subject.get_attributes_for_oid(x509.NameOID.ORGANIZATIONAL_UNIT_NAME)
    assert [a.value for a in ou] == ["client"]
    key = cert_path.parents[1] / "keystore" / "priv_sk"
    assert key.stat().st_mode & 0o077 == 0  # private keys readable by their owner only
    again = _evnet(
        tmp_path, "identity", "issue", "--org", "PublicSecurity", "--role", "partner", "ps-wang"
    )
    assert again.returncode == 1
    assert "IDENTITY_INVALID: identity 'ps-wang' already exists" in again.stderr


def test_identity_issue_rejects_unknown_org_and_bad_names(tmp_path: Path) -> None:
    unknown = _evnet(tmp_path, "identity", "issue", "--org", "Nowhere", "--role", "officer", "x")
    assert unknown.returncode == 2
    assert "unknown department 'Nowhere'" in unknown.stderr
    bad = _evnet(
        tmp_path, "identity", "issue", "--org", "UrbanManagement", "--role", "officer", "../x"
    )
    assert bad.returncode == 1
    assert "invalid identity name" in bad.stderr


def test_identity_seal_encrypts_people_s_keys_and_later_issues_too(tmp_path: Path) -> None:
    issued = [("officer", "o-li"), ("device", "cam-7")]
    for role, name in issued:
        proc = _evnet(
            tmp_path, "identity", "issue", "--org", "UrbanManagement", "--role", role, name
        )
        assert proc.returncode == 0, proc.stderr
    users = tmp_path / "s/crypto/UrbanManagement/users"
    assert b"BEGIN PRIVATE KEY" in (users / "o-li/msp/keystore/priv_sk").read_bytes()

    seal = _evnet(tmp_path, "identity", "seal", "--org", "UrbanManagement")
    assert seal.returncode == 0, seal.stderr
    assert "1 key(s) sealed, 0 already sealed, 1 left as they are" in seal.stdout
    passphrase = tmp_path / "s/secrets/UrbanManagement.key-passphrase"
    assert passphrase.stat().st_mode & 0o077 == 0
    assert b"ENCRYPTED PRIVATE KEY" in (users / "o-li/msp/keystore/priv_sk").read_bytes()
    # The device's key goes to its edge box as is.
    assert b"BEGIN PRIVATE KEY" in (users / "cam-7/msp/keystore/priv_sk").read_bytes()

    again = _evnet(tmp_path, "identity", "seal", "--org", "UrbanManagement")
    assert "0 key(s) sealed, 1 already sealed" in again.stdout
    later = _evnet(
        tmp_path, "identity", "issue", "--org", "UrbanManagement", "--role", "auditor", "a-wu"
    )
    assert later.returncode == 0, later.stderr
    assert b"ENCRYPTED PRIVATE KEY" in (users / "a-wu/msp/keystore/priv_sk").read_bytes()


def test_identity_seal_refuses_a_passphrase_file_others_can_read(tmp_path: Path) -> None:
    secrets = tmp_path / "s/secrets"
    secrets.mkdir(parents=True)
    (secrets / "UrbanManagement.key-passphrase").write_text("open to all\n")
    (secrets / "UrbanManagement.key-passphrase").chmod(0o644)
    proc = _evnet(tmp_path, "identity", "seal", "--org", "UrbanManagement")
    assert proc.returncode == 2
    assert "KEY_PASSPHRASE_FILE_INVALID" in proc.stderr
    assert "chmod 600" in proc.stderr


def _one_line(proc: subprocess.CompletedProcess[str], status: int, start: str) -> None:
    assert proc.returncode == status, proc.stderr
    assert proc.stderr.count("\n") == 1, proc.stderr
    assert proc.stderr.startswith(start), proc.stderr


@pytest.mark.parametrize("purpose", ["Bad Purpose", "1st", "court/export", "x" * 65])
def test_package_refuses_a_purpose_that_is_not_a_code(tmp_path: Path, purpose: str) -> None:
    out = tmp_path / "p.tar"
    proc = _evnet(
        tmp_path, "package", "case-1", "--org", "UrbanManagement", "--out", str(out),
        "--purpose", purpose,
    )  # fmt: skip
    _one_line(proc, 2, "evnet: BAD_ARGUMENT: --purpose ")
    assert not out.exists()


def test_package_names_an_unknown_user(tmp_path: Path) -> None:
    made = _evnet(
        tmp_path, "identity", "issue", "--org", "UrbanManagement", "--role", "officer", "o1"
    )
    assert made.returncode == 0, made.stderr
    out = tmp_path / "p.tar"
    proc = _evnet(
        tmp_path, "package", "case-1", "--org", "UrbanManagement", "--out", str(out),
        "--user", "nobody",
    )  # fmt: skip
    _one_line(proc, 2, "evnet: UNKNOWN_USER: UrbanManagement has no identity 'nobody'")
    assert not out.exists()


@pytest.mark.parametrize("hours", ["nan", "inf", "-1", "0", "100000"])
def test_token_hours_must_be_a_sane_number(tmp_path: Path, hours: str) -> None:
    proc = _evnet(
        tmp_path, "gateway", "token", "issue", "--department", "UrbanManagement",
        "--user", "officer1", "--hours", hours,
    )  # fmt: skip
    _one_line(proc, 2, "evnet: BAD_ARGUMENT: --hours ")


def test_token_issue_names_a_damaged_token_store(tmp_path: Path) -> None:
    made = _evnet(
        tmp_path, "identity", "issue", "--org", "UrbanManagement", "--role", "officer", "o1"
    )
    assert made.returncode == 0, made.stderr
    store = tmp_path / "s" / "nodes" / "UrbanManagement" / "gateway" / "tokens.json"
    store.parent.mkdir(parents=True)
    store.write_text("{not json")
    proc = _evnet(
        tmp_path, "gateway", "token", "issue", "--department", "UrbanManagement", "--user", "o1"
    )
    _one_line(proc, 1, f"evnet: TOKEN_STORE_CORRUPT: {store}: cannot read the token store")
    assert store.read_text() == "{not json"  # left for the operator to look at
