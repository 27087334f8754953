"""Checkpointers: where a chaincode event listener got to, so a restart resumes there.

A checkpoint is the block in which the next event is expected and the id of the last
transaction already processed in that block, the position the Fabric Gateway's
``ChaincodeEvents`` call resumes from (see :func:`node.fabric.events.resume_events`).

The file form is canonical JSON with the keys of the official Go client's file
checkpointer: ``{"blockNumber":12,"transactionId":"ab…"}``.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from node.durable import sync_directory
from node.fabric.errors import CheckpointError
from node.fabric.gateway import ChaincodeEvent
from schemas.canonical import CanonicalJSONError, canonical_json, parse_json

_KEYS = frozenset({"blockNumber", "transactionId"})


class Checkpointer(Protocol):
    """Records progress after each processed event or block.

    ``block_number`` is None until the first checkpoint; ``tx_id`` is "" when no
    transaction of ``block_number`` has been processed yet.
    """

    @property
    def block_number(self) -> int | None: ...

    @property
    def tx_id(self) -> str: ...

    def checkpoint_block(self, block_number: int) -> None:
        """Every event of ``block_number`` is processed; the next is expected after it."""

    def checkpoint_transaction(self, block_number: int, tx_id: str) -> None:
        """Events up to and including transaction ``tx_id`` of ``block_number`` are processed."""

    def checkpoint_event(self, event: ChaincodeEvent) -> None:
        """``event`` (and everything before it) is processed."""


@dataclass(frozen=True)
class _Position:
    block_number: int
    tx_id: str


class InMemoryCheckpointer:
    """A :class:`Checkpointer` that forgets on exit; for tests and one-shot listeners."""

    def __init__(self) -> None:
        self._position: _Position | None = None

    @property
    def block_number(self) -> int | None:
        return self._position.block_number if self._position else None

    @property
    def tx_id(self) -> str:
        return self._position.tx_id if self._position else ""

    def checkpoint_block(self, block_number: int) -> None:
        self.checkpoint_transaction(block_number + 1, "")

    def checkpoint_transaction(self, block_number: int, tx_id: str) -> None:
        self._position = _Position(block_number, tx_id)

    def checkpoint_event(self, event: ChaincodeEvent) -> None:
        self.checkpoint_transaction(event.block_number, event.tx_id)


class FileCheckpointer:
    """A :class:`Checkpointer` persisted to one file, reloaded when constructed.

    Each checkpoint replaces the file atomically and durably before it returns, so after a
    crash the file holds either the previous checkpoint or the new one. The methods block
    for an fsync; a listener that cannot afford that on its event loop can call them through
    ``asyncio.to_thread``. One file must have one writer: nothing here locks it.

    Raises:
        CheckpointError: (constructor) the file cannot be read or is not a checkpoint;
            (checkpoint methods) it cannot be written, and the checkpoint is not advanced.
    """

    def __init__(self, path: Path) -> None:
        self._path = path
        self._position = _load(path)

    @property
    def path(self) -> Path:
        return self._path

    @property
    def block_number(self) -> int | None:
        return self._position.block_number if self._position else None

    @property
    def tx_id(self) -> str:
        return self._position.tx_id if self._position else ""

    def checkpoint_block(self, block_number: int) -> None:
        self.checkpoint_transaction(block_number + 1, "")

    def checkpoint_transaction(self, block_number: int, tx_id: str) -> None:
        position = _Position(block_number, tx_id)
        _save(self._path, position)
        # Advance only once the position is on disk, so what we report is what a restart sees.
        self._position = position

    def checkpoint_event(self, event: ChaincodeEvent) -> None:
        self.checkpoint_transaction(event.block_number, event.tx_id)


def _load(path: Path) -> _Position | None:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise CheckpointError(f"cannot read checkpoint file {path}: {exc}") from exc
    if not raw:
        # Our writes are atomic, so an empty file was not written by a checkpointer.
        raise CheckpointError(f"checkpoint file {path} is empty")
    try:
        doc = parse_json(raw)
    except CanonicalJSONError as exc:
        raise CheckpointError(f"checkpoint file {path} is not valid JSON: {exc}") from exc
    if not isinstance(doc, dict) or set(doc) != _KEYS:
        raise CheckpointError(
            f"checkpoint file {path} is not a checkpoint: expected an object with exactly "
            f"the keys {sorted(_KEYS)}"
        )
    block, tx_id = doc["blockNumber"], doc["transactionId"]
    # bool is an int in Python; JSON true must not pass for block 1.
    if not isinstance(block, int) or isinstance(block, bool) or block < 0:
        raise CheckpointError(
            f"checkpoint file {path}: blockNumber must be a non-negative integer, got {block!r}"
        )
    if not isinstance(tx_id, str):
        raise CheckpointError(
            f"checkpoint file {path}: transactionId must be a string, got {tx_id!r}"
        )
    return _Position(block, tx_id)


def _save(path: Path, position: _Position) -> None:
    data = canonical_json({"blockNumber": position.block_number, "transactionId": position.tx_id})
    directory = path.parent
    try:
        # Same directory, so os.replace is an atomic rename on one filesystem.
        fd, tmp_name = tempfile.mkstemp(dir=directory, prefix=f".{path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp_name, path)
        except BaseException:
            Path(tmp_name).unlink(missing_ok=True)
            raise
        sync_directory(directory)
    except OSError as exc:
        raise CheckpointError(f"cannot write checkpoint file {path}: {exc}") from exc
