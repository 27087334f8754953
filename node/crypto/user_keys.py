"""People's and devices' private keys held encrypted at rest by the node.

The node signs each transaction with the acting person's own key, so it holds those keys.
Sealed, a key file is an encrypted PKCS#8 PEM (PBES2: PBKDF2-HMAC-SHA256, AES-256-CBC, as
OpenSSL writes it): a copied crypto directory, a stray backup of it or a log of the file
gives nothing without the department's key passphrase. The passphrase lives apart from the
keys, in ``<state>/secrets/<Department>.key-passphrase`` (mode 0600, refused when readable by
others); in production it is put there by the operator's secret store (a systemd
credential, a vault agent), never into the repository or the crypto tree.

The org admin's key stays as Fabric's own tools (the peer CLI) need it: unencrypted.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from node.crypto.secret_files import SecretFileError, create_secret, read_secret

_ENCRYPTED = b"-----BEGIN ENCRYPTED PRIVATE KEY-----"
# Long enough that the key file's KDF is not the weak point; printable for an operator.
_GENERATED_BYTES = 32


class UserKeyError(ValueError):
    """A user's private key cannot be sealed or opened; ``code`` names the reason."""

    code = "USER_KEY_INVALID"


class KeyLocked(UserKeyError):
    """The key is encrypted and no passphrase, or the wrong one, was given."""

    code = "USER_KEY_LOCKED"


class PassphraseFileError(UserKeyError):
    """The passphrase file is missing, empty, or readable by others."""

    code = "KEY_PASSPHRASE_FILE_INVALID"


def passphrase_path(state_dir: Path, department: str) -> Path:
    """Where ``department``'s key passphrase lives: outside the crypto tree and node dirs."""
    return state_dir / "secrets" / f"{department}.key-passphrase"


def is_sealed(pem: bytes) -> bool:
    return pem.lstrip().startswith(_ENCRYPTED)


def read_passphrase(path: Path) -> bytes:
    """The passphrase in ``path`` (one line).

    Raises:
        PassphraseFileError: missing, unreadable, empty, or group/world accessible.
    """
    try:
        text = read_secret(path, "key passphrase")
    except SecretFileError as exc:
        raise PassphraseFileError(str(exc)) from None
    if not text:
        raise PassphraseFileError(f"{path}: empty key passphrase")
    return text


def ensure_passphrase_file(path: Path) -> bytes:
    """The passphrase in ``path``, generated (random, mode 0600) if the file does not exist."""
    create_secret(path, secrets.token_urlsafe(_GENERATED_BYTES).encode() + b"\n")
    return read_passphrase(path)


def open_private_key(pem: bytes, passphrase: bytes | None) -> ec.EllipticCurvePrivateKey:
    """The private key in ``pem``, decrypting it with ``passphrase`` when sealed.

    Raises:
        KeyLocked: sealed, and no passphrase or the wrong one.
        UserKeyError: not a P-256 private key.
    """
    sealed = is_sealed(pem)
    if sealed and passphrase is None:
        raise KeyLocked("the private key is sealed; the department's key passphrase is needed")
    try:
        key = serialization.load_pem_private_key(pem, password=passphrase if sealed else None)
    except ValueError:
        if sealed:
            raise KeyLocked("the key passphrase does not open this private key") from None
        raise UserKeyError("not a PEM private key") from None
    except TypeError:
        raise UserKeyError("not a PEM private key") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(key.curve, ec.SECP256R1):
        raise UserKeyError("Fabric identities use ECDSA P-256 keys")
    return key


def seal_key_file(path: Path, passphrase: bytes) -> bool:
    """Encrypt the key in ``path`` in place (atomically); False if it was sealed already.

    Raises:
        KeyLocked: already sealed under another passphrase.
        UserKeyError: the file is not a P-256 private key.
    """
    pem = path.read_bytes()
    if is_sealed(pem):
        open_private_key(pem, passphrase)  # sealed under this passphrase, or say so
        return False
    key = open_private_key(pem, None)
    sealed = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(passphrase),
    )
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(sealed)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    return True
