"""Gateway clients for the consortium's departments, built from the consortium's files."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import grpc

from node.consortium.config import Department
from node.consortium.identities import ADMIN_USER, org_crypto
from node.consortium.launch import Layout
from node.crypto.signing import EcdsaSigner
from node.crypto.user_keys import is_sealed, passphrase_path, read_passphrase
from node.fabric import (
    Contract,
    Deadlines,
    EndorseError,
    Gateway,
    Identity,
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
    identity, signer = user_identity(layout, identity_of or peer_of, user)
    peer_crypto = org_crypto(layout.state_dir, layout.consortium, peer_of.name)
    channel = open_channel(
        peer_of.peer.address,
        peer_crypto.tlsca_cert.read_bytes(),
        server_name=f"{peer_of.peer.name}.{peer_crypto.domain}",
    )
    gateway = Gateway(channel, identity, signer, deadlines or Deadlines())
    return gateway.contract(layout.consortium.channel, layout.consortium.chaincode.name)


def user_identity(layout: Layout, dep: Department, user: str) -> tuple[Identity, EcdsaSigner]:
    """``user`` of ``dep`` as a signer; a sealed key is opened with the department's key
    passphrase (``<state>/secrets/<Department>.key-passphrase``).

    Raises:
        FileNotFoundError: no such identity.
        KeyLocked / PassphraseFileError: the key is sealed and cannot be opened.
    """
    crypto = org_crypto(layout.state_dir, layout.consortium, dep.name)
    msp_dir = crypto.user(user).msp_dir
    keys = sorted((msp_dir / "keystore").glob("*")) if (msp_dir / "keystore").is_dir() else []
    passphrase = None
    if keys and is_sealed(keys[0].read_bytes()):
        passphrase = read_passphrase(passphrase_path(layout.state_dir, dep.name))
    return load_msp_identity(dep.msp_id, msp_dir, passphrase)


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
