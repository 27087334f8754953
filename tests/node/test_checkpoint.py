"""Checkpointers and resuming an event listener, without a network."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import aclosing
from pathlib import Path

import pytest

from node.fabric import (
    ChaincodeEvent,
    CheckpointError,
    FileCheckpointer,
    InMemoryCheckpointer,
    resume_events,
)


def _event(block: int, tx_id: str, key: str = "k") -> ChaincodeEvent:
    return ChaincodeEvent(block, tx_id, "evidence", "PingPut", key.encode())


class FakeEventSource:
    """A gateway at the events seam: records each subscription, replays scripted events."""

    def __init__(self, events: list[ChaincodeEvent]) -> None:
        self._events = events
        self.calls: list[tuple[str, str, int | None, str]] = []
        self.closed = False

    async def chaincode_events(
        self,
        channel: str,
        chaincode: str,
        *,
        start_block: int | None = None,
        after_tx_id: str = "",
    ) -> AsyncIterator[ChaincodeEvent]:
        self.calls.append((channel, chaincode, start_block, after_tx_id))
        try:
            for event in self._events:
                yield event
        finally:
            self.closed = True


# --- InMemoryCheckpointer -------------------------------------------------------------


def test_new_checkpointer_has_no_position() -> None:
    cp = InMemoryCheckpointer()
    assert cp.block_number is None
    assert cp.tx_id == ""


def test_event_checkpoint_records_its_block_and_transaction() -> None:
    cp = InMemoryCheckpointer()
    cp.checkpoint_event(_event(7, "tx-a"))
    assert (cp.block_number, cp.tx_id) == (7, "tx-a")


def test_block_checkpoint_moves_to_the_next_block_and_clears_the_transaction() -> None:
    cp = InMemoryCheckpointer()
    cp.checkpoint_transaction(7, "tx-a")
    cp.checkpoint_block(7)
    assert (cp.block_number, cp.tx_id) == (8, "")


# --- FileCheckpointer -----------------------------------------------------------------


def test_missing_file_means_no_checkpoint_and_is_not_created(tmp_path: Path) -> None:
    path = tmp_path / "cp.json"
    cp = FileCheckpointer(path)
    assert cp.block_number is None
    assert cp.tx_id == ""
    assert not path.exists()


def test_checkpoint_survives_reload(tmp_path: Path) -> None:
    path = tmp_path / "cp.json"
    FileCheckpointer(path).checkpoint_event(_event(12, "tx-b"))
    reloaded = FileCheckpointer(path)
    assert (reloaded.block_number, reloaded.tx_id) == (12, "tx-b")


def test_block_checkpoint_survives_reload(tmp_path: Path) -> None:
    path = tmp_path / "cp.json"
    cp = FileCheckpointer(path)
    cp.checkpoint_transaction(3, "tx-c")
    cp.checkpoint_block(3)
    reloaded = FileCheckpointer(path)
    assert (reloaded.block_number, reloaded.tx_id) == (4, "")


def test_file_holds_canonical_json_with_the_go_clients_keys(tmp_path: Path) -> None:
    path = tmp_path / "cp.json"
    FileCheckpointer(path).checkpoint_transaction(12, "tx-b")
    assert path.read_bytes() == b'{"blockNumber":12,"transactionId":"tx-b"}'


def test_checkpointing_leaves_no_temporary_files(tmp_path: Path) -> None:
    cp = FileCheckpointer(tmp_path / "cp.json")
    for block in range(5):
        cp.checkpoint_transaction(block, f"tx-{block}")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cp.json"]


@pytest.mark.parametrize(
    ("content", "what"),
    [
        (b"", "is empty"),
        (b'{"blockNumber":12,"transactionId":"tx', "not valid JSON"),
        (b'{"blockNumber":1,"blockNumber":2,"transactionId":""}', "not valid JSON"),
        (b'[12, "tx"]', "not a checkpoint"),
        (b'{"name":"evidencenet","version":"0.1.0"}', "not a checkpoint"),
        (b'{"blockNumber":12,"transactionId":"t","extra":1}', "not a checkpoint"),
        (b'{"blockNumber":"12","transactionId":"t"}', "blockNumber must be"),
        (b'{"blockNumber":true,"transactionId":"t"}', "blockNumber must be"),
        (b'{"blockNumber":-1,"transactionId":"t"}', "blockNumber must be"),
        (b'{"blockNumber":1.5,"transactionId":"t"}', "blockNumber must be"),
        (b'{"blockNumber":12,"transactionId":null}', "transactionId must be"),
    ],
)
def test_corrupt_or_foreign_file_is_refused_naming_the_file(
    tmp_path: Path, content: bytes, what: str
) -> None:
    path = tmp_path / "cp.json"
    path.write_bytes(content)
    with pytest.raises(CheckpointError) as info:
        FileCheckpointer(path)
    assert str(path) in str(info.value)
    assert what in str(info.value)


def test_unreadable_file_is_a_checkpoint_error(tmp_path: Path) -> None:
    # A directory where the file should be: reading it fails with an OSError.
    path = tmp_path / "cp.json"
    path.mkdir()
    with pytest.raises(CheckpointError, match="cannot read"):
        FileCheckpointer(path)


def test_failed_write_raises_keeps_the_position_and_cleans_up(tmp_path: Path) -> None:
    path = tmp_path / "cp.json"
    cp = FileCheckpointer(path)
    cp.checkpoint_transaction(5, "tx-ok")
    # Something else now occupies the path: the rename onto it fails, even for root.
    path.unlink()
    (path / "child").mkdir(parents=True)
    with pytest.raises(CheckpointError, match="cannot write") as info:
        cp.checkpoint_transaction(6, "tx-lost")
    assert str(path) in str(info.value)
    assert (cp.block_number, cp.tx_id) == (5, "tx-ok")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cp.json"]


# --- resume_events --------------------------------------------------------------------


async def test_without_checkpoint_resume_starts_at_start_block() -> None:
    source = FakeEventSource([])
    async with aclosing(
        resume_events(source, "ch", "cc", InMemoryCheckpointer(), start_block=4)
    ) as events:
        assert [e async for e in events] == []
    assert source.calls == [("ch", "cc", 4, "")]


async def test_without_checkpoint_or_start_block_resume_starts_at_the_next_block() -> None:
    source = FakeEventSource([])
    async with aclosing(resume_events(source, "ch", "cc", InMemoryCheckpointer())) as events:
        assert [e async for e in events] == []
    assert source.calls == [("ch", "cc", None, "")]


async def test_checkpoint_wins_over_start_block_and_passes_its_transaction() -> None:
    cp = InMemoryCheckpointer()
    cp.checkpoint_transaction(9, "tx-last")
    source = FakeEventSource([])
    async with aclosing(resume_events(source, "ch", "cc", cp, start_block=2)) as events:
        assert [e async for e in events] == []
    assert source.calls == [("ch", "cc", 9, "tx-last")]


async def test_block_checkpoint_resumes_at_the_next_block_with_no_transaction() -> None:
    cp = InMemoryCheckpointer()
    cp.checkpoint_block(9)
    source = FakeEventSource([])
    async with aclosing(resume_events(source, "ch", "cc", cp)) as events:
        assert [e async for e in events] == []
    assert source.calls == [("ch", "cc", 10, "")]


async def test_events_pass_through_in_order() -> None:
    scripted = [_event(3, "a"), _event(3, "b"), _event(4, "c")]
    async with aclosing(
        resume_events(FakeEventSource(scripted), "ch", "cc", InMemoryCheckpointer())
    ) as events:
        assert [e async for e in events] == scripted


async def test_closing_the_listener_closes_the_gateway_stream() -> None:
    source = FakeEventSource([_event(3, "a"), _event(3, "b")])
    async with aclosing(resume_events(source, "ch", "cc", InMemoryCheckpointer())) as events:
        assert (await anext(events)).tx_id == "a"
    assert source.closed


async def test_restart_from_file_checkpoint_asks_for_what_follows_the_last_event(
    tmp_path: Path,
) -> None:
    path = tmp_path / "cp.json"
    first = FakeEventSource([_event(3, "a"), _event(3, "b"), _event(4, "c")])
    cp = FileCheckpointer(path)
    async with aclosing(resume_events(first, "ch", "cc", cp, start_block=3)) as events:
        async for event in events:
            cp.checkpoint_event(event)
            if event.tx_id == "b":
                break
    second = FakeEventSource([])
    async with aclosing(
        resume_events(second, "ch", "cc", FileCheckpointer(path), start_block=3)
    ) as events:
        assert [e async for e in events] == []
    assert first.calls == [("ch", "cc", 3, "")]
    assert second.calls == [("ch", "cc", 3, "b")]
