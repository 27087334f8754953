"""One department on its own host: PublicSecurity runs in a network namespace of its own.

The test makes a namespace and a veth pair (10.213.0.1 on this side, 10.213.0.2 inside),
starts each org with ``evnet network up --org NAME`` (PublicSecurity's inside the
namespace), and checks that a transaction endorsed across the two hosts commits VALID.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from netsupport import namespace as netns_pair
from netsupport import (
    network_settings,
    read_eventually,
    shifted_consortium,
    submit_when_discovered,
)

from node.cli.network import network_from
from node.consortium.clients import department_contract
from node.consortium.launch import Layout
from node.settings import PROJECT_ROOT

pytestmark = pytest.mark.network

HOST_A, HOST_B = "10.213.0.1", "10.213.0.2"


@pytest.fixture
def namespace() -> Iterator[str]:
    with netns_pair("m", HOST_A, HOST_B) as ns:
        yield ns.name


def _two_host_consortium(path: Path) -> Path:
    shifted_consortium(path, 6000)
    doc = yaml.safe_load(path.read_text())
    for node in doc["orderers"]["nodes"]:
        node["host"] = HOST_A
    for dep in doc["departments"]:
        host = HOST_B if dep["name"] == "PublicSecurity" else HOST_A
        dep["peer"]["host"] = host
        dep["chaincode_server"]["host"] = host
    path.write_text(yaml.safe_dump(doc))
    return path


async def test_an_org_on_its_own_host_endorses_across_hosts(tmp_path: Path, namespace: str) -> None:
    consortium_file = _two_host_consortium(tmp_path / "two-hosts.yaml")
    settings = network_settings(tmp_path / "state", consortium_file)
    env = {
        **os.environ,
        "EVNET_STATE_DIR": str(settings.state_dir),
        "EVNET_CONSORTIUM": str(consortium_file),
        "EVNET_FABRIC_BIN": str(settings.fabric_bin),
    }
    evnet = [sys.executable, "-m", "node.cli", "network"]

    def up(org: str, *, inside: bool = False) -> None:
        prefix = ["ip", "netns", "exec", namespace] if inside else []
        proc = subprocess.run([*prefix, *evnet, "up", "--org", org], env=env, cwd=PROJECT_ROOT,
                              capture_output=True, text=True, timeout=300, check=False)  # fmt: skip
        assert proc.returncode == 0, f"up --org {org}: {proc.stdout}\n{proc.stderr}"

    try:
        up("Orderer")
        up("UrbanManagement")
        up("PublicSecurity", inside=True)  # completes the majority and commits
        up("MarketSupervision")
        layout: Layout = network_from(settings, verbose=False).layout
        urban = layout.consortium.department("UrbanManagement")
        contract = department_contract(layout, urban)
        await submit_when_discovered(
            contract, "Put", "cross-host", "endorsed on two hosts",
            endorsing_orgs=["UrbanManagementMSP", "PublicSecurityMSP"],
        )  # fmt: skip
        # Read back through PublicSecurity's peer inside the other namespace.
        public_security = layout.consortium.department("PublicSecurity")
        ps_contract = department_contract(layout, public_security, identity_of=urban)
        got = await read_eventually(ps_contract, "cross-host")
        assert got["value"] == "endorsed on two hosts"
    finally:
        subprocess.run([*evnet, "down"], env=env, cwd=PROJECT_ROOT, capture_output=True,
                       timeout=120, check=False)  # fmt: skip
