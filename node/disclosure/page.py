"""The bulletin as a static page (Chinese, with English beneath) for the department's portal:
no script, no outside resource, every value escaped. The signed ``bulletin.json`` is published
beside it; the page is for reading, the file for checking."""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable
from pathlib import Path

import jinja2

from node.crypto.pki import certificate_role
from node.disclosure.bulletin import DecisionNotice, Outcome, SignedBulletin, Withdrawal
from node.package.certificates import load_cert
from schemas.glossary import (
    DEPARTMENT_ZH,
    ROLE_ZH,
    SET_ASIDE_AUTHORITY_ZH,
    SET_ASIDE_GROUND_ZH,
    SET_ASIDE_REASON_ZH,
    VIOLATION_ZH,
    Department,
    Procedure,
    SetAsideReason,
)
from schemas.ledger import SubjectKind, parse_ledger_time

PROCEDURE_ZH = {Procedure.GENERAL: "一般程序", Procedure.SIMPLE: "简易程序"}
PARTY_ZH = {SubjectKind.PERSON: "个人(信息已隐去)", SubjectKind.ORGANIZATION: "单位(信息已隐去)"}


@functools.cache
def _template() -> jinja2.Template:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    return env.get_template("bulletin.html")


def render_page(signed: SignedBulletin) -> str:
    """The page of a signed bulletin (already parsed: its values are well-formed)."""
    b = signed.bulletin
    first_day, last_day = b.days()
    zone = b.zone  # parsed once, not once a row

    def local(text: str) -> dt.datetime:
        return parse_ledger_time(text).astimezone(zone)

    cert = load_cert(signed.signer.encode())
    role = certificate_role(cert) if cert is not None else None
    department = next((d for d in Department if d.msp_id == b.org), None)
    return _template().render(
        org=b.org,
        department_zh=DEPARTMENT_ZH[department] if department is not None else b.org,
        first_day=first_day.isoformat(),
        last_day=last_day.isoformat(),
        utc_offset=b.utc_offset,
        issued=local(b.issued_at).strftime("%Y-%m-%d %H:%M"),
        role=role.value if role is not None else "signer",
        role_zh=ROLE_ZH[role] if role is not None else "签名人",
        rows=[_row(n, local) for n in b.decisions],
        withdrawals=[_withdrawal(w, local) for w in b.withdrawals],
    )


def _row(n: DecisionNotice, local: Callable[[str], dt.datetime]) -> dict[str, str]:
    if n.outcome is Outcome.PENALTY:
        amount = f"{n.amount_cents // 100}.{n.amount_cents % 100:02d}"
        outcome_zh, outcome = f"罚款 ¥{amount}", f"fine CNY {amount}"
    else:
        outcome_zh, outcome = "不予处罚(首违免罚)", "no penalty (first violation)"
    return {
        "decided": local(n.decided_at).strftime("%Y-%m-%d"),
        "case_id": n.case_id,
        "violation_zh": VIOLATION_ZH[n.violation_type],
        "violation": n.violation_type.value,
        "procedure_zh": PROCEDURE_ZH[n.procedure],
        "procedure": n.procedure.value,
        "outcome_zh": outcome_zh,
        "outcome": outcome,
        "legal_basis": n.legal_basis,
        "discretion_benchmark": n.discretion_benchmark,
        "party_zh": PARTY_ZH[n.subject_kind],
        "party": "a person" if n.subject_kind is SubjectKind.PERSON else "an organisation",
        "document": n.document_hash.hex if n.document_hash is not None else "—",
        "tx": n.decision_tx,
    }


def _withdrawal(w: Withdrawal, local: Callable[[str], dt.datetime]) -> dict[str, str]:
    return {
        "withdrawn": local(w.set_aside_at).strftime("%Y-%m-%d"),
        "case_id": w.case_id,
        "decided": local(w.decided_at).strftime("%Y-%m-%d"),
        "ground_zh": SET_ASIDE_GROUND_ZH[w.ground],
        "ground": w.ground.value.replace("_", " "),
        "authority_zh": SET_ASIDE_AUTHORITY_ZH[w.authority],
        "authority": w.authority.value.replace("_", " "),
        "reason_zh": _reason_zh(w.reason),
        "reason": w.reason.replace("_", " "),
        "document": w.document_hash.hex,
        "dated": w.set_aside_on.isoformat() if w.set_aside_on is not None else "—",
        "decision_tx": w.decision_tx,
        "tx": w.set_aside_tx,
    }


def _reason_zh(code: str) -> str:
    """The reason in words; a code from a newer list than this page knows, as it is."""
    try:
        return SET_ASIDE_REASON_ZH[SetAsideReason(code)]
    except ValueError:
        return code
