"""ECDSA P-256 signing as Fabric requires it: SHA-256 digest, DER, low-S.

Fabric rejects a signature whose S is in the upper half of the curve order (it would make
signatures malleable), so every signature is normalised to ``min(s, n - s)``.
"""

from __future__ import annotations

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)

from node.crypto.user_keys import open_private_key

# Order of the P-256 group (SEC 2, secp256r1 "n").
P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


def to_low_s(der: bytes) -> bytes:
    """Return the low-S form of a DER ECDSA P-256 signature."""
    r, s = decode_dss_signature(der)
    if s > P256_ORDER // 2:
        s = P256_ORDER - s
    return encode_dss_signature(r, s)


class EcdsaSigner:
    """Signs messages with a P-256 private key (the key never leaves this object)."""

    def __init__(self, key: ec.EllipticCurvePrivateKey) -> None:
        if not isinstance(key.curve, ec.SECP256R1):
            raise ValueError("Fabric identities use ECDSA P-256 keys")
        self._key = key

    @classmethod
    def from_pem(cls, pem: bytes, passphrase: bytes | None = None) -> EcdsaSigner:
        """Load a PKCS#8 or SEC1 PEM private key, sealed (encrypted PKCS#8) or not.

        Raises:
            KeyLocked: the key is sealed and ``passphrase`` is missing or wrong.
            UserKeyError: not a P-256 private key (both are ``ValueError``).
        """
        return cls(open_private_key(pem, passphrase))

    def sign(self, message: bytes) -> bytes:
        """DER, low-S ECDSA signature over SHA-256(message)."""
        return to_low_s(self._key.sign(message, ec.ECDSA(hashes.SHA256())))


def verify_signature(public_key: object, message: bytes, der: bytes) -> bool:
    """Whether ``der`` is a valid ECDSA P-256 SHA-256 signature of ``message`` by
    ``public_key``. High-S signatures are refused, as Fabric refuses them."""
    if not isinstance(public_key, ec.EllipticCurvePublicKey):
        return False
    try:
        _, s = decode_dss_signature(der)
        if s > P256_ORDER // 2:
            return False
        public_key.verify(der, message, ec.ECDSA(hashes.SHA256()))
    except (ValueError, InvalidSignature):
        return False
    return True
