"""Wrapping data keys to department X25519 keys, the wire form, and key rotation."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable

import pytest

from node.crypto.key_wrap import (
    EncryptionPrivateKey,
    EncryptionPublicKey,
    KeyRing,
    NoMatchingKey,
    rewrap,
    unwrap_key,
    wrap_key,
)
from node.crypto.sealing import DataKey, IntegrityError, RandomSource, SealingError
from node.crypto.wrapped_key import MalformedWrappedKey, WrappedKey
from schemas.hashes import Digest

EID = "ev-2024-000123"
DATA_KEY = DataKey(b"\x42" * 32)
ALICE = EncryptionPrivateKey.from_raw(b"\x01" * 32)
BOB = EncryptionPrivateKey.from_raw(b"\x02" * 32)


def test_wrap_unwrap_round_trip() -> None:
    wrapped = wrap_key(DATA_KEY, ALICE.public_key(), EID)
    assert wrapped.recipient_key_id == ALICE.public_key().key_id
    assert unwrap_key(wrapped, ALICE, EID).secret_bytes() == DATA_KEY.secret_bytes()


def test_key_id_is_sha256_of_the_raw_public_key() -> None:
    pub = ALICE.public_key()
    assert pub.key_id == Digest.of(pub.raw)
    assert EncryptionPublicKey.from_raw(pub.raw) == pub
    assert EncryptionPrivateKey.from_raw(ALICE.raw()).public_key() == pub


def test_wrong_recipient_key_fails_opaquely() -> None:
    wrapped = wrap_key(DATA_KEY, ALICE.public_key(), EID)
    with pytest.raises(IntegrityError):
        unwrap_key(wrapped, BOB, EID)
    # Relabelling the wrap for Bob does not help: both public keys are bound into the KDF.
    relabelled = dataclasses.replace(wrapped, recipient_key_id=BOB.public_key().key_id)
    with pytest.raises(IntegrityError):
        unwrap_key(relabelled, BOB, EID)


def test_wrong_evidence_id_fails() -> None:
    wrapped = wrap_key(DATA_KEY, ALICE.public_key(), EID)
    with pytest.raises(IntegrityError):
        unwrap_key(wrapped, ALICE, "ev-2024-000124")


@pytest.mark.parametrize("field", ["ephemeral_public_key", "nonce", "ciphertext"])
def test_tampered_wrap_fails(field: str) -> None:
    wrapped = wrap_key(DATA_KEY, ALICE.public_key(), EID)
    raw = bytearray(getattr(wrapped, field))
    raw[-1] ^= 0x01
    with pytest.raises(IntegrityError):
        unwrap_key(dataclasses.replace(wrapped, **{field: bytes(raw)}), ALICE, EID)


def test_degenerate_keys_are_refused() -> None:
    zero = EncryptionPublicKey.from_raw(b"\x00" * 32)  # a low-order point
    with pytest.raises(SealingError):
        wrap_key(DATA_KEY, zero, EID)
    wrapped = wrap_key(DATA_KEY, ALICE.public_key(), EID)
    with pytest.raises(IntegrityError):
        unwrap_key(dataclasses.replace(wrapped, ephemeral_public_key=b"\x00" * 32), ALICE, EID)


def test_wire_form_is_canonical_json_and_round_trips(
    det_random: Callable[[], RandomSource],
) -> None:
    wrapped = wrap_key(DATA_KEY, ALICE.public_key(), EID, random=det_random())
    text = wrapped.to_json()
    doc = json.loads(text)
    assert list(doc) == sorted(doc)
    assert doc["version"] == 1
    assert doc["recipient_key_id"] == str(ALICE.public_key().key_id)
    assert b"=" not in text
    assert b" " not in text
    assert WrappedKey.from_json(text) == wrapped
    assert wrap_key(DATA_KEY, ALICE.public_key(), EID, random=det_random()).to_json() == text


def test_tampered_json_fails_to_parse_or_to_unwrap() -> None:
    wrapped = wrap_key(DATA_KEY, ALICE.public_key(), EID)
    doc = wrapped.to_dict()
    ct = doc["ciphertext"]
    doc["ciphertext"] = ("A" if ct[0] != "A" else "B") + ct[1:]
    with pytest.raises(IntegrityError):
        unwrap_key(WrappedKey.from_dict(doc), ALICE, EID)


@pytest.mark.parametrize(
    "change",
    [
        {"version": 2},
        {"version": True},
        {"extra": "x"},
        {"nonce": "AAAAAAAAAAAAAAAA="},  # padded
        {"nonce": "AAAAAAAAAAAAAAA+"},  # not url-safe
        {"nonce": "AAAA"},  # wrong length
        {"recipient_key_id": "sha256:" + "A" * 64},
    ],
)
def test_malformed_wire_form_is_rejected(change: dict[str, object]) -> None:
    doc = wrap_key(DATA_KEY, ALICE.public_key(), EID).to_dict()
    doc.update(change)
    with pytest.raises(MalformedWrappedKey):
        WrappedKey.from_json(json.dumps(doc))


def test_malformed_json_is_rejected() -> None:
    with pytest.raises(MalformedWrappedKey):
        WrappedKey.from_json(b'{"version": 1, "version": 1}')


def test_rotation_rewraps_and_retires_the_old_key() -> None:
    old_ring = KeyRing(ALICE)
    old_wrap = wrap_key(DATA_KEY, old_ring.current, EID)

    ring = old_ring.rotated(BOB)
    assert ring.current == BOB.public_key()
    assert ring.key_ids == {ALICE.public_key().key_id, BOB.public_key().key_id}
    assert ring.unwrap(old_wrap, EID).secret_bytes() == DATA_KEY.secret_bytes()

    new_wrap = rewrap(old_wrap, ring, ring.current, EID)
    assert new_wrap.recipient_key_id == BOB.public_key().key_id

    retired = ring.without(ALICE.public_key().key_id)
    assert retired.unwrap(new_wrap, EID).secret_bytes() == DATA_KEY.secret_bytes()
    with pytest.raises(NoMatchingKey) as info:
        retired.unwrap(old_wrap, EID)
    assert info.value.key_id == ALICE.public_key().key_id
    with pytest.raises(ValueError, match="current"):
        retired.without(BOB.public_key().key_id)


def test_private_key_repr_shows_only_the_key_id() -> None:
    assert ALICE.raw().hex() not in repr(ALICE)
    assert str(ALICE.public_key().key_id) in repr(ALICE)
