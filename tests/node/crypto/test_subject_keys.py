"""Subject keys: the consortium's keyed hash of a party's identifier (node.crypto.subjects)."""

from __future__ import annotations

import hashlib
import secrets
from pathlib import Path

import pytest

from node.crypto.subjects import (
    SubjectKeyer,
    SubjectSecretError,
    ensure_subject_secret,
    subject_secret_path,
)
from schemas.ledger import SubjectKind

PLATE = "粤B 12345"


def test_a_key_depends_on_the_secret_not_only_on_the_identifier() -> None:
    one, two = SubjectKeyer(secrets.token_bytes(32)), SubjectKeyer(secrets.token_bytes(32))
    key = one.key_of(SubjectKind.PERSON, PLATE)
    assert len(key) == 64
    assert int(key, 16) >= 0
    assert key != two.key_of(SubjectKind.PERSON, PLATE)
    # Not the plain hash anybody could compute by trying every plate.
    for plain in (PLATE, "粤b12345", "粤B12345"):
        assert key != hashlib.sha256(plain.encode()).hexdigest()


def test_one_party_one_key_however_it_is_written() -> None:
    keyer = SubjectKeyer(secrets.token_bytes(32))
    key = keyer.key_of(SubjectKind.PERSON, PLATE)
    for spelling in ("粤b12345", " 粤B-12345 ", "粤Ｂ１２３４５", "粤B·12345"):
        assert keyer.key_of(SubjectKind.PERSON, spelling) == key
    assert keyer.key_of(SubjectKind.PERSON, "粤B12346") != key
    assert keyer.key_of(SubjectKind.ORGANIZATION, PLATE) != key


def test_an_identifier_of_nothing_is_refused() -> None:
    keyer = SubjectKeyer(secrets.token_bytes(32))
    with pytest.raises(ValueError, match="empty"):
        keyer.key_of(SubjectKind.PERSON, " - ")


def test_the_secret_is_generated_once_private_and_read_back(tmp_path: Path) -> None:
    path = subject_secret_path(tmp_path)
    ensure_subject_secret(path)
    first = path.read_text()
    assert path.stat().st_mode & 0o077 == 0
    ensure_subject_secret(path)
    assert path.read_text() == first  # never replaced: every key ever made depends on it
    keyer = SubjectKeyer.from_file(path)
    assert keyer.key_of(SubjectKind.PERSON, PLATE) == SubjectKeyer(
        bytes.fromhex(first.strip())
    ).key_of(SubjectKind.PERSON, PLATE)


@pytest.mark.parametrize(
    ("content", "mode", "reason"),
    [
        (None, 0o600, "cannot read"),
        ("ab" * 32, 0o644, "readable by other users"),
        ("not hex at all", 0o600, "not hex"),
        ("ab" * 16, 0o600, "32 bytes"),
        ("\xff", 0o600, "cannot read"),
    ],
)
def test_a_bad_secret_file_is_named(
    tmp_path: Path, content: str | None, mode: int, reason: str
) -> None:
    path = tmp_path / "subject-key"
    if content is not None:
        path.write_text(content, encoding="latin-1")
        path.chmod(mode)
    with pytest.raises(SubjectSecretError, match=reason) as info:
        SubjectKeyer.from_file(path)
    assert info.value.code == "SUBJECT_SECRET_INVALID"
