"""An in-process peer for contract tests (the harness is the seam, not a ledger)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from ledgerkit import NOW

from chaincode.contracts import default_contracts
from chaincode.runtime import Registry
from chaincode.runtime.harness import Harness


@pytest.fixture
async def ledger() -> AsyncIterator[Harness]:
    async with Harness(Registry(default_contracts()), start=NOW) as harness:
        yield harness
