"""A person's browser on the console (its own cookie jar), signed in with an API token, and
the filings the console tests start from (submissions: gatewaykit.submit)."""

from __future__ import annotations

import datetime as dt
import hashlib
import re

from disclosurekit import entry
from fastapi.testclient import TestClient
from gatewaykit import Kit
from ingestkit import NOW

from schemas.glossary import Stage

CSRF = re.compile(r'name="csrf" value="([0-9a-f]{64})"')


def browser(kit: Kit) -> TestClient:
    """A separate cookie jar, as a second person's browser."""
    return TestClient(kit.client.app, raise_server_exceptions=False)


def sign_in(kit: Kit, user: str) -> tuple[TestClient, str]:
    """A browser signed in as ``user`` and the CSRF token its pages carry."""
    client = browser(kit)
    token = kit.deps.tokens.issue_token(user, dt.timedelta(hours=1))
    resp = client.post("/console/login", data={"token": token}, follow_redirects=False)
    assert resp.status_code == 303, resp.text
    home = client.get("/console/cases")
    assert home.status_code == 200, home.text
    match = CSRF.search(home.text)
    assert match is not None
    return client, match.group(1)


def file_case(kit: Kit, case_id: str = "case-1") -> None:
    doc = {
        "case_id": case_id,
        "violation_type": "road_occupation",
        "subject_key": hashlib.sha256(b"subject").hexdigest(),
        "subject_kind": "person",
        "source": "camera",
    }
    resp = kit.client.post("/cases", json=doc, headers=kit.token("officer1"))
    assert resp.status_code == 201, resp.text


def decided_case(kit: Kit) -> Kit:
    """``kit`` with case-1 filed and decided by this department (its decision step binds a
    document), as a ledger would hold it after the decision."""
    file_case(kit)
    kit.chain.history["case-1"].append(entry("case-1", 1, Stage.DECISION, NOW))
    return kit
