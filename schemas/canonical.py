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


_MAX_SAFE_INTEGER = 2**53 - 1  # RFC 8785 (I-JSON): larger integers have no canonical form
_SCALARS = (str, int, bool, type(None))


def canonical_json(value: Any) -> bytes:
    """Serialise ``value`` to RFC 8785 canonical JSON bytes.

    A value made only of dicts with string keys, lists, strings, safe integers, booleans
    and None (every record, manifest and trail this project signs or hashes) has the same
    canonical bytes as ``json.dumps`` with sorted keys and no whitespace writes, as long as
    no key holds a character beyond the BMP (RFC 8785 orders keys by UTF-16 code units,
    Python by code points; the two differ only there). Those are written by ``json``'s C
    encoder, several times faster than the ``rfc8785`` package's pure Python, which an
    export and every chaincode write pay for; anything else (floats, other types, such
    keys, strings with lone surrogates) goes to ``rfc8785``. tests/schemas check that the
    two give the same bytes.

    Raises:
        CanonicalJSONError: the value has no canonical form.
    """
    if _plain(value):
        try:
            return json.dumps(
                value, ensure_ascii=False, sort_keys=True, separators=(",", ":")
            ).encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate: rfc8785 says what is wrong
            pass
    try:
        return bytes(rfc8785.dumps(value))
    except (rfc8785.CanonicalizationError, TypeError, ValueError) as exc:
        raise CanonicalJSONError(str(exc)) from exc


def _plain(value: Any) -> bool:
    """Whether ``value`` holds only what ``json.dumps`` writes canonically (above)."""
    pending = [value]
    while pending:
        item = pending.pop()
        kind = type(item)
        if kind is dict:
            for key in item:
                if type(key) is not str or not (key.isascii() or max(key) <= "\uffff"):
                    return False
            pending.extend(item.values())
        elif kind is list:
            pending.extend(item)
        elif kind not in _SCALARS or (kind is int and abs(item) > _MAX_SAFE_INTEGER):
            return False
    return True


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
