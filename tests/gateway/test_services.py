"""POST/GET /cases/{id}/services (fake ledger at the seam): a step's document served on the
party (送达), for officers and reviewers of the holder; each refusal a problem, nothing kept."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from consolekit import file_case
from disclosurekit import DOCUMENT, entry, tx
from gatewaykit import Kit, build
from ingestkit import NOW

from schemas.glossary import Stage
from schemas.ledger import ledger_time

CASE = "/cases/case-1/services"
PROOF = "sha256:" + "5" * 64


@pytest.fixture
def kit(tmp_path: Path) -> Kit:
    kit = build(tmp_path, clock=lambda: NOW + dt.timedelta(days=1))
    file_case(kit)
    kit.chain.history["case-1"].append(entry("case-1", 1, Stage.DECISION, NOW))
    return kit


def _serve(kit: Kit, user: str = "officer1", **changes: Any) -> Any:
    body = {
        "step_tx": tx("case-1/1"),
        "method": "post",
        "served_at": (NOW + dt.timedelta(days=2)).isoformat(),
        "proof_hash": PROOF,
        **changes,
    }
    return kit.client.post(CASE, json=body, headers=kit.token(user))


@pytest.mark.parametrize("user", ["officer1", "reviewer1"])
def test_the_holder_records_a_decision_served_by_post(kit: Kit, user: str) -> None:
    resp = _serve(kit, user)
    assert resp.status_code == 201, resp.text
    served = resp.json()
    assert (served["stage"], served["method"], served["document_hash"]) == (
        "decision",
        "post",
        DOCUMENT,
    )
    assert served["served_at"] == ledger_time(NOW + dt.timedelta(days=2))
    listed = kit.client.get(CASE, headers=kit.token("auditor1"))
    assert listed.status_code == 200
    assert [s["recorded_tx"] for s in listed.json()] == [served["recorded_tx"]]


def test_electronic_service_needs_consent_and_a_proof_counts_once(kit: Kit) -> None:
    resp = _serve(kit, method="electronic")
    assert (resp.status_code, resp.json()["code"]) == (422, "VALIDATION_FAILED")
    consent = "sha256:" + "c" * 64
    assert _serve(kit, method="electronic", consent_hash=consent).status_code == 201
    again = _serve(kit, method="electronic", consent_hash=consent)
    assert (again.status_code, again.json()["code"]) == (409, "CASE_CONFLICT")
    assert len(kit.chain.services["case-1"]) == 1


@pytest.mark.parametrize("user", ["auditor1", "partner1", "edge-07"])
def test_only_officers_and_reviewers_record_service(kit: Kit, user: str) -> None:
    resp = _serve(kit, user)
    assert (resp.status_code, resp.json()["code"]) == (403, "ACCESS_DENIED")
    assert not kit.chain.services


@pytest.mark.parametrize("user", ["partner1", "edge-07"])
def test_partners_and_devices_do_not_read_the_services(kit: Kit, user: str) -> None:
    assert kit.client.get(CASE, headers=kit.token(user)).status_code == 403


@pytest.mark.parametrize(
    "changes",
    [
        {"method": "by_pigeon"},
        {"served_at": "2026-11-24T12:00:00"},  # no zone: whose noon?
        {"served_at": "yesterday"},
        {"proof_hash": "md5:00"},
        {"consent_hash": "not a hash"},
        {"step_tx": "not-a-tx"},
        {"note": "extra"},
    ],
)
def test_a_malformed_service_is_refused_and_nothing_recorded(
    kit: Kit, changes: dict[str, Any]
) -> None:
    resp = _serve(kit, **changes)
    assert resp.status_code == 422, resp.text
    assert resp.json()["code"] == "INVALID_REQUEST"
    assert resp.headers["content-type"] == "application/problem+json"
    assert not kit.chain.services


def test_a_step_not_on_the_case_is_not_found(kit: Kit) -> None:
    resp = _serve(kit, step_tx="f" * 64)
    assert (resp.status_code, resp.json()["code"]) == (404, "NOT_FOUND")
