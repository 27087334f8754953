"""Key-level (state-based) endorsement policies, stored as the key's VALIDATION_PARAMETER.

A policy built here requires an endorsement from a peer of every listed org: the shape
Fabric's own state-based endorsement helper produces.
"""

from __future__ import annotations

from collections.abc import Sequence

from fabric_protos.common import policies_pb2
from fabric_protos.msp import msp_principal_pb2

VALIDATION_PARAMETER = "VALIDATION_PARAMETER"


def peers_of(msp_ids: Sequence[str]) -> bytes:
    """A serialized SignaturePolicyEnvelope: one peer of each of ``msp_ids`` must endorse."""
    if not msp_ids:
        raise ValueError("a key-level policy needs at least one org")
    orgs = sorted(set(msp_ids))  # deterministic bytes for every endorsing peer
    identities = [
        msp_principal_pb2.MSPPrincipal(
            principal_classification=msp_principal_pb2.MSPPrincipal.ROLE,
            principal=msp_principal_pb2.MSPRole(
                msp_identifier=msp, role=msp_principal_pb2.MSPRole.PEER
            ).SerializeToString(),
        )
        for msp in orgs
    ]
    rule = policies_pb2.SignaturePolicy(
        n_out_of=policies_pb2.SignaturePolicy.NOutOf(
            n=len(orgs),
            rules=[policies_pb2.SignaturePolicy(signed_by=i) for i in range(len(orgs))],
        )
    )
    envelope = policies_pb2.SignaturePolicyEnvelope(version=0, rule=rule, identities=identities)
    return bytes(envelope.SerializeToString())


def msp_ids_of(policy: bytes) -> list[str]:
    """The orgs named by a policy built with :func:`peers_of` (for checks and audits)."""
    envelope = policies_pb2.SignaturePolicyEnvelope.FromString(policy)
    return [
        msp_principal_pb2.MSPRole.FromString(p.principal).msp_identifier
        for p in envelope.identities
    ]
