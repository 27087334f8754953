"""Who signs: an MSP id with its certificate, and a signer holding the private key."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from fabric_protos.msp import identities_pb2

from node.crypto.signing import EcdsaSigner


class Signer(Protocol):
    """Anything that signs a message as Fabric expects (ECDSA P-256, SHA-256, DER low-S).

    A key held elsewhere (an HSM, another process) plugs in here.
    """

    def sign(self, message: bytes) -> bytes: ...


@dataclass(frozen=True)
class Identity:
    msp_id: str
    cert_pem: bytes

    def serialize(self) -> bytes:
        """The ``msp.SerializedIdentity`` bytes: the transaction creator."""
        ident = identities_pb2.SerializedIdentity(mspid=self.msp_id, id_bytes=self.cert_pem)
        return bytes(ident.SerializeToString())


def load_msp_identity(
    msp_id: str, msp_dir: Path, passphrase: bytes | None = None
) -> tuple[Identity, EcdsaSigner]:
    """Load an identity from a Fabric MSP directory (signcerts/ and keystore/); a sealed key
    (see :mod:`node.crypto.user_keys`) is opened with ``passphrase``.

    Raises:
        FileNotFoundError: the directory lacks a certificate or key.
        KeyLocked: the key is sealed and the passphrase is missing or wrong.
        UserKeyError: the key is not a P-256 key.
    """
    certs = sorted((msp_dir / "signcerts").glob("*.pem"))
    keys = sorted((msp_dir / "keystore").iterdir()) if (msp_dir / "keystore").is_dir() else []
    if not certs or not keys:
        raise FileNotFoundError(f"no certificate or key in {msp_dir}")
    return Identity(msp_id, certs[0].read_bytes()), EcdsaSigner.from_pem(
        keys[0].read_bytes(), passphrase
    )
