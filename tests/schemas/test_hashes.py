from __future__ import annotations

import hashlib

import pydantic
import pytest

from schemas.hashes import Digest, Hasher, InvalidDigest

HELLO_HEX = hashlib.sha256(b"hello").hexdigest()


def test_of_parse_and_text_form_round_trip() -> None:
    d = Digest.of(b"hello")
    assert str(d) == f"sha256:{HELLO_HEX}"
    assert Digest.parse(str(d)) == d
    assert d.hex == HELLO_HEX
    assert d.value == hashlib.sha256(b"hello").digest()


def test_hasher_matches_one_shot_digest_and_counts_bytes() -> None:
    h = Hasher()
    for piece in (b"he", b"", b"llo"):
        h.update(piece)
    assert h.digest() == Digest.of(b"hello")
    assert h.size == 5


@pytest.mark.parametrize(
    "text",
    [
        "",
        HELLO_HEX,
        f"sha256:{HELLO_HEX.upper()}",
        f"SHA256:{HELLO_HEX}",
        f"sha256:{HELLO_HEX}\n",
        f" sha256:{HELLO_HEX}",
        f"sha256:{HELLO_HEX[:-1]}",
        f"sha256:{HELLO_HEX}00",
        f"sha512:{HELLO_HEX}",
        "sha256:../../../../etc/passwd",
        "sha256:" + "0" * 62 + "/x",
        "sha256:" + "0" * 63 + "\x00",
    ],
)
def test_parse_accepts_only_the_canonical_form(text: str) -> None:
    with pytest.raises(InvalidDigest):
        Digest.parse(text)


def test_constructor_checks_algorithm_and_length() -> None:
    with pytest.raises(InvalidDigest):
        Digest("sha256", b"short")
    with pytest.raises(InvalidDigest):
        Digest("md5", b"\x00" * 32)  # type: ignore[arg-type]


def test_pydantic_field_validates_and_serialises_to_text() -> None:
    class Record(pydantic.BaseModel):
        digest: Digest

    rec = Record.model_validate({"digest": f"sha256:{HELLO_HEX}"})
    assert rec.digest == Digest.of(b"hello")
    assert rec.model_dump(mode="json") == {"digest": f"sha256:{HELLO_HEX}"}
    with pytest.raises(pydantic.ValidationError):
        Record.model_validate({"digest": "sha256:nope"})
    assert Record.model_json_schema()["properties"]["digest"]["type"] == "string"
