"""Builders shared by the node tests."""

from __future__ import annotations

import hashlib
from collections.abc import Callable

import pytest


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
