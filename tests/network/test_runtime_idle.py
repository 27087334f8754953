"""The peer's connection to our chaincode server survives a quiet network.

The peer logs (at INFO) a gRPC line each time it opens a TCP connection to the chaincode
server, ``Subchannel picks a new address "<host:port>" to connect``; the server logs
``peer connected`` for each Connect stream. Neither count may grow while the network idles.
"""

from __future__ import annotations

import asyncio
import json
import uuid

import pytest

from node.consortium.clients import department_contract
from node.consortium.config import Department
from node.consortium.launch import Layout, chaincode_name, peer_name
from node.consortium.network import Network
from node.consortium.processes import Supervisor

pytestmark = pytest.mark.network

IDLE_SECONDS = 185  # three minutes and a margin: past the peer's and server's 60 s pings


def _connections(layout: Layout, dep: Department) -> tuple[int, int]:
    """(peer log dials of the chaincode server, chaincode server Connect streams)."""
    logs = Supervisor(layout.state_dir)
    dial = f'picks a new address "{dep.chaincode_server.address}" to connect'
    peer_log = logs.log_file(peer_name(dep)).read_text(errors="replace")
    server_log = logs.log_file(chaincode_name(dep)).read_text(errors="replace")
    return peer_log.count(dial), server_log.count("peer connected")


@pytest.mark.timeout(400)
async def test_the_chaincode_connection_stays_up_through_three_idle_minutes(
    network: Network,
) -> None:
    layout = network.layout
    deps = layout.consortium.departments
    contract = department_contract(layout, deps[0])
    key = f"idle-{uuid.uuid4().hex}"
    first = await contract.submit("Put", key, "before")
    before = {dep.name: _connections(layout, dep) for dep in deps}
    assert all(peer >= 1 and server >= 1 for peer, server in before.values()), before

    await asyncio.sleep(IDLE_SECONDS)

    second = await contract.submit("Put", key, "after")
    assert second.block_number > first.block_number
    assert json.loads(await contract.evaluate("Get", key))["value"] == "after"
    after = {dep.name: _connections(layout, dep) for dep in deps}
    assert after == before
