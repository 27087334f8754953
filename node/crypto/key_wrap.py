"""Key wrapping: a per-item data key sealed to a department's X25519 encryption public key.

Each department publishes an X25519 public key on the ledger; its key id is the SHA-256 of the
raw 32-byte key. A data key is wrapped to a recipient as::

    ephemeral      = fresh X25519 key pair
    context        = "evidencenet/key-wrap/v1" | len(evidence_id) u16 | evidence_id
                     | recipient key id (32) | ephemeral public (32) | recipient public (32)
    kek            = HKDF-SHA256(X25519(ephemeral, recipient), salt=none, info=context)
    ciphertext     = AES-256-GCM(kek, nonce (12, random), data_key, ad=context)

Binding the evidence id means a wrap cannot be replayed for another item; binding both public
keys rules out key-substitution games. Unwrapping failures raise the opaque
:class:`~node.crypto.sealing.IntegrityError`, as stream opening does.

Crypto-shredding: a data key exists at rest only in wrapped form, so destroying every wrap of
it (or every private key able to unwrap them) makes the sealed blob unrecoverable.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from typing import Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from node.crypto.sealing import (
    DataKey,
    IntegrityError,
    RandomSource,
    SealingError,
    evidence_id_field,
)
from node.crypto.wrapped_key import WrappedKey
from schemas.hashes import Digest

__all__ = [
    "EncryptionPrivateKey",
    "EncryptionPublicKey",
    "KeyRing",
    "NoMatchingKey",
    "WrappedKey",
    "rewrap",
    "unwrap_key",
    "wrap_key",
]

log = logging.getLogger(__name__)

_WRAP_LABEL: Final = b"evidencenet/key-wrap/v1"


class NoMatchingKey(SealingError):
    """The key ring holds no private key for the wrapped key's recipient key id.

    Not a security failure (key ids are public): usually a wrap for another department, or a
    key retired from the ring too early.
    """

    def __init__(self, key_id: Digest) -> None:
        super().__init__(f"no private key for recipient key id {key_id}")
        self.key_id = key_id


def _fail(detail: str, *args: object) -> IntegrityError:
    log.debug("key unwrap failed: " + detail, *args)
    return IntegrityError()


class EncryptionPublicKey:
    """A department's X25519 encryption public key, as published on the ledger."""

    __slots__ = ("_key", "_raw")

    def __init__(self, key: X25519PublicKey) -> None:
        self._key = key
        self._raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)

    @classmethod
    def from_raw(cls, raw: bytes) -> EncryptionPublicKey:
        """Raises: ValueError: not a 32-byte X25519 public key."""
        return cls(X25519PublicKey.from_public_bytes(raw))

    @property
    def raw(self) -> bytes:
        return self._raw

    @property
    def key_id(self) -> Digest:
        """SHA-256 of the raw public key: the id wrapped keys and the ledger refer to."""
        return Digest.of(self._raw)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, EncryptionPublicKey) and other._raw == self._raw

    def __hash__(self) -> int:
        return hash(self._raw)

    def __repr__(self) -> str:
        return f"EncryptionPublicKey(key_id={self.key_id})"


class EncryptionPrivateKey:
    """A department's X25519 encryption private key."""

    __slots__ = ("_key",)

    def __init__(self, key: X25519PrivateKey) -> None:
        self._key = key

    @classmethod
    def generate(cls, random: RandomSource = os.urandom) -> EncryptionPrivateKey:
        return cls(X25519PrivateKey.from_private_bytes(random(32)))

    @classmethod
    def from_raw(cls, raw: bytes) -> EncryptionPrivateKey:
        """Raises: ValueError: not 32 bytes."""
        return cls(X25519PrivateKey.from_private_bytes(raw))

    def raw(self) -> bytes:
        """The raw private key, for the key store that keeps it (encrypted) at rest."""
        return self._key.private_bytes(
            serialization.Encoding.Raw,
            serialization.PrivateFormat.Raw,
            serialization.NoEncryption(),
        )

    def public_key(self) -> EncryptionPublicKey:
        return EncryptionPublicKey(self._key.public_key())

    def __repr__(self) -> str:
        return f"EncryptionPrivateKey(key_id={self.public_key().key_id})"


def _wrap_context(evidence_id: str, recipient: EncryptionPublicKey, ephemeral: bytes) -> bytes:
    # Length-prefix the variable field so no two (label, id, keys) tuples share an encoding.
    return (
        _WRAP_LABEL
        + evidence_id_field(evidence_id)
        + recipient.key_id.value
        + ephemeral
        + recipient.raw
    )


def _wrap_kek(shared: bytes, context: bytes) -> AESGCM:
    kek = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=context).derive(shared)
    return AESGCM(kek)


def wrap_key(
    data_key: DataKey,
    recipient: EncryptionPublicKey,
    evidence_id: str,
    random: RandomSource = os.urandom,
) -> WrappedKey:
    """Wrap ``data_key`` to ``recipient`` for ``evidence_id`` (ephemeral X25519 + HKDF + GCM).

    Raises:
        SealingError: the recipient key is a degenerate (low-order) point.
        ValueError: ``evidence_id`` is empty or too long.
    """
    ephemeral = X25519PrivateKey.from_private_bytes(random(32))
    ephemeral_raw = ephemeral.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    try:
        shared = ephemeral.exchange(recipient._key)
    except ValueError:
        raise SealingError("recipient public key is not usable for X25519") from None
    context = _wrap_context(evidence_id, recipient, ephemeral_raw)
    nonce = random(12)
    ciphertext = _wrap_kek(shared, context).encrypt(nonce, data_key.secret_bytes(), context)
    return WrappedKey(
        recipient_key_id=recipient.key_id,
        ephemeral_public_key=ephemeral_raw,
        nonce=nonce,
        ciphertext=ciphertext,
    )


def unwrap_key(wrapped: WrappedKey, private_key: EncryptionPrivateKey, evidence_id: str) -> DataKey:
    """Recover the data key from ``wrapped`` with the recipient's private key.

    Raises:
        IntegrityError: wrong private key, wrong evidence id, or a tampered wrap.
    """
    recipient = private_key.public_key()
    if wrapped.recipient_key_id != recipient.key_id:
        raise _fail("wrapped for %s, not %s", wrapped.recipient_key_id, recipient.key_id)
    try:
        ephemeral = X25519PublicKey.from_public_bytes(wrapped.ephemeral_public_key)
        shared = private_key._key.exchange(ephemeral)
    except ValueError:
        raise _fail("degenerate ephemeral public key") from None
    context = _wrap_context(evidence_id, recipient, wrapped.ephemeral_public_key)
    try:
        raw = _wrap_kek(shared, context).decrypt(wrapped.nonce, wrapped.ciphertext, context)
    except InvalidTag:
        raise _fail("wrapped key tag mismatch") from None
    return DataKey(raw)


class KeyRing:
    """A department's current and previous encryption private keys, looked up by key id.

    Rotation: publish a new key, build ``ring.rotated(new_key)``, :func:`rewrap` stored wraps to
    the new public key, then drop the old key from the ring once nothing refers to it.
    """

    __slots__ = ("_current", "_keys")

    def __init__(
        self, current: EncryptionPrivateKey, previous: Iterable[EncryptionPrivateKey] = ()
    ) -> None:
        self._current = current
        self._keys = {k.public_key().key_id: k for k in (*previous, current)}

    @property
    def current(self) -> EncryptionPublicKey:
        """The public key others should wrap new data keys to."""
        return self._current.public_key()

    @property
    def key_ids(self) -> frozenset[Digest]:
        return frozenset(self._keys)

    def rotated(self, new_current: EncryptionPrivateKey) -> KeyRing:
        """A ring with ``new_current`` as current and every key of this ring as previous."""
        return KeyRing(new_current, self._keys.values())

    def without(self, key_id: Digest) -> KeyRing:
        """A ring without the previous key ``key_id`` (retiring it after rewrapping).

        Raises:
            ValueError: ``key_id`` is the current key.
        """
        if key_id == self._current.public_key().key_id:
            raise ValueError("cannot drop the current key")
        return KeyRing(self._current, (k for i, k in self._keys.items() if i != key_id))

    def unwrap(self, wrapped: WrappedKey, evidence_id: str) -> DataKey:
        """Unwrap with whichever key of the ring ``wrapped`` names.

        Raises:
            NoMatchingKey: no key of the ring has the wrap's recipient key id.
            IntegrityError: the wrap fails authentication.
        """
        key = self._keys.get(wrapped.recipient_key_id)
        if key is None:
            raise NoMatchingKey(wrapped.recipient_key_id)
        return unwrap_key(wrapped, key, evidence_id)


def rewrap(
    wrapped: WrappedKey,
    old_keyring: KeyRing,
    new_public_key: EncryptionPublicKey,
    evidence_id: str,
    random: RandomSource = os.urandom,
) -> WrappedKey:
    """Re-wrap a data key to ``new_public_key`` without touching the sealed blob.

    Raises:
        NoMatchingKey, IntegrityError: as :meth:`KeyRing.unwrap`.
    """
    return wrap_key(old_keyring.unwrap(wrapped, evidence_id), new_public_key, evidence_id, random)
