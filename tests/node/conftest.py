"""Builders shared by the node tests."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from indexkit import row
from pgcluster import PostgresMissing, throwaway_cluster
from sqlalchemy import text

from node.index import IndexDatabase, open_index
from node.index.database import sqlite_url


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


# --- the search index, on SQLite and on that server ----------------------------------------


@pytest.fixture(params=["sqlite", "postgresql"])
def index(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[IndexDatabase]:
    if request.param == "sqlite":
        db = open_index(sqlite_url(tmp_path / "index.sqlite"))
    else:
        url = request.getfixturevalue("postgres_url")
        db = open_index(url)
        with db.engine.begin() as conn:  # each test starts from an empty index
            tables = "evidence, cases, case_items, ingest_journal, access_records, grants, flags"
            conn.execute(text(f"TRUNCATE {tables} CASCADE"))
    db.upsert_evidence([row(i) for i in range(30)])
    yield db
    db.engine.dispose()
