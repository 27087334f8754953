"""The key vault: atomic wrapped-key files, crypto-shredding, safe names, the org key file."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from node.crypto.key_wrap import EncryptionPrivateKey, wrap_key
from node.crypto.sealing import DataKey
from node.vault import KeyNotFound, KeyVault, VaultError, load_or_create_org_key


def test_wrapped_keys_round_trip_and_shred(tmp_path: Path) -> None:
    vault = KeyVault(tmp_path / "keys")
    wrapped = wrap_key(DataKey.generate(), EncryptionPrivateKey.generate().public_key(), "E-1")
    vault.put("E-1", wrapped)
    assert vault.get("E-1") == wrapped
    assert stat.S_IMODE((tmp_path / "keys" / "E-1.json").stat().st_mode) == 0o600
    vault.destroy("E-1")
    with pytest.raises(KeyNotFound, match="E-1"):
        vault.get("E-1")


@pytest.mark.parametrize("evidence_id", ["../escape", "", "a/b", ".hidden", "x" * 200])
def test_ids_that_are_not_safe_file_names_are_refused(tmp_path: Path, evidence_id: str) -> None:
    with pytest.raises(VaultError):
        KeyVault(tmp_path).get(evidence_id)


def test_the_org_key_is_created_once_and_checked(tmp_path: Path) -> None:
    path = tmp_path / "org.key"
    first = load_or_create_org_key(path)
    assert load_or_create_org_key(path).public_key() == first.public_key()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    path.write_bytes(b"short")
    with pytest.raises(VaultError, match="32-byte"):
        load_or_create_org_key(path)
