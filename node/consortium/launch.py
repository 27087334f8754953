"""How each consortium process is launched: command line, environment, health URL.

One template (network-config/fabric/core.yaml, orderer.yaml) serves every process; what
differs per process is set here with CORE_* / ORDERER_* variables, from the consortium file.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from node.consortium.config import Consortium, Department, OrdererNode
from node.consortium.identities import ADMIN_USER, org_crypto
from node.consortium.processes import ProcessSpec
from node.consortium.toolchain import Toolchain


@dataclass(frozen=True)
class Layout:
    """Everything needed to launch processes: the definition, the binaries, the state dir."""

    consortium: Consortium
    state_dir: Path
    toolchain: Toolchain
    fabric_config_dir: Path
    builder_dir: Path
    base_env: Mapping[str, str]

    @property
    def genesis_block(self) -> Path:
        return self.state_dir / "config" / "genesis.block"

    def data_dir(self, name: str) -> Path:
        return self.state_dir / "data" / name

    def cli_env(self, dep: Department, msp_dir: Path | None = None) -> dict[str, str]:
        """Environment for the ``peer`` CLI acting on ``dep``'s peer as its admin, or as
        the identity whose MSP directory is ``msp_dir``."""
        crypto = org_crypto(self.state_dir, self.consortium, dep.name)
        msp = msp_dir or crypto.user(ADMIN_USER).msp_dir
        return {
            **self.base_env,
            "FABRIC_CFG_PATH": str(self.fabric_config_dir),
            "FABRIC_LOGGING_SPEC": "warning",
            "CORE_PEER_LOCALMSPID": dep.msp_id,
            "CORE_PEER_MSPCONFIGPATH": str(msp),
            "CORE_PEER_ADDRESS": dep.peer.address,
            "CORE_PEER_TLS_ENABLED": "true",
            "CORE_PEER_TLS_ROOTCERT_FILE": str(crypto.tlsca_cert),
        }


def orderer_name(node: OrdererNode) -> str:
    return node.name


def peer_name(dep: Department) -> str:
    return f"{dep.peer.name}.{dep.name}"


def chaincode_name(dep: Department) -> str:
    return f"chaincode.{dep.name}"


def orderer_spec(layout: Layout, node: OrdererNode) -> ProcessSpec:
    ordr = layout.consortium.orderers
    files = org_crypto(layout.state_dir, layout.consortium, ordr.org).node(node.name)
    data = layout.data_dir(node.name)
    tls = {"cert": str(files.tls_cert), "key": str(files.tls_key), "ca": str(files.tls_ca)}
    env = {
        **layout.base_env,
        "FABRIC_CFG_PATH": str(layout.fabric_config_dir),
        "FABRIC_LOGGING_SPEC": "info",
        "ORDERER_GENERAL_LISTENADDRESS": node.host,
        "ORDERER_GENERAL_LISTENPORT": str(node.port),
        "ORDERER_GENERAL_LOCALMSPID": ordr.msp_id,
        "ORDERER_GENERAL_LOCALMSPDIR": str(files.msp_dir),
        "ORDERER_GENERAL_TLS_PRIVATEKEY": tls["key"],
        "ORDERER_GENERAL_TLS_CERTIFICATE": tls["cert"],
        "ORDERER_GENERAL_TLS_ROOTCAS": f"[{tls['ca']}]",
        "ORDERER_GENERAL_CLUSTER_CLIENTCERTIFICATE": tls["cert"],
        "ORDERER_GENERAL_CLUSTER_CLIENTPRIVATEKEY": tls["key"],
        "ORDERER_FILELEDGER_LOCATION": str(data / "ledger"),
        "ORDERER_CONSENSUS_WALDIR": str(data / "etcdraft" / "wal"),
        "ORDERER_CONSENSUS_SNAPDIR": str(data / "etcdraft" / "snapshot"),
        "ORDERER_OPERATIONS_LISTENADDRESS": f"{node.host}:{node.operations_port}",
        # Prometheus metrics on the operations port: operators scrape them, and
        # consensus_etcdraft_is_leader tells which orderer leads (see raft_leader).
        "ORDERER_METRICS_PROVIDER": "prometheus",
        "ORDERER_ADMIN_LISTENADDRESS": f"{node.host}:{node.admin_port}",
        "ORDERER_ADMIN_TLS_CERTIFICATE": tls["cert"],
        "ORDERER_ADMIN_TLS_PRIVATEKEY": tls["key"],
        "ORDERER_ADMIN_TLS_CLIENTROOTCAS": f"[{tls['ca']}]",
    }
    return ProcessSpec(
        name=orderer_name(node),
        argv=[str(layout.toolchain.binary("orderer"))],
        env=env,
        health_url=f"http://{node.host}:{node.operations_port}/healthz",
    )


def peer_spec(layout: Layout, dep: Department) -> ProcessSpec:
    crypto = org_crypto(layout.state_dir, layout.consortium, dep.name)
    files = crypto.node(dep.peer.name)
    data = layout.data_dir(peer_name(dep))
    peer = dep.peer
    builders = f"[{{name: ccaas, path: {layout.builder_dir}}}]"
    env = {
        **layout.base_env,
        "FABRIC_CFG_PATH": str(layout.fabric_config_dir),
        "FABRIC_LOGGING_SPEC": "info",
        "CORE_PEER_ID": f"{peer.name}.{crypto.domain}",
        "CORE_PEER_LISTENADDRESS": peer.address,
        "CORE_PEER_ADDRESS": peer.address,
        "CORE_PEER_CHAINCODELISTENADDRESS": f"{peer.host}:{peer.chaincode_port}",
        "CORE_PEER_CHAINCODEADDRESS": f"{peer.host}:{peer.chaincode_port}",
        "CORE_PEER_GOSSIP_BOOTSTRAP": peer.address,
        "CORE_PEER_GOSSIP_EXTERNALENDPOINT": peer.address,
        "CORE_PEER_LOCALMSPID": dep.msp_id,
        "CORE_PEER_MSPCONFIGPATH": str(files.msp_dir),
        "CORE_PEER_TLS_ENABLED": "true",
        "CORE_PEER_TLS_CERT_FILE": str(files.tls_cert),
        "CORE_PEER_TLS_KEY_FILE": str(files.tls_key),
        "CORE_PEER_TLS_ROOTCERT_FILE": str(files.tls_ca),
        # The peer's TLS pair doubles as its client certificate towards the chaincode server.
        "CORE_PEER_TLS_CLIENTCERT_FILE": str(files.tls_cert),
        "CORE_PEER_TLS_CLIENTKEY_FILE": str(files.tls_key),
        "CORE_PEER_FILESYSTEMPATH": str(data),
        "CORE_LEDGER_SNAPSHOTS_ROOTDIR": str(data / "snapshots"),
        "CORE_OPERATIONS_LISTENADDRESS": f"{peer.host}:{peer.operations_port}",
        "CORE_METRICS_PROVIDER": "prometheus",
        # No Docker: an empty VM endpoint plus the CCaaS external builder.
        "CORE_VM_ENDPOINT": "",
        "CORE_CHAINCODE_EXTERNALBUILDERS": builders,
    }
    return ProcessSpec(
        name=peer_name(dep),
        argv=[str(layout.toolchain.binary("peer")), "node", "start"],
        env=env,
        health_url=f"http://{peer.host}:{peer.operations_port}/healthz",
    )


def chaincode_spec(layout: Layout, dep: Department, package_id: str) -> ProcessSpec:
    crypto = org_crypto(layout.state_dir, layout.consortium, dep.name)
    files = crypto.node("chaincode")
    env = {
        **layout.base_env,
        "CHAINCODE_ID": package_id,
        "CHAINCODE_SERVER_ADDRESS": layout.consortium.department(dep.name).chaincode_server.address,
        "CHAINCODE_TLS_CERT_FILE": str(files.tls_cert),
        "CHAINCODE_TLS_KEY_FILE": str(files.tls_key),
        "CHAINCODE_CLIENT_CA_FILE": str(crypto.tlsca_cert),
    }
    return ProcessSpec(
        name=chaincode_name(dep),
        argv=[sys.executable, "-m", "chaincode"],
        env=env,
        health_url=f"tcp://{dep.chaincode_server.address}",
    )
