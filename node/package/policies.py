"""The channel's endorsement policy, read from a config block and evaluated offline.

Why a verifier needs it: a transaction's validation code (``VALID``) is the committing
peer's verdict, stored in block metadata that no orderer signs. A department could submit
a transaction endorsed only by its own peer, let the peers mark it
``ENDORSEMENT_POLICY_FAILURE``, and later hand over the block with the flag set to
``VALID``. The endorsements themselves are in the signed envelope, so the policy they had to
satisfy can be checked again here. (An MVCC conflict cannot be: that needs the world state.)

The evidence chaincode is committed without a policy of its own (node/consortium/lifecycle.py),
so Fabric applies the channel's ``/Channel/Application/Endorsement``: an implicit-meta rule
(``MAJORITY Endorsement`` here) over each application org's ``Endorsement`` signature policy
(``OR('<MSP>.peer')``). Evaluated as Fabric does (common/policies/implicitmeta.go,
common/cauthdsl): every org group counts toward the threshold, a group without the
sub-policy never holds; each endorser's identity satisfies one principal at most.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from fabric_protos.common import configtx_pb2, policies_pb2
from fabric_protos.msp import msp_config_pb2, msp_principal_pb2
from google.protobuf.message import DecodeError

from node.fabric.blocks import MalformedLedgerData
from node.fabric.identity import Identity
from node.package.certificates import organizational_units

SUB_POLICY_OF_CHANNEL = "Endorsement"

_ROLE = msp_principal_pb2.MSPRole
_NODE_OU_FIELDS = {
    _ROLE.CLIENT: "client_ou_identifier",
    _ROLE.PEER: "peer_ou_identifier",
    _ROLE.ADMIN: "admin_ou_identifier",
    _ROLE.ORDERER: "orderer_ou_identifier",
}


def node_ous(fabric: msp_config_pb2.FabricMSPConfig) -> dict[int, str]:
    """An MSP's NodeOU identifiers (role -> OU), empty unless it classifies by OU."""
    by_role: dict[int, str] = {}
    if fabric.fabric_node_ous.enable:
        for role, name in _NODE_OU_FIELDS.items():
            ou = getattr(fabric.fabric_node_ous, name).organizational_unit_identifier
            if ou:
                by_role[role] = str(ou)
    return by_role


@dataclass(frozen=True)
class EndorsementPolicy:
    """``/Channel/Application/Endorsement`` as a config block states it."""

    rule: int  # policies_pb2.ImplicitMetaPolicy.Rule
    sub_policy: str
    # One entry per application org group: its sub-policy (None if it has none).
    orgs: tuple[tuple[str, policies_pb2.SignaturePolicyEnvelope | None], ...]
    node_ous: Mapping[str, Mapping[int, str]]  # MSP id -> its NodeOU identifiers

    @classmethod
    def from_config(
        cls, config: configtx_pb2.Config, node_ous: Mapping[str, Mapping[int, str]]
    ) -> EndorsementPolicy:
        """The policy in ``config``; ``node_ous``: each MSP's NodeOU identifiers (parsed
        with its roots, :func:`node_ous`).

        Raises:
            MalformedLedgerData: no such policy, or not of the shape Fabric writes.
        """
        groups = config.channel_group.groups
        if "Application" not in groups:
            raise MalformedLedgerData("the config has no Application group")
        app = groups["Application"]
        if SUB_POLICY_OF_CHANNEL not in app.policies:
            raise MalformedLedgerData("the config has no /Channel/Application/Endorsement")
        meta = _parsed(
            policies_pb2.ImplicitMetaPolicy,
            app.policies[SUB_POLICY_OF_CHANNEL].policy,
            policies_pb2.Policy.IMPLICIT_META,
        )
        if meta.rule not in policies_pb2.ImplicitMetaPolicy.Rule.values():
            raise MalformedLedgerData(f"implicit-meta rule {meta.rule} is not Fabric's")
        orgs: list[tuple[str, policies_pb2.SignaturePolicyEnvelope | None]] = []
        for name, org in sorted(app.groups.items()):
            envelope = None
            if meta.sub_policy in org.policies:
                envelope = _parsed(
                    policies_pb2.SignaturePolicyEnvelope,
                    org.policies[meta.sub_policy].policy,
                    policies_pb2.Policy.SIGNATURE,
                )
            orgs.append((str(name), envelope))
        return cls(int(meta.rule), str(meta.sub_policy), tuple(orgs), node_ous)

    @property
    def threshold(self) -> int:
        count = len(self.orgs)
        if count == 0:
            return 0
        if self.rule == policies_pb2.ImplicitMetaPolicy.ALL:
            return count
        if self.rule == policies_pb2.ImplicitMetaPolicy.MAJORITY:
            return count // 2 + 1
        return 1

    def describe(self) -> str:
        rule = policies_pb2.ImplicitMetaPolicy.Rule.Name(self.rule)
        return f"{rule} {self.sub_policy} of {len(self.orgs)} orgs"

    def satisfied_by(self, endorsers: Sequence[Identity]) -> bool:
        """Whether these endorsers (each one whose signature verified and whose certificate
        chains to its MSP) satisfy the policy."""
        unique = list(dict.fromkeys(endorsers))  # Fabric deduplicates the signature set
        held = sum(
            1 for _, envelope in self.orgs if envelope is not None and self._holds(envelope, unique)
        )
        return held >= self.threshold

    def _holds(
        self, envelope: policies_pb2.SignaturePolicyEnvelope, endorsers: list[Identity]
    ) -> bool:
        used = [False] * len(endorsers)
        return self._rule(envelope.rule, envelope.identities, endorsers, used)

    def _rule(
        self,
        rule: policies_pb2.SignaturePolicy,
        principals: Sequence[msp_principal_pb2.MSPPrincipal],
        endorsers: list[Identity],
        used: list[bool],
    ) -> bool:
        kind = rule.WhichOneof("Type")
        if kind == "n_out_of":
            verified = 0
            for sub in rule.n_out_of.rules:
                trial = list(used)
                if self._rule(sub, principals, endorsers, trial):
                    verified += 1
                    used[:] = trial
            return verified >= int(rule.n_out_of.n)
        if kind == "signed_by":
            if not 0 <= rule.signed_by < len(principals):
                return False
            principal = principals[rule.signed_by]
            for i, who in enumerate(endorsers):
                if not used[i] and self._satisfies(who, principal):
                    used[i] = True
                    return True
        return False

    def _satisfies(self, who: Identity, principal: msp_principal_pb2.MSPPrincipal) -> bool:
        """ROLE principals only (the only kind the consortium's policies use); others never
        hold here."""
        if principal.principal_classification != msp_principal_pb2.MSPPrincipal.ROLE:
            return False
        try:
            role = _ROLE.FromString(principal.principal)
        except DecodeError:
            return False
        if role.msp_identifier != who.msp_id:
            return False
        if role.role == _ROLE.MEMBER:
            return True
        wanted = self.node_ous.get(who.msp_id, {}).get(role.role)
        return wanted is not None and wanted in organizational_units(who.cert_pem)


def _parsed(message_type: Any, policy: policies_pb2.Policy, kind: int) -> Any:
    if policy.type != kind:
        raise MalformedLedgerData(
            f"policy of type {policy.type} where {policies_pb2.Policy.PolicyType.Name(kind)} "
            "was expected"
        )
    try:
        return message_type.FromString(policy.value)
    except DecodeError as exc:
        raise MalformedLedgerData("a policy does not parse") from exc
