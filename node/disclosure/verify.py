"""Offline verification of a published bulletin: no network, no trust in the portal serving it.

A bulletin holds if its signer's certificate chains to a pinned root of the department it
names (trust anchors by MSP id, ``evnet trust-anchors``: a PEM bundle of roots cannot say
which root is whose), was valid when the bulletin was issued, carries a role that may publish
decisions (reviewer, as legal review, or admin), and its signature covers the bulletin's exact
canonical bytes. Each failure is named by a stable code.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Final

from cryptography import x509

from node.crypto.pki import certificate_role, issued_by
from node.crypto.signing import verify_signature
from node.disclosure.bulletin import BulletinMalformed, SignedBulletin
from node.package.anchors import TrustAnchors, TrustAnchorsMalformed, is_anchors
from node.package.certificates import load_cert
from schemas.glossary import Role
from schemas.ledger import parse_ledger_time

PUBLISHERS: Final = frozenset({Role.REVIEWER, Role.ADMIN})


@dataclass(frozen=True)
class Failure:
    code: str
    message: str

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


@dataclass
class BulletinReport:
    """What was checked and every failure; :attr:`ok` only if there is none."""

    source: str
    bulletin: SignedBulletin | None = None
    failures: list[Failure] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures

    @property
    def codes(self) -> set[str]:
        return {f.code for f in self.failures}

    def fail(self, code: str, message: str) -> None:
        self.failures.append(Failure(code, message))

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"bulletin": self.source, "ok": self.ok}
        if self.bulletin is not None:
            b = self.bulletin.bulletin
            out |= {
                "org": b.org,
                "period": b.period,
                "since": b.since,
                "until": b.until,
                "issued_at": b.issued_at,
                "decisions": len(b.decisions),
            }
        out["failures"] = [{"code": f.code, "message": f.message} for f in self.failures]
        return out

    def render(self) -> str:
        lines = [f"bulletin {self.source}: {'VERIFIED' if self.ok else 'FAILED'}"]
        if self.bulletin is not None:
            b = self.bulletin.bulletin
            lines.append(
                f"  {b.org}, {b.period} from {b.since} to {b.until} (UTC), issued {b.issued_at}:"
                f" {len(b.decisions)} decision(s)"
            )
        lines += [f"  FAIL {f}" for f in self.failures]
        return "\n".join(lines)


def verify_bulletin(raw: bytes, trust: bytes, source: str = "bulletin") -> BulletinReport:
    """Verify the signed bulletin ``raw`` against pinned trust anchors ``trust``.

    Failure codes: ``BULLETIN_MALFORMED``, ``TRUST_ANCHORS_MALFORMED`` (including a PEM bundle
    given instead of anchors), ``CHANNEL_MISMATCH``, ``SIGNER_UNTRUSTED``,
    ``CERTIFICATE_EXPIRED``, ``SIGNER_NOT_PUBLISHER``, ``SIGNATURE_INVALID``.
    """
    report = BulletinReport(source)
    anchors = _anchors(trust, report)
    try:
        signed = SignedBulletin.parse(raw)
    except BulletinMalformed as exc:
        report.fail("BULLETIN_MALFORMED", str(exc))
        return report
    report.bulletin = signed
    if anchors is None:
        return report
    bulletin = signed.bulletin
    if anchors.channel != bulletin.channel:
        report.fail(
            "CHANNEL_MISMATCH",
            f"the anchors pin channel {anchors.channel!r}, the bulletin names {bulletin.channel!r}",
        )
    cert = load_cert(signed.signer.encode())
    if cert is None:
        report.fail("BULLETIN_MALFORMED", "signer: not a PEM certificate")
        return report
    intermediates = [load_cert(p.encode()) for p in signed.intermediates]
    if any(i is None for i in intermediates):
        report.fail("BULLETIN_MALFORMED", "intermediates: not PEM certificates")
        return report
    issued = parse_ledger_time(bulletin.issued_at)
    cas = [i for i in intermediates if i is not None]
    if not _chains(cert, cas, anchors, bulletin.org, issued):
        report.fail(
            "SIGNER_UNTRUSTED",
            f"the signer's certificate does not chain to a pinned root of {bulletin.org}",
        )
    if not cert.not_valid_before_utc <= issued <= cert.not_valid_after_utc:
        report.fail(
            "CERTIFICATE_EXPIRED",
            f"the signer's certificate is valid {cert.not_valid_before_utc:%Y-%m-%d} to "
            f"{cert.not_valid_after_utc:%Y-%m-%d}; the bulletin was issued {issued:%Y-%m-%d}",
        )
    role = certificate_role(cert)
    if role not in PUBLISHERS:
        report.fail(
            "SIGNER_NOT_PUBLISHER",
            f"signed by a certificate of role {role.value if role else 'none'!r}; decisions "
            "are published by a reviewer or an admin",
        )
    if not verify_signature(
        cert.public_key(), bulletin.canonical_bytes(), signed.signature_bytes()
    ):
        report.fail("SIGNATURE_INVALID", "the signature does not cover this bulletin")
    return report


def _anchors(trust: bytes, report: BulletinReport) -> TrustAnchors | None:
    if not is_anchors(trust):
        report.fail(
            "TRUST_ANCHORS_MALFORMED",
            "pin trust anchors (evnet trust-anchors): a PEM bundle cannot say which root is "
            "which department's",
        )
        return None
    try:
        return TrustAnchors.parse(trust)
    except TrustAnchorsMalformed as exc:
        report.fail("TRUST_ANCHORS_MALFORMED", str(exc))
        return None


def _chains(
    cert: x509.Certificate,
    intermediates: list[x509.Certificate],
    anchors: TrustAnchors,
    org: str,
    at: dt.datetime,
) -> bool:
    """Through intermediate CAs each valid at ``at`` (the leaf's own period is reported
    apart, as CERTIFICATE_EXPIRED)."""
    roots = anchors.certificates(org)
    current = cert
    for _ in range(len(intermediates) + 1):
        if any(issued_by(current, root) for root in roots):
            return True
        parent = next((i for i in intermediates if issued_by(current, i)), None)
        if parent is None or not _valid_ca(parent, at):
            return False
        current = parent
    return False


def _valid_ca(cert: x509.Certificate, at: dt.datetime) -> bool:
    if not cert.not_valid_before_utc <= at <= cert.not_valid_after_utc:
        return False
    try:
        return bool(cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca)
    except x509.ExtensionNotFound:
        return False
