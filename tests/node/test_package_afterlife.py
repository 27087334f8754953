"""Which services and set-asides a package proves: those up to the case as exported, ledger
and peer at the seam (the whole build on the real network: tests/network/test_demo_story.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from blockkit import block_bytes, envelope
from disclosurekit import case as disclosure_case

from node.fabric import BlockView
from node.package import builder


@dataclass
class _Record:
    recorded_tx: str


@dataclass
class _Ledger:
    """The two reads the builder makes, as the chaincode answers them after the export."""

    services: list[_Record]
    set_asides: list[_Record]
    reads: list[str] = field(default_factory=list)

    async def case_services(self, case_id: str) -> list[_Record]:
        self.reads.append(f"services {case_id}")
        return self.services

    async def decision_set_asides(self, case_id: str) -> list[_Record]:
        self.reads.append(f"set-asides {case_id}")
        return self.set_asides


# Block 5: a post returned; block 6: the export read the case after a public notice (index
# 0) and a set-aside (index 1) wrote it; block 7: served again after the export.
BLOCKS = {
    5: ["tx-post"],
    6: ["tx-notice", "tx-set-aside", "tx-export"],
    7: ["tx-later"],
}


@dataclass
class _Peer:
    asked: list[str] = field(default_factory=list)

    async def block_by_tx_id(self, tx_id: str) -> bytes:
        self.asked.append(tx_id)
        number = next(n for n, txs in BLOCKS.items() if tx_id in txs)
        return block_bytes(number, b"\x01" * 32, [envelope(t) for t in BLOCKS[number]])


async def _proven(
    version: tuple[int, int] | None, known: dict[int, BlockView], **counts: int
) -> tuple[set[str], dict[int, BlockView], _Ledger]:
    ledger = _Ledger(
        services=[_Record("tx-post"), _Record("tx-notice"), _Record("tx-later")],
        set_asides=[_Record("tx-set-aside")],
    )
    case = disclosure_case("C-1", **counts)
    blocks = dict(known)
    kept = await builder._served_and_set_aside(
        ledger,  # type: ignore[arg-type]
        _Peer(),  # type: ignore[arg-type]
        blocks,
        case,
        version,
    )
    return kept, blocks, ledger


async def test_those_recorded_after_the_export_read_the_case_are_left_out() -> None:
    kept, blocks, _ = await _proven((6, 1), {}, services=2, set_asides=1)
    assert kept == {"tx-post", "tx-notice", "tx-set-aside"}
    # Their blocks join the proofs; the later one's block does not.
    assert sorted(blocks) == [5, 6]


async def test_a_block_already_fetched_is_not_asked_for_again() -> None:
    known = {6: BlockView.from_bytes(await _Peer().block_by_tx_id("tx-export"))}
    peer_asked: list[str] = []

    class Counting(_Peer):
        async def block_by_tx_id(self, tx_id: str) -> bytes:
            peer_asked.append(tx_id)
            return await super().block_by_tx_id(tx_id)

    ledger = _Ledger([_Record("tx-notice"), _Record("tx-post")], [])
    blocks = dict(known)
    kept = await builder._served_and_set_aside(
        ledger,  # type: ignore[arg-type]
        Counting(),  # type: ignore[arg-type]
        blocks,
        disclosure_case("C-1", services=2),
        (6, 2),
    )
    assert kept == {"tx-notice", "tx-post"}
    assert peer_asked == ["tx-post"]


async def test_a_case_with_neither_reads_nothing_and_without_a_version_takes_all() -> None:
    kept, blocks, ledger = await _proven((6, 2), {})
    assert (kept, blocks, ledger.reads) == (set(), {}, [])
    everything, _, _ = await _proven(None, {}, services=3, set_asides=1)
    assert everything == {"tx-post", "tx-notice", "tx-set-aside", "tx-later"}
