"""Opening the index (migrating it to the current schema) and writing and searching rows."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, delete, event, func, select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.orm import Session, sessionmaker

from node.index.errors import IndexConfigError
from node.index.schema import CaseItemRow, CaseRow, EvidenceRow
from node.index.search import EvidencePage, EvidenceQuery, encode_cursor, plans

_MIGRATIONS = Path(__file__).with_name("migrations")
_SUPPORTED = ("sqlite", "postgresql")


def _engine(url: str) -> Engine:
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise IndexConfigError(f"not a database URL: {url!r}") from exc
    if parsed.get_backend_name() not in _SUPPORTED:
        raise IndexConfigError(
            f"unsupported index database {parsed.get_backend_name()!r}: use sqlite or postgresql"
        )
    if parsed.get_backend_name() == "postgresql" and parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    engine = create_engine(parsed, pool_pre_ping=True)
    if engine.dialect.name == "sqlite":

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            # WAL: readers never block the writer; NORMAL sync is durable at checkpoints
            # and the index is rebuildable from the ledger and the claims anyway.
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

    return engine


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest migration (no-op when already there)."""
    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


def open_index(url: str) -> IndexDatabase:
    """Open (creating and migrating as needed) the index at ``url``.

    Raises:
        IndexConfigError: a malformed or unsupported URL.
        sqlalchemy.exc.OperationalError: the database cannot be reached.
    """
    engine = _engine(url)
    migrate(engine)
    return IndexDatabase(engine)


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path}"


MAX_PARAMETERS = 30_000  # bound parameters per statement, below every server's limit


class IndexDatabase:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._sessions = sessionmaker(engine, expire_on_commit=False)

    @contextmanager
    def session(self) -> Iterator[Session]:
        with self._sessions.begin() as session:
            yield session

    def _upsert(self, table: Any, rows: Sequence[dict[str, Any]], keys: list[str]) -> None:
        """Insert or update ``rows`` in one transaction, in statements small enough for the
        server: PostgreSQL takes at most 65,535 bound parameters per statement, and some
        SQLite builds 32,766."""
        if not rows:
            return
        insert = pg_insert if self.engine.dialect.name == "postgresql" else sqlite_insert
        per_statement = max(1, MAX_PARAMETERS // len(rows[0]))
        with self.session() as session:
            for start in range(0, len(rows), per_statement):
                stmt = insert(table).values(list(rows[start : start + per_statement]))
                updates = {c: stmt.excluded[c] for c in rows[0] if c not in keys}
                stmt = (
                    stmt.on_conflict_do_update(index_elements=keys, set_=updates)
                    if updates
                    else stmt.on_conflict_do_nothing(index_elements=keys)
                )
                session.execute(stmt)

    def upsert_rows(self, model: Any, rows: Sequence[dict[str, Any]], keys: list[str]) -> None:
        """Insert or update rows of any index table (keys: its primary key columns)."""
        self._upsert(model.__table__, rows, keys)

    def upsert_evidence(self, rows: Sequence[dict[str, Any]]) -> None:
        """Insert or update evidence rows (keys: the columns of EvidenceRow)."""
        self._upsert(EvidenceRow.__table__, rows, ["evidence_id"])

    def upsert_case(self, row: dict[str, Any], evidence_ids: Sequence[str] = ()) -> None:
        self._upsert(CaseRow.__table__, [row], ["case_id"])
        links = [{"case_id": row["case_id"], "evidence_id": e} for e in evidence_ids]
        self._upsert(CaseItemRow.__table__, links, ["case_id", "evidence_id"])

    def case(self, case_id: str) -> CaseRow | None:
        with self.session() as session:
            return session.get(CaseRow, case_id)

    def evidence(self, evidence_id: str) -> EvidenceRow | None:
        with self.session() as session:
            return session.get(EvidenceRow, evidence_id)

    def delete_evidence(self, evidence_id: str) -> None:
        with self.session() as session:
            session.execute(delete(EvidenceRow).where(EvidenceRow.evidence_id == evidence_id))

    def count(self) -> int:
        with self.session() as session:
            return int(session.execute(select(func.count()).select_from(EvidenceRow)).scalar_one())

    def analyze(self) -> None:
        """Refresh the planner's statistics (after a bulk load, a restore or a re-index: with
        stale statistics PostgreSQL can pick a full scan for a rare search term)."""
        with self.engine.begin() as conn:
            conn.execute(text("ANALYZE"))

    def search(self, query: EvidenceQuery) -> EvidencePage:
        """One page of evidence ids, newest first.

        Raises:
            SearchError: a cursor this index did not issue.
        """
        rows: list[tuple[str, dt.datetime]] = []
        with self.session() as session:
            for stmt in plans(query, self.engine.dialect.name):
                rows = [(r[0], r[1]) for r in session.execute(stmt)]
                if len(rows) > query.page_size:
                    break
        more = len(rows) > query.page_size
        rows = rows[: query.page_size]
        cursor = None
        if more and rows:
            last_id, last_time = rows[-1]
            cursor = encode_cursor(last_time, last_id)
        return EvidencePage(evidence_ids=[r[0] for r in rows], next_cursor=cursor)
