"""An in-process peer for contract tests (the harness is the seam, not a ledger)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from ledgerkit import NOW, URBAN, bootstrap, creator, evidence, filing, ok, submit

from chaincode.contracts import default_contracts
from chaincode.runtime import Registry
from chaincode.runtime.harness import Harness


@pytest.fixture
async def ledger() -> AsyncIterator[Harness]:
    async with Harness(Registry(default_contracts()), start=NOW) as harness:
        yield harness


@pytest.fixture
async def filed(ledger: Harness) -> Harness:
    """Keys, a schedule, and UrbanManagement's case C-1 at its source stage on item E-1."""
    await bootstrap(ledger)
    ok(await submit(ledger, creator(URBAN, "device"), "RegisterEvidence", evidence()))
    ok(await submit(ledger, creator(URBAN, "officer"), "FileCase", filing(evidence_ids=["E-1"])))
    return ledger
