"""Bearer tokens an org admin issues, each mapping to one Fabric identity of the department.

Only SHA-256 digests of tokens are stored, with their expiry; the role comes from the
identity's certificate each time, never from the token.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from cryptography import x509
from cryptography.hazmat.primitives import hashes

from node.crypto.pki import certificate_attributes, certificate_role
from schemas.glossary import Role

Clock = Callable[[], dt.datetime]

# A user name as the consortium issues them: also what keeps it safe inside a path.
_USER = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}\Z")


@dataclass(frozen=True)
class Principal:
    """Who acts: the Fabric user name (the ledger names this identity) and its role."""

    user: str
    role: Role


class IdentityDirectory(Protocol):
    def role_of(self, user: str) -> Role | None:
        """The role in ``user``'s certificate, or None if the identity is unknown."""
        ...

    def user_of_certificate(self, cert: x509.Certificate) -> str | None:
        """The user whose current certificate ``cert`` is, or None."""
        ...


class CertificateDirectory:
    """Roles read from ``<msp_dir_of(user)>/signcerts/cert.pem``."""

    def __init__(self, msp_dir_of: Callable[[str], Path]) -> None:
        self._msp_dir_of = msp_dir_of

    def _certificate(self, user: str) -> x509.Certificate | None:
        path = self._msp_dir_of(user) / "signcerts" / "cert.pem"
        try:
            return x509.load_pem_x509_certificate(path.read_bytes())
        except (OSError, ValueError):
            return None

    def user_of_certificate(self, cert: x509.Certificate) -> str | None:
        # The enrollment id names the user (as for devices); the certificate must be the one
        # on file, so a reissued or removed identity's old certificate is refused.
        user = certificate_attributes(cert).get("hf.EnrollmentID", "")
        if not _USER.match(user):
            return None
        held = self._certificate(user)
        if held is None or held.fingerprint(hashes.SHA256()) != cert.fingerprint(hashes.SHA256()):
            return None
        return user

    def role_of(self, user: str) -> Role | None:
        if not _USER.match(user):
            return None
        cert = self._certificate(user)
        if cert is None:
            return None
        return certificate_role(cert)


class TokenStoreCorrupt(Exception):
    """The token file is not what this module writes (hand-edited, truncated, another
    program's): no token is honoured until an operator fixes or moves it."""

    code = "TOKEN_STORE_CORRUPT"


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _is_entry(entry: object) -> bool:
    if not isinstance(entry, dict) or not isinstance(entry.get("user"), str):
        return False
    try:
        expires = dt.datetime.fromisoformat(str(entry.get("expires_at")))
    except ValueError:
        return False
    return expires.tzinfo is not None  # compared with an aware clock


class TokenStore:
    """Hashed tokens and their expiry in one JSON file (written atomically, mode 0600)."""

    def __init__(self, path: Path, clock: Clock) -> None:
        self.path, self._clock = path, clock

    def _load(self) -> dict[str, dict[str, str]]:
        """Raises:
        TokenStoreCorrupt: unreadable, not JSON, or an entry without a user and an expiry.
        """
        if not self.path.exists():
            return {}
        try:
            doc = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            raise TokenStoreCorrupt(f"{self.path}: cannot read the token store ({exc})") from None
        if not isinstance(doc, dict) or not all(_is_entry(e) for e in doc.values()):
            raise TokenStoreCorrupt(
                f"{self.path}: an entry is not {{user, expires_at}}; move the file away and "
                "issue tokens again"
            )
        return doc

    def _save(self, doc: dict[str, dict[str, str]]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump(doc, f)
        os.replace(tmp, self.path)

    def issue_token(self, user: str, ttl: dt.timedelta) -> str:
        """A new bearer token for ``user``, valid for ``ttl``; shown once, stored hashed."""
        token = secrets.token_urlsafe(32)
        doc = self._load()
        expires = self._clock() + ttl
        doc[_digest(token)] = {"user": user, "expires_at": expires.isoformat()}
        self._save(doc)
        return token

    def revoke(self, token: str) -> None:
        doc = self._load()
        if doc.pop(_digest(token), None) is not None:
            self._save(doc)

    def user_of(self, token: str) -> str | None:
        """The user the token acts as, or None if unknown or expired."""
        entry = self._load().get(_digest(token))
        if entry is None:
            return None
        if dt.datetime.fromisoformat(entry["expires_at"]) <= self._clock():
            return None
        return entry["user"]
