"""Builders shared by the node tests."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator

import pytest
from pgcluster import PostgresMissing, throwaway_cluster


class RecordingRandom:
    """Deterministic stand-in for os.urandom that remembers what it handed out."""

    def __init__(self, seed: bytes = b"seed") -> None:
        self._seed = seed
        self._counter = 0
        self.outputs: list[bytes] = []

    def __call__(self, n: int) -> bytes:
        self._counter += 1
        out = hashlib.shake_256(self._seed + self._counter.to_bytes(8, "big")).digest(n)
        self.outputs.append(out)
        return out


@pytest.fixture
def det_random() -> Callable[[bytes], RecordingRandom]:
    return RecordingRandom


# --- a private PostgreSQL server for the index tests -------------------------------------


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A throwaway PostgreSQL cluster on 127.0.0.1, started for this test session only."""
    try:
        with throwaway_cluster() as url:
            yield url
    except PostgresMissing as missing:
        pytest.fail(str(missing))
