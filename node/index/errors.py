"""What can go wrong with the index, named for what failed."""


class IndexFailure(Exception):
    """Base of the index's errors."""


class IndexConfigError(IndexFailure):
    """The database URL is malformed or names an unsupported database."""


class SearchError(IndexFailure):
    """A search request is malformed (e.g. a cursor that was not issued by this index)."""
