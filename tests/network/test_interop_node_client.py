"""Interoperability with the official Node client (@hyperledger/fabric-gateway from npm).

A transaction our client submits is read correctly by the official client, and the other
way round; and our offline-signing flow commits on the real network. The Node program is
tests/interop/client.mjs; its packages come from scripts/install (npm ci). A missing
install fails these tests with what to run; it never skips them.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from netsupport import read_eventually

from node.consortium.clients import department_contract
from node.consortium.config import Department
from node.consortium.identities import ADMIN_USER, org_crypto
from node.consortium.launch import Layout
from node.consortium.network import Network
from node.crypto.signing import EcdsaSigner
from node.fabric import load_msp_identity, open_channel
from node.fabric.offline import OfflineContract

pytestmark = pytest.mark.network

INTEROP = Path(__file__).resolve().parents[1] / "interop"


def _node_env(layout: Layout, dep: Department) -> dict[str, str]:
    """Connection settings for client.mjs: ``dep``'s admin through ``dep``'s gateway peer."""
    crypto = org_crypto(layout.state_dir, layout.consortium, dep.name)
    admin = crypto.user(ADMIN_USER)
    return {
        **os.environ,
        "EVNET_PEER_ENDPOINT": dep.peer.address,
        "EVNET_TLS_CA": str(crypto.tlsca_cert),
        "EVNET_SERVER_NAME": f"{dep.peer.name}.{crypto.domain}",
        "EVNET_MSP_ID": dep.msp_id,
        "EVNET_CERT": str(admin.cert),
        "EVNET_KEY": str(admin.key),
        "EVNET_CHANNEL": layout.consortium.channel,
        "EVNET_CHAINCODE": layout.consortium.chaincode.name,
    }


def _node_client(layout: Layout, dep: Department, *args: str) -> str:
    node = shutil.which("node")
    if node is None or not (INTEROP / "node_modules" / "@hyperledger" / "fabric-gateway").is_dir():
        pytest.fail(
            "the official Node client is not installed in tests/interop/node_modules: "
            "run scripts/install (needs Node >= 20 and npm)"
        )
    done = subprocess.run(
        [node, str(INTEROP / "client.mjs"), *args],
        env=_node_env(layout, dep),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, f"client.mjs {args[0]} failed: {done.stderr}"
    return done.stdout


async def test_node_client_reads_what_our_client_submitted(network: Network) -> None:
    layout = network.layout
    ours, theirs = layout.consortium.departments[0], layout.consortium.departments[1]
    contract = department_contract(layout, ours)
    result = await contract.submit("Put", "interop-ours", "written by python")
    await read_eventually(department_contract(layout, theirs), "interop-ours")
    got = json.loads(_node_client(layout, theirs, "evaluate", "interop-ours"))
    assert got == {"key": "interop-ours", "value": "written by python"}
    assert json.loads(result.result)["tx_id"] == result.tx_id


async def test_our_client_reads_what_the_node_client_submitted(network: Network) -> None:
    layout = network.layout
    theirs, ours = layout.consortium.departments[0], layout.consortium.departments[2]
    submitted = json.loads(_node_client(layout, theirs, "submit", "interop-node", "from node"))
    assert json.loads(submitted["result"]) == {"key": "interop-node", "tx_id": submitted["tx_id"]}
    got = await read_eventually(department_contract(layout, ours), "interop-node")
    assert got == {"key": "interop-node", "value": "from node"}


async def test_offline_signed_transaction_commits_and_is_read_back(network: Network) -> None:
    layout = network.layout
    dep = layout.consortium.departments[0]
    crypto = org_crypto(layout.state_dir, layout.consortium, dep.name)
    identity, _ = load_msp_identity(dep.msp_id, crypto.user(ADMIN_USER).msp_dir)
    # The key stays with the "remote" signer; the contract only ever sees bytes.
    remote = EcdsaSigner.from_pem(crypto.user(ADMIN_USER).key.read_bytes())
    channel = open_channel(
        dep.peer.address,
        crypto.tlsca_cert.read_bytes(),
        server_name=f"{dep.peer.name}.{crypto.domain}",
    )
    offline = OfflineContract(
        channel, identity, layout.consortium.channel, layout.consortium.chaincode.name
    )
    try:
        proposal = offline.proposal("Put", "interop-offline", "signed elsewhere")
        tx = await offline.endorse(proposal, remote.sign(proposal.message))
        commit = await offline.submit(tx, remote.sign(tx.message))
        result = await offline.commit_status(commit, remote.sign(commit.message))
    finally:
        await channel.close(None)
    assert result.tx_id == proposal.tx_id
    assert json.loads(result.result) == {"key": "interop-offline", "tx_id": proposal.tx_id}
    got = json.loads(_node_client(layout, dep, "evaluate", "interop-offline"))
    assert got["value"] == "signed elsewhere"
