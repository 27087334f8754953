"""The in-process peer keeps Fabric's semantics where contracts can tell the difference."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from ledgerkit import MARKET, NOW, URBAN, bootstrap, creator, evidence, filing, ok, submit

from chaincode.contracts import default_contracts
from chaincode.runtime import Contract, ContractError, Registry, Stub, transaction
from chaincode.runtime.harness import Harness
from chaincode.runtime.policy import peers_of


class Probe(Contract):
    name = "Probe"

    @transaction()
    async def WriteThenRead(self, ctx: Stub, key: str) -> dict[str, Any]:
        await ctx.put_state(key, b"new")
        seen = await ctx.get_state(key)
        return {"seen": None if seen is None else seen.decode()}

    @transaction()
    async def WriteThenFail(self, ctx: Stub, key: str) -> None:
        await ctx.put_state(key, b"half")
        raise ContractError("VALIDATION_FAILED", "refused after a write")

    @transaction()
    async def Bump(self, ctx: Stub, key: str) -> None:
        value = int((await ctx.get_state(key) or b"0").decode())
        await asyncio.sleep(0.01)  # let the other transactions read the same version
        await ctx.put_state(key, str(value + 1).encode())

    @transaction()
    async def Guard(self, ctx: Stub, key: str, org: str) -> None:
        await ctx.put_state(key, b"guarded")
        await ctx.set_key_policy(key, peers_of([org]))

    @transaction(read_only=True)
    async def SneakyWrite(self, ctx: Stub, key: str) -> None:
        await ctx.put_state(key, b"x")


@pytest.fixture
async def probe() -> Any:
    async with Harness(Registry([Probe()])) as harness:
        yield harness


WHO = creator(URBAN, "officer")


async def test_reads_see_committed_state_not_the_transactions_own_writes(probe: Harness) -> None:
    assert (await probe.submit(WHO, "WriteThenRead", "k")).json() == {"seen": None}
    assert (await probe.submit(WHO, "WriteThenRead", "k")).json() == {"seen": "new"}


async def test_a_refused_transaction_writes_nothing(probe: Harness) -> None:
    result = await probe.submit(WHO, "WriteThenFail", "k")
    assert result.status == "ENDORSEMENT_FAILED"
    assert result.code == "VALIDATION_FAILED"
    assert probe.ledger.get("k") is None


async def test_concurrent_updates_of_one_key_conflict(probe: Harness) -> None:
    results = await asyncio.gather(*(probe.submit(WHO, "Bump", "n") for _ in range(5)))
    assert sorted(r.status for r in results) == ["MVCC_READ_CONFLICT"] * 4 + ["VALID"]
    assert probe.ledger.get("n") == b"1"


async def test_key_level_policy_needs_the_named_orgs_peer(probe: Harness) -> None:
    assert (await probe.submit(WHO, "Guard", "g", MARKET, endorsing_orgs=[URBAN])).ok
    refused = await probe.submit(WHO, "Guard", "g", MARKET, endorsing_orgs=[URBAN])
    assert refused.status == "ENDORSEMENT_POLICY_FAILURE"
    assert (await probe.submit(WHO, "Guard", "g", URBAN, endorsing_orgs=[MARKET, URBAN])).ok


async def test_read_only_functions_cannot_write(probe: Harness) -> None:
    result = await probe.submit(WHO, "SneakyWrite", "k")
    assert result.code == "INTERNAL"
    assert probe.ledger.get("k") is None


async def test_batched_calls_leave_the_same_state_in_fewer_calls() -> None:
    """The harness's peer with and without WRITE_BATCH_STATE and GET_STATE_MULTIPLE: the
    same writes, events and answers."""
    results = []
    for batch_size in (0, 1000):
        async with Harness(
            Registry(default_contracts()),
            start=NOW,
            write_batch=batch_size,
            get_multiple=batch_size,
        ) as h:
            await bootstrap(h)
            ids = ["E-1", "E-2"]
            for evidence_id in ids:
                ok(
                    await submit(
                        h, creator(URBAN, "device"), "RegisterEvidence", evidence(evidence_id)
                    )
                )
            ok(await submit(h, creator(URBAN, "officer"), "FileCase", filing(evidence_ids=ids)))
            batch = {"evidence_ids": ids, "purpose": "evidence_package"}
            done = await submit(h, creator(URBAN, "officer"), "RequestPackageAccess", batch)
            ok(done)
            trail = await h.evaluate(
                creator(URBAN, "auditor"),
                "AccessTrail",
                json.dumps({"by": "case", "target_id": "C-1"}),
            )
            results.append(
                (h.ledger.state, done.state_calls, done.event, ok(trail), trail.state_calls)
            )
    (plain, plain_calls, plain_event, plain_trail, plain_reads), batched = results
    assert plain.keys() == batched[0].keys()
    # Org keys are fresh random keys in each run; everything else is the same bytes.
    same = [k for k in plain if not k.startswith("\x00org_key")]
    assert [plain[k].value for k in same] == [batched[0][k].value for k in same]
    assert (plain_event, plain_trail) == (batched[2], batched[3])
    assert len(plain_trail["records"]) == 2
    assert batched[1] < plain_calls
    assert batched[4] < plain_reads
