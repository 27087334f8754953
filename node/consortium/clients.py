"""Gateway clients for the consortium's departments, built from the consortium's files."""

from __future__ import annotations

from node.consortium.config import Department
from node.consortium.identities import ADMIN_USER, org_crypto
from node.consortium.launch import Layout
from node.fabric import Contract, Deadlines, Gateway, load_msp_identity, open_channel


def department_contract(
    layout: Layout,
    peer_of: Department,
    *,
    identity_of: Department | None = None,
    deadlines: Deadlines | None = None,
) -> Contract:
    """The chaincode through ``peer_of``'s gateway peer, signed by the admin of
    ``identity_of`` (default: the same department).

    Call it inside the event loop that will use it: a gRPC channel belongs to its loop.

    Raises:
        FileNotFoundError: the department's crypto material has not been generated.
    """
    signer_dep = identity_of or peer_of
    signer_crypto = org_crypto(layout.state_dir, layout.consortium, signer_dep.name)
    identity, signer = load_msp_identity(signer_dep.msp_id, signer_crypto.user(ADMIN_USER).msp_dir)
    peer_crypto = org_crypto(layout.state_dir, layout.consortium, peer_of.name)
    channel = open_channel(
        peer_of.peer.address,
        peer_crypto.tlsca_cert.read_bytes(),
        server_name=f"{peer_of.peer.name}.{peer_crypto.domain}",
    )
    gateway = Gateway(channel, identity, signer, deadlines or Deadlines())
    return gateway.contract(layout.consortium.channel, layout.consortium.chaincode.name)
