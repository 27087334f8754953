"""Composite keys in Fabric's format, so partial-key range queries work on the peer.

A composite key is U+0000, the object type, then each attribute followed by U+0000.
Attributes must not contain U+0000 or the highest code point U+10FFFF (the range end).
"""

from __future__ import annotations

from collections.abc import Sequence

from chaincode.runtime.errors import VALIDATION_FAILED, ContractError

_NS = "\x00"
MAX_RUNE = "\U0010ffff"


def _check(part: str, what: str) -> None:
    if _NS in part or MAX_RUNE in part:
        raise ContractError(VALIDATION_FAILED, f"{what} must not contain U+0000 or U+10FFFF")


def composite_key(object_type: str, attributes: Sequence[str]) -> str:
    """Build a composite key.

    Raises:
        ContractError: VALIDATION_FAILED for an empty type or a forbidden character.
    """
    if not object_type:
        raise ContractError(VALIDATION_FAILED, "object type must not be empty")
    _check(object_type, "object type")
    for attr in attributes:
        _check(attr, "key attribute")
    return _NS + object_type + _NS + "".join(a + _NS for a in attributes)


def split_composite_key(key: str) -> tuple[str, list[str]]:
    """The object type and attributes of a composite key."""
    if not key.startswith(_NS):
        raise ContractError(VALIDATION_FAILED, "not a composite key")
    parts = key[1:].split(_NS)
    return parts[0], parts[1:-1]


def partial_key_range(object_type: str, attributes: Sequence[str]) -> tuple[str, str]:
    """The [start, end) range covering every key under a partial composite key."""
    start = composite_key(object_type, attributes)
    return start, start + MAX_RUNE
