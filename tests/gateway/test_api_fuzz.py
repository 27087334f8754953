"""Property-based fuzzing of the gateway's HTTP API from its own OpenAPI schema
(schemathesis + Hypothesis): whatever a caller sends, as any role or with no token, no
route fails unexpectedly (500 INTERNAL). A deliberate 5xx is allowed: 501 for what this
gateway is not configured for (the kit builds no packages), 503 for an unreachable ledger.
The gateway runs over a real ingest service and a ledger fake at the seam
(tests/gateway/gatewaykit.py); the chaincode's own refusals are tested in tests/chaincode
and on the real network."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import schemathesis
from gatewaykit import Kit, build
from hypothesis import HealthCheck, given, settings

USERS = ("officer1", "reviewer1", "auditor1", "partner1", "edge-07", None)


@schemathesis.check
def no_unexpected_failure(ctx: Any, response: Any, case: Any) -> None:
    if response.status_code == 500:
        raise AssertionError(f"500 from {case.method} {case.formatted_path}: {response.text}")
    if response.status_code >= 500:
        assert response.json()["code"] in {"PACKAGES_NOT_CONFIGURED", "LEDGER_UNAVAILABLE"}


@pytest.fixture
def kit(tmp_path: Path) -> Kit:
    return build(tmp_path)


def test_no_request_makes_a_server_error(kit: Kit) -> None:
    schema = schemathesis.openapi.from_asgi("/openapi.json", kit.client.app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) > 20  # every route is in the schema, so every route is fuzzed
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
        def fuzz(case: Any) -> None:
            for user in USERS:  # every role, and no token at all
                headers = kit.token(user) if user else {}
                case.call_and_validate(headers=headers, checks=[no_unexpected_failure])

        fuzz()
