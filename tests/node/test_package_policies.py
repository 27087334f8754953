"""The channel's endorsement policy, read from a config and evaluated offline as Fabric does.
The verifier's use of it on real blocks: tests/network/test_package_network.py."""

from __future__ import annotations

import datetime as dt

import pytest
from fabric_protos.common import configtx_pb2, policies_pb2
from fabric_protos.msp import msp_config_pb2, msp_principal_pb2

from node.crypto.pki import create_ca, issue
from node.fabric import MalformedLedgerData
from node.fabric.identity import Identity
from node.package.policies import EndorsementPolicy
from node.package.trust import msp_roots

T0 = dt.datetime(2026, 3, 1, 8, tzinfo=dt.UTC)
ORGS = ("UrbanManagement", "PublicSecurity", "MarketSupervision")
_ROLE = msp_principal_pb2.MSPRole


def _principal(msp: str, role: int) -> msp_principal_pb2.MSPPrincipal:
    return msp_principal_pb2.MSPPrincipal(
        principal_classification=msp_principal_pb2.MSPPrincipal.ROLE,
        principal=_ROLE(msp_identifier=msp, role=role).SerializeToString(),
    )


def _signature_policy(
    principals: list[msp_principal_pb2.MSPPrincipal], n: int = 1
) -> policies_pb2.Policy:
    envelope = policies_pb2.SignaturePolicyEnvelope(
        rule=policies_pb2.SignaturePolicy(
            n_out_of=policies_pb2.SignaturePolicy.NOutOf(
                n=n,
                rules=[policies_pb2.SignaturePolicy(signed_by=i) for i in range(len(principals))],
            )
        ),
        identities=principals,
    )
    return policies_pb2.Policy(
        type=policies_pb2.Policy.SIGNATURE, value=envelope.SerializeToString()
    )


def _msp_value(msp: str, ca_pem: bytes) -> bytes:
    ou = msp_config_pb2.FabricOUIdentifier
    node_ous = msp_config_pb2.FabricNodeOUs(
        enable=True,
        client_ou_identifier=ou(organizational_unit_identifier="client"),
        peer_ou_identifier=ou(organizational_unit_identifier="peer"),
        admin_ou_identifier=ou(organizational_unit_identifier="admin"),
        orderer_ou_identifier=ou(organizational_unit_identifier="orderer"),
    )
    fabric = msp_config_pb2.FabricMSPConfig(name=msp, root_certs=[ca_pem], fabric_node_ous=node_ous)
    return msp_config_pb2.MSPConfig(type=0, config=fabric.SerializeToString()).SerializeToString()


def _config(
    rule: int = policies_pb2.ImplicitMetaPolicy.MAJORITY,
    org_policy: dict[str, policies_pb2.Policy | None] | None = None,
) -> configtx_pb2.Config:
    config = configtx_pb2.Config()
    app = config.channel_group.groups["Application"]
    app.policies["Endorsement"].policy.CopyFrom(
        policies_pb2.Policy(
            type=policies_pb2.Policy.IMPLICIT_META,
            value=policies_pb2.ImplicitMetaPolicy(
                sub_policy="Endorsement", rule=rule
            ).SerializeToString(),
        )
    )
    for org in ORGS:
        msp = f"{org}MSP"
        group = app.groups[org]
        group.values["MSP"].value = _msp_value(msp, CAS[org].cert_pem)
        policy = (org_policy or {}).get(org, _signature_policy([_principal(msp, _ROLE.PEER)]))
        if policy is not None:
            group.policies["Endorsement"].policy.CopyFrom(policy)
    return config


CAS = {org: create_ca(f"ca.{org.lower()}", f"{org}MSP", T0) for org in ORGS}


def _who(org: str, ou: str = "peer", name: str = "peer0") -> Identity:
    return Identity(
        f"{org}MSP", issue(CAS[org], name, f"{org}MSP", T0, organizational_unit=ou).cert_pem
    )


@pytest.fixture(scope="module")
def peers() -> dict[str, Identity]:
    return {org: _who(org) for org in ORGS}


def test_a_majority_of_orgs_peers_is_needed(peers: dict[str, Identity]) -> None:
    policy = _policy(_config())
    urban, police, market = (peers[o] for o in ORGS)
    assert policy.threshold == 2
    assert policy.describe() == "MAJORITY Endorsement of 3 orgs"
    assert policy.satisfied_by([urban, police])
    assert policy.satisfied_by([market, urban, police])
    assert not policy.satisfied_by([urban])
    assert not policy.satisfied_by([])
    # Twice the same org (or the same identity twice) is still one org.
    assert not policy.satisfied_by([urban, urban])
    assert not policy.satisfied_by([urban, _who("UrbanManagement", name="peer1")])


def test_only_the_role_the_policy_names_counts(peers: dict[str, Identity]) -> None:
    policy = _policy(_config())
    client = _who("PublicSecurity", ou="client", name="officer1")
    assert not policy.satisfied_by([peers["UrbanManagement"], client])
    # A MEMBER principal admits any identity of its MSP, a client as well.
    member = _policy(
        _config(
            org_policy={
                "PublicSecurity": _signature_policy([_principal("PublicSecurityMSP", _ROLE.MEMBER)])
            }
        )
    )
    assert member.satisfied_by([peers["UrbanManagement"], client])


def test_any_and_all_and_a_group_without_the_sub_policy(peers: dict[str, Identity]) -> None:
    urban, police, market = (peers[o] for o in ORGS)
    anyone = _policy(_config(policies_pb2.ImplicitMetaPolicy.ANY))
    assert anyone.satisfied_by([market])
    every = _policy(_config(policies_pb2.ImplicitMetaPolicy.ALL))
    assert not every.satisfied_by([urban, police])
    assert every.satisfied_by([urban, police, market])
    # As in Fabric, an org group without the sub-policy still counts toward the threshold
    # and never holds: all three cannot be met.
    missing = _policy(
        _config(policies_pb2.ImplicitMetaPolicy.ALL, org_policy={"MarketSupervision": None})
    )
    assert not missing.satisfied_by([urban, police, market])


def test_n_out_of_uses_each_endorser_once(peers: dict[str, Identity]) -> None:
    urban, police = peers["UrbanManagement"], peers["PublicSecurity"]
    two_peers = _signature_policy(
        [
            _principal("UrbanManagementMSP", _ROLE.PEER),
            _principal("UrbanManagementMSP", _ROLE.PEER),
        ],
        n=2,
    )
    policy = _policy(
        _config(policies_pb2.ImplicitMetaPolicy.ANY, org_policy={o: two_peers for o in ORGS})
    )
    assert not policy.satisfied_by([urban, police])
    assert policy.satisfied_by([urban, _who("UrbanManagement", name="peer1")])


@pytest.mark.parametrize(
    ("config", "says"),
    [
        (configtx_pb2.Config(), "no Application group"),
        (lambda: _drop_channel_policy(_config()), "no /Channel/Application/Endorsement"),
        (lambda: _config(rule=7), "rule 7"),
        (
            lambda: _config(org_policy={"UrbanManagement": policies_pb2.Policy(type=3, value=b"")}),
            "where SIGNATURE was expected",
        ),
        (
            lambda: _config(
                org_policy={"UrbanManagement": policies_pb2.Policy(type=1, value=b"\xff\xff")}
            ),
            "does not parse",
        ),
    ],
)
def test_a_policy_not_of_fabrics_shape_is_malformed(config: object, says: str) -> None:
    built = config() if callable(config) else config
    with pytest.raises(MalformedLedgerData, match=says):
        _policy(built)


def _policy(config: configtx_pb2.Config) -> EndorsementPolicy:
    """The policy with each org's NodeOUs read from its MSP value, as ChannelTrust does."""
    ous = {}
    groups = config.channel_group.groups
    application = groups["Application"].groups if "Application" in groups else {}
    for org in application.values():
        roots = msp_roots(bytes(org.values["MSP"].value))
        assert roots is not None
        ous[roots.msp_id] = roots.node_ous
    return EndorsementPolicy.from_config(config, ous)


def _drop_channel_policy(config: configtx_pb2.Config) -> configtx_pb2.Config:
    del config.channel_group.groups["Application"].policies["Endorsement"]
    return config
