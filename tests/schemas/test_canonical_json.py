"""canonical_json: the fast path through ``json`` writes exactly what RFC 8785 (the
``rfc8785`` package) writes, and refuses what it refuses."""

from __future__ import annotations

from typing import Any

import pytest
import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.canonical import CanonicalJSONError, canonical_json

# Every code point, lone surrogates included, and keys mixing the BMP's top with astral
# characters: where UTF-16 and code point order part.
TEXT = st.text(st.characters(codec=None, categories=None), max_size=12)
KEYS = TEXT | st.lists(st.sampled_from(["a", "\ue000", "\uffff", "\U0001f600", "é"])).map("".join)
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**60), max_value=2**60)
    | st.floats(allow_nan=False, allow_infinity=False)
    | TEXT
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=6) | st.dictionaries(KEYS, inner, max_size=6),
    max_leaves=40,
)


def _reference(value: Any) -> bytes | type[Exception]:
    try:
        return bytes(rfc8785.dumps(value))
    except (rfc8785.CanonicalizationError, TypeError, ValueError) as exc:
        return type(exc)


@settings(max_examples=600, deadline=None)
@given(VALUES)
def test_the_same_bytes_as_rfc8785_or_the_same_refusal(value: Any) -> None:
    expected = _reference(value)
    if isinstance(expected, bytes):
        assert canonical_json(value) == expected
    else:
        with pytest.raises(CanonicalJSONError):
            canonical_json(value)


@pytest.mark.parametrize(
    "value",
    [
        {"\U0001f600": 1, "\ue000": 2},  # UTF-16 puts the astral key first
        {"s": '\x00\x08\x09\x0a\x0c\x0d\x1f\x7f"\\/\u2028'},  # every escape RFC 8785 names
        [2**53 - 1, -(2**53 - 1), True, False, None],
        {"n": 1.5, "e": 1e21, "z": -0.0},  # floats: rfc8785's own formatting
    ],
)
def test_edges_match_rfc8785(value: Any) -> None:
    assert canonical_json(value) == rfc8785.dumps(value)


@pytest.mark.parametrize(
    "value",
    [
        {"n": 2**53},  # beyond I-JSON's safe integers
        [-(2**53)],
        {"s": "\ud800"},  # a lone surrogate is no Unicode text
        {1: "a"},  # a key that is not a string
        {"x": {1, 2}},  # no JSON type
        [float("nan")],
    ],
)
def test_what_has_no_canonical_form_is_refused(value: Any) -> None:
    with pytest.raises(CanonicalJSONError):
        canonical_json(value)
