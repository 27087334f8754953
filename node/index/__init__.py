"""The department's search index: SQL (SQLite in WAL mode by default, PostgreSQL by URL),
schema managed by Alembic migrations. The ledger is not a query engine; this is."""

from node.index.database import IndexDatabase, open_index
from node.index.errors import IndexConfigError, IndexFailure, SearchError
from node.index.search import BoundingBox, EvidencePage, EvidenceQuery

__all__ = [
    "BoundingBox",
    "EvidencePage",
    "EvidenceQuery",
    "IndexConfigError",
    "IndexDatabase",
    "IndexFailure",
    "SearchError",
    "open_index",
]
