"""The wire form of a wrapped data key: a typed value with a canonical-JSON encoding.

``{"ciphertext": b64u, "ephemeral_public_key": b64u, "nonce": b64u, "recipient_key_id":
"sha256:<hex>", "version": 1}`` in RFC 8785 form, binary fields as unpadded base64url. Parsing
is strict (one spelling per value), since wraps travel between departments and are stored.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from typing import Any, Final

from schemas.canonical import CanonicalJSONError, canonical_json, parse_json
from schemas.hashes import Digest, InvalidDigest

WRAP_VERSION: Final = 1
_B64U = re.compile(r"[A-Za-z0-9_-]*\Z")
_FIELDS: Final = frozenset(
    {"version", "recipient_key_id", "ephemeral_public_key", "nonce", "ciphertext"}
)


class MalformedWrappedKey(ValueError):
    """The wrapped-key document is not well-formed (not a failure of authentication)."""


def _b64u_encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64u_decode(text: object, size: int, name: str) -> bytes:
    if not isinstance(text, str) or not _B64U.match(text):
        raise MalformedWrappedKey(f"{name} is not unpadded base64url")
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise MalformedWrappedKey(f"{name} is not unpadded base64url") from None
    # Reject non-canonical spellings (stray trailing bits) so each wrap has one encoding.
    if len(raw) != size or _b64u_encode(raw) != text:
        raise MalformedWrappedKey(f"{name} must encode exactly {size} bytes")
    return raw


@dataclass(frozen=True, slots=True)
class WrappedKey:
    """A data key wrapped to one recipient key (see :mod:`node.crypto.key_wrap`)."""

    recipient_key_id: Digest
    ephemeral_public_key: bytes
    nonce: bytes
    ciphertext: bytes
    version: int = WRAP_VERSION

    def __post_init__(self) -> None:
        if self.version != WRAP_VERSION:
            raise MalformedWrappedKey(f"unsupported wrapped-key version {self.version!r}")
        if len(self.ephemeral_public_key) != 32 or len(self.nonce) != 12:
            raise MalformedWrappedKey("ephemeral key must be 32 bytes and nonce 12 bytes")
        if len(self.ciphertext) != 48:
            raise MalformedWrappedKey("ciphertext must be a 32-byte key plus a 16-byte tag")

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "recipient_key_id": str(self.recipient_key_id),
            "ephemeral_public_key": _b64u_encode(self.ephemeral_public_key),
            "nonce": _b64u_encode(self.nonce),
            "ciphertext": _b64u_encode(self.ciphertext),
        }

    def to_json(self) -> bytes:
        """Canonical (RFC 8785) JSON bytes."""
        return canonical_json(self.to_dict())

    @classmethod
    def from_dict(cls, data: object) -> WrappedKey:
        """Raises: MalformedWrappedKey: missing, extra or ill-formed fields."""
        if not isinstance(data, dict) or set(data) != _FIELDS:
            raise MalformedWrappedKey(f"a wrapped key has exactly the fields {sorted(_FIELDS)}")
        version = data["version"]
        # bool is an int in Python; a JSON true must not pass for version 1.
        if type(version) is not int or version != WRAP_VERSION:
            raise MalformedWrappedKey("unsupported wrapped-key version")
        try:
            key_id = Digest.parse(data["recipient_key_id"])
        except InvalidDigest as exc:
            raise MalformedWrappedKey(f"recipient_key_id: {exc}") from None
        return cls(
            recipient_key_id=key_id,
            ephemeral_public_key=_b64u_decode(
                data["ephemeral_public_key"], 32, "ephemeral_public_key"
            ),
            nonce=_b64u_decode(data["nonce"], 12, "nonce"),
            ciphertext=_b64u_decode(data["ciphertext"], 48, "ciphertext"),
            version=version,
        )

    @classmethod
    def from_json(cls, data: bytes | str) -> WrappedKey:
        """Raises: MalformedWrappedKey: not strict JSON, or not a wrapped key."""
        try:
            return cls.from_dict(parse_json(data))
        except CanonicalJSONError as exc:
            raise MalformedWrappedKey(str(exc)) from None
