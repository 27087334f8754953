"""Typed hash values: a hash is an algorithm plus its digest bytes, never bare bytes.

The text form is ``"<algorithm>:<lowercase hex>"`` (``"sha256:9f86…"``). It is the form on the
ledger, in manifests and in blob-store paths, so it has exactly one spelling: :meth:`Digest.parse`
accepts only the canonical form (lowercase hex, no whitespace), which is what makes it safe to
turn a parsed digest into a file name.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Any, ClassVar, Final, Literal

from pydantic import GetCoreSchemaHandler
from pydantic_core import core_schema

Algorithm = Literal["sha256"]

SHA256: Final[Algorithm] = "sha256"
_SIZES: Final[dict[str, int]] = {SHA256: 32}
# \Z rather than $: "$" also matches before a trailing newline, which would let
# "sha256:<hex>\n" through and give one digest two spellings.
_TEXT = re.compile(r"(?P<alg>sha256):(?P<hex>[0-9a-f]{64})\Z")


class InvalidDigest(ValueError):
    """The text or bytes do not form a supported, well-formed digest."""


@dataclass(frozen=True, slots=True)
class Digest:
    """A hash value: ``algorithm`` (only ``"sha256"`` for now) and its raw ``value``.

    Build one with :meth:`of`, :meth:`parse` or :class:`Hasher`; the constructor checks the
    length so that any instance you hold is well-formed. Pydantic models may use it as a field
    type; it serialises to its text form.
    """

    algorithm: Algorithm
    value: bytes

    def __post_init__(self) -> None:
        size = _SIZES.get(self.algorithm)
        if size is None:
            raise InvalidDigest(f"unsupported hash algorithm {self.algorithm!r}")
        if not isinstance(self.value, bytes) or len(self.value) != size:
            raise InvalidDigest(f"{self.algorithm} digest must be {size} bytes")

    @classmethod
    def of(cls, data: bytes | bytearray | memoryview) -> Digest:
        """SHA-256 of ``data``."""
        return cls(SHA256, hashlib.sha256(data).digest())

    @classmethod
    def parse(cls, text: str) -> Digest:
        """Parse the canonical text form ``"sha256:<64 lowercase hex>"``.

        Raises:
            InvalidDigest: anything else (other algorithms, upper case, whitespace, wrong length).
        """
        if not isinstance(text, str):
            raise InvalidDigest("digest text must be a string")
        match = _TEXT.match(text)
        if match is None:
            # Do not echo the input: it may be long or hostile; the caller has it.
            raise InvalidDigest("not a canonical 'sha256:<hex>' digest")
        return cls(SHA256, bytes.fromhex(match["hex"]))

    @property
    def hex(self) -> str:
        """Lowercase hex of the digest bytes, without the algorithm prefix."""
        return self.value.hex()

    def __str__(self) -> str:
        return f"{self.algorithm}:{self.value.hex()}"

    def __repr__(self) -> str:
        return f"Digest({str(self)!r})"

    @classmethod
    def __get_pydantic_core_schema__(
        cls, source_type: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        def validate(value: object) -> Digest:
            if isinstance(value, Digest):
                return value
            if isinstance(value, str):
                return cls.parse(value)
            raise InvalidDigest("expected a digest or its text form")

        return core_schema.no_info_plain_validator_function(
            validate,
            json_schema_input_schema=core_schema.str_schema(pattern=_TEXT.pattern[:-2] + "$"),
            # Its text form, also in a response's schema (OpenAPI of what the API returns).
            serialization=core_schema.plain_serializer_function_ser_schema(
                str, return_schema=core_schema.str_schema(pattern=_TEXT.pattern[:-2] + "$")
            ),
        )


class Hasher:
    """Incremental SHA-256 that yields a :class:`Digest`; for hashing streams chunk by chunk."""

    algorithm: ClassVar[Algorithm] = SHA256

    __slots__ = ("_h", "_size")

    def __init__(self) -> None:
        self._h = hashlib.sha256()
        self._size = 0

    def update(self, data: bytes | bytearray | memoryview) -> None:
        self._h.update(data)
        self._size += len(data)

    @property
    def size(self) -> int:
        """Number of bytes hashed so far."""
        return self._size

    def digest(self) -> Digest:
        """The digest of everything hashed so far (the hasher stays usable)."""
        return Digest(self.algorithm, self._h.digest())
