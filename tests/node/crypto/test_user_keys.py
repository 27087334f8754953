"""People's private keys sealed at rest: encrypted PKCS#8 under the department's passphrase."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from node.consortium.identities import OrgCrypto, seal_people
from node.crypto.signing import EcdsaSigner, verify_signature
from node.crypto.user_keys import (
    KeyLocked,
    PassphraseFileError,
    UserKeyError,
    ensure_passphrase_file,
    is_sealed,
    read_passphrase,
    seal_key_file,
)
from node.fabric.identity import load_msp_identity

NOW = dt.datetime.now(dt.UTC)


@pytest.fixture
def crypto(tmp_path: Path) -> OrgCrypto:
    org = OrgCrypto(tmp_path / "UrbanManagement", "UrbanManagement", "urban.evnet")
    org.ensure_cas(NOW)
    for name, role in (("officer1", "officer"), ("auditor1", "auditor"), ("cam-7", "device")):
        attrs = {"hf.EnrollmentID": name, "hf.Type": "client", "role": role}
        org.ensure_identity(org.user(name), f"{name}@urban.evnet", "client", NOW, attributes=attrs)
    return org


def test_a_sealed_key_signs_only_with_its_passphrase(crypto: OrgCrypto) -> None:
    files = crypto.user("officer1")
    plain = files.key.read_bytes()
    assert seal_key_file(files.key, b"correct horse")
    sealed = files.key.read_bytes()
    assert is_sealed(sealed)
    assert sealed != plain
    assert b"BEGIN EC PRIVATE KEY" not in sealed
    assert b"BEGIN PRIVATE KEY" not in sealed
    assert files.key.stat().st_mode & 0o077 == 0
    assert [p.name for p in files.key.parent.iterdir()] == ["priv_sk"]  # no temp file left

    identity, signer = load_msp_identity("UrbanManagementMSP", files.msp_dir, b"correct horse")
    cert = x509.load_pem_x509_certificate(identity.cert_pem)
    assert verify_signature(cert.public_key(), b"msg", signer.sign(b"msg"))

    with pytest.raises(KeyLocked, match="passphrase is needed"):
        load_msp_identity("UrbanManagementMSP", files.msp_dir)
    with pytest.raises(KeyLocked, match="does not open"):
        load_msp_identity("UrbanManagementMSP", files.msp_dir, b"wrong")


def test_sealing_is_idempotent_and_refuses_another_passphrase(crypto: OrgCrypto) -> None:
    key = crypto.user("officer1").key
    assert seal_key_file(key, b"one")
    before = key.read_bytes()
    assert not seal_key_file(key, b"one")
    assert key.read_bytes() == before
    with pytest.raises(KeyLocked):
        seal_key_file(key, b"two")
    assert key.read_bytes() == before


def test_what_is_not_a_p256_key_is_refused(tmp_path: Path) -> None:
    junk = tmp_path / "junk"
    junk.write_bytes(b"not a key")
    with pytest.raises(UserKeyError, match="not a PEM private key"):
        seal_key_file(junk, b"p")
    assert junk.read_bytes() == b"not a key"
    other_curve = ec.generate_private_key(ec.SECP384R1())
    pem = other_curve.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    with pytest.raises(UserKeyError, match="P-256"):
        EcdsaSigner.from_pem(pem)


def test_seal_people_leaves_devices_and_counts(crypto: OrgCrypto) -> None:
    outcome = seal_people(crypto, b"pass")
    assert outcome.sealed == ("auditor1", "officer1")
    assert outcome.left == ("cam-7",)
    assert not is_sealed(crypto.user("cam-7").key.read_bytes())
    again = seal_people(crypto, b"pass")
    assert again.sealed == ()
    assert again.already == ("auditor1", "officer1")


def test_the_passphrase_file(tmp_path: Path) -> None:
    path = tmp_path / "secrets" / "Urban.key-passphrase"
    made = ensure_passphrase_file(path)
    assert len(made) >= 40
    assert path.stat().st_mode & 0o777 == 0o600
    assert ensure_passphrase_file(path) == made  # generated once
    path.chmod(0o640)
    with pytest.raises(PassphraseFileError, match="readable by other users"):
        read_passphrase(path)
    path.chmod(0o600)
    path.write_bytes(b"\n")
    with pytest.raises(PassphraseFileError, match="empty"):
        read_passphrase(path)
    with pytest.raises(PassphraseFileError, match="cannot read"):
        read_passphrase(tmp_path / "absent")
