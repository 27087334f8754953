"""Errors a transaction can end with.

A :class:`ContractError` is the contract's own, stable-coded refusal; it reaches the client
as the response message ``{"code": ..., "message": ...}`` in canonical JSON. A
:class:`PeerError` means the peer failed a stub call: it is raised, never returned as data,
so no transaction can commit a value derived from an error.
"""

from __future__ import annotations

from schemas.canonical import canonical_json


class ContractError(Exception):
    """A transaction refused with a stable ``code`` and a message for people."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    def to_response_message(self) -> str:
        return canonical_json({"code": self.code, "message": self.message}).decode()


class PeerError(Exception):
    """The peer answered a stub call with ERROR (e.g. a read it refused)."""


VALIDATION_FAILED = "VALIDATION_FAILED"
UNKNOWN_FUNCTION = "UNKNOWN_FUNCTION"
NOT_FOUND = "NOT_FOUND"
INTERNAL = "INTERNAL"
