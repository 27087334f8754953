"""The consortium's MSP material on disk: CAs, node and user identities, NodeOU config.

Layout under ``<state>/crypto/<Org>/``::

    ca/ca.pem ca/key.pem            identity CA (signs MSP identities)
    tlsca/ca.pem tlsca/key.pem      TLS CA (signs TLS server and client certificates)
    msp/                            the org's MSP as the channel config sees it
    nodes/<name>/{msp,tls}/         a peer's or orderer's local MSP and TLS files
    users/<name>/{msp,tls}/         a person's or device's identity

Every file is generated when missing and never overwritten, so re-running is safe and a
restarted network keeps its identities.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509

from node.consortium.config import Consortium
from node.consortium.errors import IdentityError
from node.crypto.pki import KeyPair, certificate_attributes, create_ca, issue, write_private
from node.crypto.subjects import ensure_subject_secret, subject_secret_path
from node.crypto.user_keys import passphrase_path, read_passphrase, seal_key_file
from schemas.glossary import Role

_NODE_OUS = """NodeOUs:
  Enable: true
  ClientOUIdentifier: {Certificate: cacerts/ca.pem, OrganizationalUnitIdentifier: client}
  PeerOUIdentifier: {Certificate: cacerts/ca.pem, OrganizationalUnitIdentifier: peer}
  AdminOUIdentifier: {Certificate: cacerts/ca.pem, OrganizationalUnitIdentifier: admin}
  OrdererOUIdentifier: {Certificate: cacerts/ca.pem, OrganizationalUnitIdentifier: orderer}
"""
_USER_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
ADMIN_USER = "Admin"


@dataclass(frozen=True)
class IdentityFiles:
    """Where one identity's material lives."""

    root: Path

    @property
    def msp_dir(self) -> Path:
        return self.root / "msp"

    @property
    def cert(self) -> Path:
        return self.root / "msp" / "signcerts" / "cert.pem"

    @property
    def key(self) -> Path:
        return self.root / "msp" / "keystore" / "priv_sk"

    @property
    def tls_cert(self) -> Path:
        return self.root / "tls" / "server.crt"

    @property
    def tls_key(self) -> Path:
        return self.root / "tls" / "server.key"

    @property
    def tls_ca(self) -> Path:
        return self.root / "tls" / "ca.crt"


class OrgCrypto:
    """One organisation's CAs and the identities they issued."""

    def __init__(self, root: Path, org: str, domain: str) -> None:
        self.root = root
        self.org = org
        self.domain = domain

    @property
    def ca_cert(self) -> Path:
        return self.root / "ca" / "ca.pem"

    @property
    def tlsca_cert(self) -> Path:
        return self.root / "tlsca" / "ca.pem"

    @property
    def msp_dir(self) -> Path:
        return self.root / "msp"

    def node(self, name: str) -> IdentityFiles:
        return IdentityFiles(self.root / "nodes" / name)

    def user(self, name: str) -> IdentityFiles:
        return IdentityFiles(self.root / "users" / name)

    def _ca(self, kind: str, now: dt.datetime) -> KeyPair:
        cert, key = self.root / kind / "ca.pem", self.root / kind / "key.pem"
        if not cert.exists():
            pair = create_ca(f"{kind}.{self.domain}", self.domain, now)
            write_private(key, pair.key_pem)
            cert.write_bytes(pair.cert_pem)
        return KeyPair(cert.read_bytes(), key.read_bytes())

    def ensure_cas(self, now: dt.datetime) -> None:
        ca, tlsca = self._ca("ca", now), self._ca("tlsca", now)
        _write_msp_skeleton(self.msp_dir, ca.cert_pem, tlsca.cert_pem)

    def ensure_identity(
        self,
        files: IdentityFiles,
        common_name: str,
        organizational_unit: str,
        now: dt.datetime,
        *,
        attributes: dict[str, str] | None = None,
        hosts: tuple[str, ...] = (),
    ) -> IdentityFiles:
        """Create the identity's MSP and TLS files unless they exist."""
        if files.cert.exists() and files.tls_cert.exists():
            return files
        ca, tlsca = self._ca("ca", now), self._ca("tlsca", now)
        _write_msp_skeleton(files.msp_dir, ca.cert_pem, tlsca.cert_pem)
        signing = issue(
            ca,
            common_name,
            self.domain,
            now,
            organizational_unit=organizational_unit,
            attributes=attributes,
        )
        write_private(files.key, signing.key_pem)
        files.cert.parent.mkdir(parents=True, exist_ok=True)
        files.cert.write_bytes(signing.cert_pem)
        tls = issue(tlsca, common_name, self.domain, now, hosts=hosts or (common_name,), tls=True)
        write_private(files.tls_key, tls.key_pem)
        files.tls_cert.write_bytes(tls.cert_pem)
        files.tls_ca.write_bytes(tlsca.cert_pem)
        return files


def _write_msp_skeleton(msp: Path, ca_pem: bytes, tlsca_pem: bytes) -> None:
    for sub, pem in (("cacerts", ca_pem), ("tlscacerts", tlsca_pem)):
        (msp / sub).mkdir(parents=True, exist_ok=True)
        (msp / sub / "ca.pem").write_bytes(pem)
    (msp / "config.yaml").write_text(_NODE_OUS)


def org_crypto(state_dir: Path, consortium: Consortium, org: str) -> OrgCrypto:
    """The crypto of ``org`` (a department or the orderer org) under ``state_dir``.

    Raises:
        ConsortiumConfigError: no such org.
    """
    if org == consortium.orderers.org:
        domain = f"{org.lower()}.evnet"
    else:
        domain = consortium.department(org).domain
    return OrgCrypto(state_dir / "crypto" / org, org, domain)


def consortium_roots(state_dir: Path, consortium: Consortium) -> dict[str, list[bytes]]:
    """Each MSP's root CA certificates (PEM), by MSP id: the orderer org's and every
    department's.

    Raises:
        IdentityError: an org's CA was never created under ``state_dir``.
    """
    orgs = {d.msp_id: d.name for d in consortium.departments}
    orgs[consortium.orderers.msp_id] = consortium.orderers.org
    roots: dict[str, list[bytes]] = {}
    for msp_id, org in sorted(orgs.items()):
        ca = org_crypto(state_dir, consortium, org).ca_cert
        if not ca.is_file():
            raise IdentityError(
                f"no CA certificate for {org} at {ca}: run `evnet network up` first"
            )
        roots[msp_id] = [ca.read_bytes()]
    return roots


def role_ou(role: Role) -> str:
    """The Fabric NodeOU for a role: org admins are MSP admins, everyone else a client."""
    return "admin" if role is Role.ADMIN else "client"


def issue_user(
    state_dir: Path, consortium: Consortium, org: str, role: Role, name: str, now: dt.datetime
) -> IdentityFiles:
    """Issue a person or device identity carrying ``role``.

    Raises:
        IdentityError: the name is not a valid user name or is already taken.
        ConsortiumConfigError: the org is not a department of the consortium.
    """
    if not _USER_NAME.match(name):
        raise IdentityError(f"invalid identity name {name!r}: use letters, digits, '.', '_', '-'")
    if org == consortium.orderers.org:
        raise IdentityError("users and devices belong to departments, not the orderer org")
    crypto = org_crypto(state_dir, consortium, org)
    files = crypto.user(name)
    if files.cert.exists():
        raise IdentityError(f"identity {name!r} already exists in {org}")
    crypto.ensure_cas(now)
    attrs = {"hf.EnrollmentID": name, "hf.Type": role_ou(role), "role": role.value}
    issued = crypto.ensure_identity(
        files, f"{name}@{crypto.domain}", role_ou(role), now, attributes=attrs
    )
    passphrase = passphrase_path(state_dir, org)
    if role in SEALED_ROLES and passphrase.exists():
        # The department holds its people's keys sealed: this one too, from the start.
        seal_key_file(issued.key, read_passphrase(passphrase))
    return issued


def ensure_consortium_crypto(state_dir: Path, consortium: Consortium, now: dt.datetime) -> None:
    """Generate every CA, node and admin identity the consortium needs, and the secret
    under which the departments key subjects (missing ones only)."""
    ensure_subject_secret(subject_secret_path(state_dir))
    orderer = org_crypto(state_dir, consortium, consortium.orderers.org)
    orderer.ensure_cas(now)
    for node in consortium.orderers.nodes:
        orderer.ensure_identity(
            orderer.node(node.name),
            f"{node.name}.{orderer.domain}",
            "orderer",
            now,
            hosts=(node.host, "localhost", f"{node.name}.{orderer.domain}"),
        )
    _ensure_admin(orderer, now)
    for dep in consortium.departments:
        crypto = org_crypto(state_dir, consortium, dep.name)
        crypto.ensure_cas(now)
        crypto.ensure_identity(
            crypto.node(dep.peer.name),
            f"{dep.peer.name}.{crypto.domain}",
            "peer",
            now,
            hosts=(dep.peer.host, "localhost", f"{dep.peer.name}.{crypto.domain}"),
        )
        crypto.ensure_identity(
            crypto.node("chaincode"),
            f"chaincode.{crypto.domain}",
            "client",
            now,
            hosts=(dep.chaincode_server.host, "localhost"),
        )
        _ensure_admin(crypto, now)


def _ensure_admin(crypto: OrgCrypto, now: dt.datetime) -> None:
    attrs = {"hf.EnrollmentID": ADMIN_USER, "hf.Type": "admin", "role": Role.ADMIN.value}
    crypto.ensure_identity(
        crypto.user(ADMIN_USER), f"{ADMIN_USER}@{crypto.domain}", "admin", now, attributes=attrs
    )


def ensure_gateway_tls(crypto: OrgCrypto, host: str, now: dt.datetime) -> IdentityFiles:
    """The department gateway's HTTPS certificate (from the org's TLS CA), issued once."""
    name = f"gateway.{crypto.domain}"
    return crypto.ensure_identity(
        crypto.node("gateway"), name, "client", now, hosts=(host, "localhost", name)
    )


# People's keys are sealed at rest (node.crypto.user_keys); the admin's stays readable by
# Fabric's peer CLI, and a device's key lives on its edge box, which guards it its own way.
SEALED_ROLES = frozenset({Role.OFFICER, Role.REVIEWER, Role.AUDITOR, Role.PARTNER})


@dataclass(frozen=True)
class SealOutcome:
    sealed: tuple[str, ...]
    already: tuple[str, ...]
    left: tuple[str, ...]


def seal_people(crypto: OrgCrypto, passphrase: bytes) -> SealOutcome:
    """Seal the private key of every person of the org under ``passphrase`` (idempotent).

    Raises:
        KeyLocked: a key is already sealed under another passphrase.
        UserKeyError: a key file is not a P-256 private key.
    """
    sealed: list[str] = []
    already: list[str] = []
    left: list[str] = []
    users = crypto.root / "users"
    for root in sorted(users.iterdir()) if users.is_dir() else []:
        files = IdentityFiles(root)
        if not files.cert.exists() or not files.key.exists():
            continue
        role = certificate_attributes(x509.load_pem_x509_certificate(files.cert.read_bytes())).get(
            "role"
        )
        if role not in {r.value for r in SEALED_ROLES}:
            left.append(root.name)
        elif seal_key_file(files.key, passphrase):
            sealed.append(root.name)
        else:
            already.append(root.name)
    return SealOutcome(tuple(sealed), tuple(already), tuple(left))
