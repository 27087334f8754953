"""Scenario tests of the consortium on the real Fabric network."""

from __future__ import annotations

import datetime as dt
import json
import socket
import time
from pathlib import Path

import pytest
from netsupport import network_settings, shifted_consortium

from node.cli.network import network_from
from node.consortium import PortInUseError, lifecycle
from node.consortium.identities import issue_user
from node.consortium.network import Network
from schemas.glossary import Role

pytestmark = pytest.mark.network


def _put(network: Network, key: str, value: str) -> str:
    deps = network.layout.consortium.departments
    return lifecycle.invoke(network.layout, deps[:2], ["Put", key, value])


def test_submit_through_one_department_read_through_another(network: Network) -> None:
    deps = network.layout.consortium.departments
    out = _put(network, "case-1", "filed by UrbanManagement")
    assert "committed with status (VALID)" in out
    got = json.loads(lifecycle.query(network.layout, deps[2], ["Get", "case-1"]))
    assert got == {"key": "case-1", "value": "filed by UrbanManagement"}


def test_chaincode_error_reaches_the_client_with_its_code(network: Network) -> None:
    dep = network.layout.consortium.departments[1]
    with pytest.raises(lifecycle.LifecycleError, match=r'\\"code\\":\\"NOT_FOUND\\"'):
        lifecycle.query(network.layout, dep, ["Get", "never-written"])


def test_issued_officer_role_is_read_by_the_chaincode(network: Network) -> None:
    layout = network.layout
    dep = layout.consortium.departments[0]
    files = issue_user(
        layout.state_dir, layout.consortium, dep.name, Role.OFFICER, "officer-li",
        dt.datetime.now(dt.UTC),
    )  # fmt: skip
    pong = json.loads(lifecycle.query(layout, dep, ["Ping"], msp_dir=files.msp_dir))
    assert pong["role"] == "officer"
    assert pong["msp_id"] == dep.msp_id


def test_transactions_keep_committing_when_an_orderer_is_killed(network: Network) -> None:
    layout = network.layout
    nodes = layout.consortium.orderers.nodes
    victim = nodes[0]
    assert network.supervisor.stop(victim.name, hard=True)  # kill -9
    for i in range(5):
        assert "(VALID)" in _put(network, f"during-crash-{i}", str(i))
    survivor_height = lifecycle.orderer_height(layout, nodes[1])
    network.up()  # restarts only the dead orderer (and proves a transaction commits)
    deadline = time.monotonic() + 60
    while lifecycle.orderer_height(layout, victim) < survivor_height:
        assert time.monotonic() < deadline, "restarted orderer did not catch up"
        time.sleep(0.5)


def test_down_then_up_keeps_ledger_height_and_data(network: Network) -> None:
    layout = network.layout
    dep = layout.consortium.departments[2]
    _put(network, "survives-restart", "yes")
    before = lifecycle.peer_height(layout, dep)
    stopped = network.down()
    assert len(stopped) == 9
    assert all(row.pid is None for row in network.status())
    network.up()
    # up commits a check transaction and one discovery proof per department (each in its
    # own block: they are submitted one after another); nothing else changes the height.
    # They waited on other peers, so give this one a moment to receive the last block.
    expected = before + 1 + len(layout.consortium.departments)
    deadline = time.monotonic() + 20
    while (height := lifecycle.peer_height(layout, dep)) < expected:
        assert time.monotonic() < deadline, "peer did not receive the check blocks"
        time.sleep(0.3)
    assert height == expected
    got = json.loads(lifecycle.query(layout, dep, ["Get", "survives-restart"]))
    assert got["value"] == "yes"


def test_up_on_a_running_network_starts_nothing(network: Network) -> None:
    pids = {row.name: row.pid for row in network.status()}
    network.up()
    assert {row.name: row.pid for row in network.status()} == pids


def test_port_in_use_is_one_line_and_starts_nothing(tmp_path: Path) -> None:
    consortium = shifted_consortium(tmp_path / "c.yaml", 5000)
    settings = network_settings(tmp_path / "state", consortium)
    net = network_from(settings, verbose=False)
    peer = net.layout.consortium.departments[1].peer
    with socket.socket() as blocker:
        blocker.bind((peer.host, peer.port))
        blocker.listen()
        with pytest.raises(PortInUseError) as info:
            net.up()
    assert f"port {peer.port}" in str(info.value)
    assert "\n" not in str(info.value)
    assert all(row.pid is None for row in net.status())
