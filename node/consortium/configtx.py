"""The channel's genesis definition (configtx.yaml) rendered from the consortium file.

Policies follow Fabric's NodeOU conventions: members of an org read; its clients and
admins write; its admins administer; its peers endorse. The application-level policies
are implicit majorities, so the chaincode definition needs most departments to approve.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from node.consortium.config import Consortium
from node.consortium.identities import org_crypto

PROFILE = "EvidenceChannel"


def _sig(rule: str) -> dict[str, str]:
    return {"Type": "Signature", "Rule": rule}


def _implicit(rule: str) -> dict[str, str]:
    return {"Type": "ImplicitMeta", "Rule": rule}


def _org_policies(msp: str, *, orderer: bool) -> dict[str, Any]:
    policies = {
        "Readers": _sig(f"OR('{msp}.admin', '{msp}.peer', '{msp}.client', '{msp}.orderer')"),
        "Writers": _sig(f"OR('{msp}.admin', '{msp}.client', '{msp}.orderer')"),
        "Admins": _sig(f"OR('{msp}.admin')"),
    }
    if not orderer:
        policies["Endorsement"] = _sig(f"OR('{msp}.peer')")
    return policies


def render(consortium: Consortium, state_dir: Path) -> dict[str, Any]:
    """The configtx.yaml document for ``consortium`` with MSP paths under ``state_dir``."""
    ordr = consortium.orderers
    ocrypto = org_crypto(state_dir, consortium, ordr.org)
    orderer_org = {
        "Name": ordr.org,
        "ID": ordr.msp_id,
        "MSPDir": str(ocrypto.msp_dir),
        "Policies": _org_policies(ordr.msp_id, orderer=True),
        "OrdererEndpoints": [n.address for n in ordr.nodes],
    }
    app_orgs = []
    for dep in consortium.departments:
        crypto = org_crypto(state_dir, consortium, dep.name)
        app_orgs.append(
            {
                "Name": dep.name,
                "ID": dep.msp_id,
                "MSPDir": str(crypto.msp_dir),
                "Policies": _org_policies(dep.msp_id, orderer=False),
                "AnchorPeers": [{"Host": dep.peer.host, "Port": dep.peer.port}],
            }
        )
    consenters = []
    for node in ordr.nodes:
        tls = ocrypto.node(node.name)
        consenters.append(
            {
                "Host": node.host,
                "Port": node.port,
                "ClientTLSCert": str(tls.tls_cert),
                "ServerTLSCert": str(tls.tls_cert),
            }
        )
    orderer_section: dict[str, Any] = {
        "OrdererType": "etcdraft",
        "BatchTimeout": f"{ordr.batch_timeout_ms}ms",
        "BatchSize": {
            "MaxMessageCount": ordr.max_message_count,
            "AbsoluteMaxBytes": "99 MB",
            "PreferredMaxBytes": "2 MB",
        },
        "EtcdRaft": {
            "Consenters": consenters,
            "Options": {
                "TickInterval": "500ms",
                "ElectionTick": 10,
                "HeartbeatTick": 1,
                "MaxInflightBlocks": 5,
                "SnapshotIntervalSize": "16 MB",
            },
        },
        "Organizations": [orderer_org],
        "Policies": {
            "Readers": _implicit("ANY Readers"),
            "Writers": _implicit("ANY Writers"),
            "Admins": _implicit("MAJORITY Admins"),
            "BlockValidation": _implicit("ANY Writers"),
        },
        "Capabilities": {"V2_0": True},
    }
    application = {
        "Organizations": app_orgs,
        "Policies": {
            "Readers": _implicit("ANY Readers"),
            "Writers": _implicit("ANY Writers"),
            "Admins": _implicit("MAJORITY Admins"),
            "LifecycleEndorsement": _implicit("MAJORITY Endorsement"),
            "Endorsement": _implicit("MAJORITY Endorsement"),
        },
        "Capabilities": {"V2_5": True},
    }
    return {
        "Profiles": {
            PROFILE: {
                "Policies": {
                    "Readers": _implicit("ANY Readers"),
                    "Writers": _implicit("ANY Writers"),
                    "Admins": _implicit("MAJORITY Admins"),
                },
                "Capabilities": {"V3_0": True},
                "Orderer": orderer_section,
                "Application": application,
            }
        }
    }


def write(consortium: Consortium, state_dir: Path) -> Path:
    """Write ``<state>/config/configtx.yaml`` and return its directory."""
    out = state_dir / "config"
    out.mkdir(parents=True, exist_ok=True)
    (out / "configtx.yaml").write_text(
        yaml.safe_dump(render(consortium, state_dir), sort_keys=False)
    )
    return out
