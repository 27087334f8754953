"""Canonical JSON (RFC 8785) for everything that is hashed, signed or endorsed.

Endorsing peers must produce byte-identical results, and a verifier must recompute the
exact bytes that were signed; ``json.dumps`` guarantees neither (float formatting, key
order, escaping), so every such value goes through :func:`canonical_json`.
"""

from __future__ import annotations

import json
from typing import Any

import rfc8785


class CanonicalJSONError(ValueError):
    """The value cannot be represented as canonical JSON (e.g. NaN, non-string keys)."""


def canonical_json(value: Any) -> bytes:
    """Serialise ``value`` to RFC 8785 canonical JSON bytes.

    Raises:
        CanonicalJSONError: the value has no canonical form.
    """
    try:
        return bytes(rfc8785.dumps(value))
    except (rfc8785.CanonicalizationError, TypeError, ValueError) as exc:
        raise CanonicalJSONError(str(exc)) from exc


def parse_json(data: bytes | str, *, max_bytes: int | None = None) -> Any:
    """Parse JSON text strictly: duplicate keys and NaN/Infinity are rejected (a signed
    document with a key twice would read one way here and another way elsewhere).

    Raises:
        CanonicalJSONError: the text is not strict JSON, or longer than ``max_bytes``.
    """
    if max_bytes is not None and len(data) > max_bytes:
        raise CanonicalJSONError(f"larger than {max_bytes} bytes")

    def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, val in pairs:
            if key in out:
                raise CanonicalJSONError(f"duplicate key {key!r}")
            out[key] = val
        return out

    def _no_constants(name: str) -> Any:
        raise CanonicalJSONError(f"{name} is not valid JSON")

    try:
        return json.loads(data, object_pairs_hook=_no_duplicates, parse_constant=_no_constants)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CanonicalJSONError(f"malformed JSON: {exc}") from exc
