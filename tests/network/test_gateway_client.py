"""Our Gateway client and chaincode runtime on the real network."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import pytest
from netsupport import read_eventually as _read_eventually

from node.consortium.clients import department_contract
from node.consortium.network import Network
from node.fabric import ChaincodeEvent, CommitError, Contract, Deadlines, EvaluateError

pytestmark = pytest.mark.network


def _contract(network: Network, index: int = 0, deadlines: Deadlines | None = None) -> Contract:
    layout = network.layout
    dep = layout.consortium.departments[index]
    return department_contract(layout, dep, deadlines=deadlines)


async def test_submit_returns_the_result_and_another_org_reads_it(network: Network) -> None:
    result = await _contract(network, 0).submit("Put", "gw-key", "value-1")
    assert json.loads(result.result) == {"key": "gw-key", "tx_id": result.tx_id}
    assert result.block_number > 0
    got = await _read_eventually(_contract(network, 2), "gw-key")
    assert got == {"key": "gw-key", "value": "value-1"}


async def test_100_transactions_in_flight_all_commit_valid(network: Network) -> None:
    contract = _contract(network, 1)
    results = await asyncio.gather(
        *(contract.submit("Put", f"par-{i}", str(i)) for i in range(100))
    )
    assert len({r.tx_id for r in results}) == 100
    reader = _contract(network, 2)
    for i in (0, 57, 99):
        assert (await _read_eventually(reader, f"par-{i}"))["value"] == str(i)


async def test_1000_sequential_transactions_without_error(network: Network) -> None:
    contract = _contract(network, 0)
    for i in range(1000):
        await contract.submit("Put", "seq", str(i))
    assert json.loads(await contract.evaluate("Get", "seq"))["value"] == "999"


async def test_chaincode_error_code_reaches_the_caller(network: Network) -> None:
    with pytest.raises(EvaluateError) as info:
        await _contract(network, 1).evaluate("Get", "missing-key")
    assert info.value.chaincode_code == "NOT_FOUND"
    assert info.value.details
    assert info.value.details[0].msp_id == "PublicSecurityMSP"


async def test_endorsement_by_one_org_fails_validation_with_its_code(network: Network) -> None:
    # The chaincode needs a majority of departments; one org's endorsement is not enough.
    contract = _contract(network, 0)
    with pytest.raises(CommitError) as info:
        await contract.submit("Put", "one-org", "x", endorsing_orgs=["UrbanManagementMSP"])
    assert info.value.code == "ENDORSEMENT_POLICY_FAILURE"
    assert info.value.tx_id


async def test_deadline_expiry_is_its_own_error(network: Network) -> None:
    contract = _contract(network, 0, Deadlines(evaluate=0.0001))
    with pytest.raises(EvaluateError) as info:
        await contract.evaluate("Ping")
    assert info.value.deadline_exceeded


async def test_chaincode_event_reaches_a_gateway_subscriber(network: Network) -> None:
    subscriber = _contract(network, 2)
    events: AsyncIterator[ChaincodeEvent] = subscriber.gateway.chaincode_events(
        subscriber.channel, subscriber.chaincode
    )
    listener = asyncio.ensure_future(anext(events))
    await asyncio.sleep(0.5)  # let the subscription reach the peer before we submit
    submitted = await _contract(network, 0).submit("Put", "evented", "v")
    event = await asyncio.wait_for(listener, timeout=30)
    assert event.tx_id == submitted.tx_id
    assert event.name == "PingPut"
    assert event.payload == b"evented"
