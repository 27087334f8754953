"""Gateway clients for the consortium's departments, built from the consortium's files."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import grpc

from node.consortium.config import Department
from node.consortium.identities import ADMIN_USER, org_crypto
from node.consortium.launch import Layout
from node.fabric import (
    Contract,
    Deadlines,
    EndorseError,
    Gateway,
    load_msp_identity,
    open_channel,
)

_NOT_YET = (grpc.StatusCode.FAILED_PRECONDITION, grpc.StatusCode.UNAVAILABLE)


def department_contract(
    layout: Layout,
    peer_of: Department,
    *,
    identity_of: Department | None = None,
    user: str = ADMIN_USER,
    deadlines: Deadlines | None = None,
) -> Contract:
    """The chaincode through ``peer_of``'s gateway peer, signed by ``user`` (default: the
    admin) of ``identity_of`` (default: the same department).

    Call it inside the event loop that will use it: a gRPC channel belongs to its loop.

    Raises:
        FileNotFoundError: the department's crypto material has not been generated.
    """
    signer_dep = identity_of or peer_of
    signer_crypto = org_crypto(layout.state_dir, layout.consortium, signer_dep.name)
    identity, signer = load_msp_identity(signer_dep.msp_id, signer_crypto.user(user).msp_dir)
    peer_crypto = org_crypto(layout.state_dir, layout.consortium, peer_of.name)
    channel = open_channel(
        peer_of.peer.address,
        peer_crypto.tlsca_cert.read_bytes(),
        server_name=f"{peer_of.peer.name}.{peer_crypto.domain}",
    )
    gateway = Gateway(channel, identity, signer, deadlines or Deadlines())
    return gateway.contract(layout.consortium.channel, layout.consortium.chaincode.name)


async def wait_for_discovery(layout: Layout, deps: Sequence[Department], timeout: float) -> None:
    """Return once each department's gateway can reach every department's peer.

    A gateway learns about other departments' peers by gossip a few seconds after they
    join; until then it cannot plan an endorsement that needs them (a case's key-level
    policy names one department) and refuses with FAILED_PRECONDITION or UNAVAILABLE. A
    Ping endorsed by all departments, submitted through each gateway, proves the plan.

    Raises:
        EndorseError: the last failure, if ``timeout`` seconds were not enough.
    """
    msp_ids = [d.msp_id for d in deps]
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    for dep in deps:
        contract = department_contract(layout, dep)
        try:
            while True:
                try:
                    await contract.submit("Ping", endorsing_orgs=msp_ids)
                    break
                except EndorseError as exc:
                    retry = exc.grpc_code in _NOT_YET and exc.chaincode_code is None
                    if not retry or loop.time() > deadline:
                        raise
                    await asyncio.sleep(0.5)
        finally:
            await contract.gateway.channel.close(None)
