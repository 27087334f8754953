"""Subject keys: the keyed hash under which the ledger knows a party (a licence plate, a
shop's registration number, a person's id), never the identifier itself.

A plain hash of a plate or an id number is no secret: there are few enough of them to try
every one. So the key is HMAC-SHA256 under a secret every department's node holds and the
ledger never sees (``<state>/secrets/subject-key``, mode 0600; generated with the
consortium's crypto material and handed to each department with it). Whoever holds a
package sees subject keys in its blocks, and without that secret cannot tell whose they are;
every department computes the same key for the same party, so stepped penalties and the
first-violation waiver follow the party across departments.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import unicodedata
from pathlib import Path

from node.crypto.secret_files import SecretFileError, create_secret, read_secret
from schemas.ledger import SubjectKind

_SECRET_BYTES = 32


class SubjectSecretError(ValueError):
    """The consortium's subject secret is missing, malformed or readable by others."""

    code = "SUBJECT_SECRET_INVALID"


def subject_secret_path(state_dir: Path) -> Path:
    return state_dir / "secrets" / "subject-key"


def normalise(identifier: str) -> str:
    """One spelling per party: full-width forms folded (NFKC), case folded, and the spaces,
    dots and dashes people put in plates and registration numbers dropped."""
    folded = unicodedata.normalize("NFKC", identifier).casefold()
    return "".join(c for c in folded if not c.isspace() and c not in "-·.")


class SubjectKeyer:
    """Computes subject keys under the consortium's secret."""

    def __init__(self, secret: bytes) -> None:
        if len(secret) != _SECRET_BYTES:
            raise SubjectSecretError(f"the subject secret must be {_SECRET_BYTES} bytes")
        self._secret = secret

    def key_of(self, kind: SubjectKind, identifier: str) -> str:
        """64 lower-case hex digits; the kind is part of the key (a plate and an id number
        that read alike are different parties).

        Raises:
            ValueError: nothing is left of ``identifier`` once normalised.
        """
        name = normalise(identifier)
        if not name:
            raise ValueError("the subject identifier is empty")
        message = f"{kind.value}\x00{name}".encode()
        return hmac.new(self._secret, message, hashlib.sha256).hexdigest()

    @classmethod
    def from_file(cls, path: Path) -> SubjectKeyer:
        """Raises:
        SubjectSecretError: missing, unreadable, malformed, or group/world accessible.
        """
        try:
            text = read_secret(path, "subject secret")
        except SecretFileError as exc:
            raise SubjectSecretError(str(exc)) from None
        try:
            secret = bytes.fromhex(text.decode("ascii"))
        except UnicodeDecodeError:
            raise SubjectSecretError(
                f"{path}: cannot read the subject secret (not ASCII)"
            ) from None
        except ValueError:
            raise SubjectSecretError(f"{path}: the subject secret is not hex") from None
        return cls(secret)


def ensure_subject_secret(path: Path) -> None:
    """Generate the consortium's subject secret in ``path`` (mode 0600) unless it exists."""
    create_secret(path, secrets.token_hex(_SECRET_BYTES).encode() + b"\n")
