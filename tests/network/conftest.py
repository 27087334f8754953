"""A real Fabric consortium for scenario tests: 3 Raft orderers, 3 departments, TLS.

The network runs from a copy of the default consortium file with every port shifted, in a
fresh state directory, so it never touches a developer's own network. A missing Fabric
toolchain fails these tests with what to install; it never skips them.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator

import pytest
from netsupport import bootstrap_ledger, issue_people, network_settings, shifted_consortium

from node.cli.network import network_from
from node.consortium.network import Network

# Another shift lets two suites run side by side on one machine (EVNET_TEST_PORT_SHIFT).
PORT_SHIFT = int(os.environ.get("EVNET_TEST_PORT_SHIFT", "1000"))


@pytest.fixture(scope="session")
def network(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Network]:
    root = tmp_path_factory.mktemp("consortium")
    settings = network_settings(root / "state", shifted_consortium(root / "c.yaml", PORT_SHIFT))
    net = network_from(settings, verbose=False)
    try:
        net.up()
        yield net
    finally:
        net.down()


@pytest.fixture(scope="session")
def people(network: Network) -> Network:
    """The network with a person per role in each department, org keys published and the
    first penalty schedule in force."""
    issue_people(network.layout)
    asyncio.run(bootstrap_ledger(network.layout))
    return network
