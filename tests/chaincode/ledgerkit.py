"""Builders for contract tests: identities with roles, and valid requests to vary."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
from functools import cache
from typing import Any

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from chaincode.runtime.harness import Harness, TxResult
from node.crypto.pki import KeyPair, create_ca, issue
from node.fabric import Identity

NOW = dt.datetime(2026, 1, 5, 9, 0, tzinfo=dt.UTC)
URBAN, POLICE, MARKET = "UrbanManagementMSP", "PublicSecurityMSP", "MarketSupervisionMSP"
SUBJECT = hashlib.sha256(b"merchant-91330100MA27XXXXXX").hexdigest()


@cache
def _ca(domain: str) -> KeyPair:
    return create_ca(f"ca.{domain}", domain, NOW)


@cache
def creator(msp: str, role: str, name: str = "") -> bytes:
    """A serialized identity of ``msp`` whose certificate carries ``role``."""
    domain = msp.removesuffix("MSP").lower() + ".evnet"
    user = issue(
        _ca(domain),
        name or f"{role}-1",
        domain,
        NOW,
        organizational_unit="client",
        attributes={"role": role},
    )
    return Identity(msp, user.cert_pem).serialize()


def subject_of(msp: str, role: str, name: str = "") -> str:
    domain = msp.removesuffix("MSP").lower() + ".evnet"
    return f"CN={name or role + '-1'},OU=client,O={domain}"


def digest(text: str) -> str:
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def org_public_key() -> str:
    raw = X25519PrivateKey.generate().public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    return base64.b64encode(raw).decode()


def evidence(evidence_id: str = "E-1", **changes: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "evidence_id": evidence_id,
        "plaintext_hash": digest(f"plain {evidence_id}"),
        "ciphertext_hash": digest(f"cipher {evidence_id}"),
        "size": 48213,
        "media_type": "image/jpeg",
        "captured_at": "2026-01-05T08:30:00+08:00",
        "device_id": "edge-07",
        "camera_id": "cam-jiangbei-12",
        "violation_type": "road_occupation",
        "owner_org": URBAN,
        "locator": f"blob:{digest('cipher ' + evidence_id)}",
        "claims_hash": digest(f"claims {evidence_id}"),
    }
    doc.update(changes)
    return doc


def schedule(version: int = 1, governing: list[str] | None = None, **entry: Any) -> dict[str, Any]:
    base = {
        "legal_basis": "城市市容和环境卫生管理条例 第三十六条",
        "discretion_benchmark": "CG-2026-07",
        "first_violation_exempt": True,
        "steps_cents": [20000, 50000, 100000],
        "lookback_days": 365,
    }
    base.update(entry)
    return {
        "version": version,
        "governing_orgs": governing or [URBAN, MARKET],
        "entries": {"road_occupation": base, "shopfront_operation": base},
    }


def filing(case_id: str = "C-1", **changes: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "case_id": case_id,
        "violation_type": "road_occupation",
        "subject_key": SUBJECT,
        "subject_kind": "person",
        "source": "camera",
        "evidence_ids": [],
    }
    doc.update(changes)
    return doc


def ok(result: TxResult) -> Any:
    assert result.ok, f"{result.status}: {result.message}"
    return result.json()


def refused(result: TxResult, code: str) -> str:
    """The refusal's message, after checking nothing was committed and the code is right."""
    assert result.status == "ENDORSEMENT_FAILED", result.status
    assert result.code == code, result.error
    return result.error["message"]


async def submit(ledger: Harness, who: bytes, fn: str, *args: Any, **kw: Any) -> TxResult:
    """Submit with dict arguments sent as JSON."""
    encoded = [json.dumps(a) if isinstance(a, dict | list) else a for a in args]
    return await ledger.submit(who, fn, *encoded, **kw)


async def query(ledger: Harness, who: bytes, fn: str, *args: Any) -> Any:
    encoded = [json.dumps(a) if isinstance(a, dict | list) else a for a in args]
    return ok(await ledger.evaluate(who, fn, *encoded))


async def bootstrap(ledger: Harness) -> None:
    """Org keys for the three departments and a penalty schedule, as a network starts."""
    for msp in (URBAN, POLICE, MARKET):
        ok(
            await submit(
                ledger, creator(msp, "admin"), "PublishOrgKey", {"public_key": org_public_key()}
            )
        )
    ok(await submit(ledger, creator(URBAN, "admin"), "SetPenaltySchedule", schedule()))


def change(to: str, case_id: str = "C-1", **details: Any) -> dict[str, Any]:
    return {"case_id": case_id, "to_stage": to, "details": details}


async def walk_to(ledger: Harness, stage: str, case_id: str = "C-1", **decision: Any) -> Any:
    """Move a general-procedure case of UrbanManagement from source to ``stage`` with valid
    steps, as its officer and reviewer."""
    OFFICER, REVIEWER = creator(URBAN, "officer"), creator(URBAN, "reviewer")
    deadline = (ledger.clock + dt.timedelta(days=3)).isoformat()
    steps = [
        (OFFICER, change("preliminary_check", case_id)),
        (OFFICER, change("filing_approval", case_id, document_hash=digest("filing form"))),
        (REVIEWER, change("investigation", case_id, document_hash=digest("approval"))),
        (
            OFFICER,
            change(
                "advance_notice",
                case_id,
                document_hash=digest("notice"),
                statement_right="statement_and_hearing",
                statement_deadline=deadline,
            ),
        ),
        (
            REVIEWER,
            change(
                "decision", case_id, document_hash=digest("decision"), party_waived=True, **decision
            ),
        ),
        (OFFICER, change("execution", case_id, document_hash=digest("receipt"))),
        (
            OFFICER,
            change(
                "closure", case_id, document_hash=digest("closure report"), execution_result="paid"
            ),
        ),
    ]
    record = None
    for who, step in steps:
        record = ok(await submit(ledger, who, "ChangeStage", step))
        if record["stage"] == stage:
            return record
    raise AssertionError(f"no step reaches {stage}")
