"""The typed ledger client's boundary: refusals by code, config files checked with clear errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from node.fabric import EndorseError, SubmitResult
from node.ledger import LedgerClient, LedgerRefused
from node.ledger.bootstrap import ScheduleFileError, load_schedule
from node.settings import PROJECT_ROOT
from schemas.ledger import LedgerErrorCode, TargetKind


class FakeContract:
    """Stands in for node.fabric.Contract at the seam: scripted results or errors."""

    def __init__(self, outcome: Any) -> None:
        self.outcome = outcome
        self.calls: list[tuple[str, tuple[Any, ...]]] = []

    async def submit(self, fn: str, *args: Any, **kw: Any) -> SubmitResult:
        self.calls.append((fn, args))
        if isinstance(self.outcome, Exception):
            raise self.outcome
        return SubmitResult(tx_id="tx-1", result=self.outcome, block_number=9)

    async def evaluate(self, fn: str, *args: Any) -> bytes:
        self.calls.append((fn, args))
        if isinstance(self.outcome, Exception):
            raise self.outcome
        assert isinstance(self.outcome, bytes)
        return self.outcome


def _client(outcome: Any) -> tuple[LedgerClient, FakeContract]:
    fake = FakeContract(outcome)
    return LedgerClient(fake), fake  # type: ignore[arg-type]


async def test_a_chaincode_refusal_becomes_ledger_refused_with_its_code() -> None:
    err = EndorseError(
        'endorse failed: chaincode response 500, {"code":"ACCESS_DENIED","message":"only X"}',
        tx_id="tx-9",
    )
    client, fake = _client(err)
    with pytest.raises(LedgerRefused) as info:
        await client.revoke_access(TargetKind.EVIDENCE, "E-1", "PublicSecurityMSP")
    assert info.value.code is LedgerErrorCode.ACCESS_DENIED
    assert (info.value.message, info.value.tx_id) == ("only X", "tx-9")
    assert fake.calls == [("RevokeAccess", ("evidence", "E-1", "PublicSecurityMSP"))]


async def test_transport_failures_stay_gateway_errors() -> None:
    client, _ = _client(EndorseError("endorse failed: connection refused"))
    with pytest.raises(EndorseError):
        await client.evidence("E-1")


async def test_case_evidence_follows_bookmarks() -> None:
    pages = iter(
        [
            b'{"evidence_ids":["E-1","E-2"],"bookmark":"b1"}',
            b'{"evidence_ids":["E-3"],"bookmark":""}',
        ]
    )
    client, fake = _client(b"")

    async def evaluate(fn: str, *args: Any) -> bytes:
        fake.calls.append((fn, args))
        return next(pages)

    fake.evaluate = evaluate  # type: ignore[method-assign]
    assert await client.case_evidence("C-1", page_size=2) == ["E-1", "E-2", "E-3"]
    assert [args for _, args in fake.calls] == [("C-1", "2", ""), ("C-1", "2", "b1")]


def test_the_shipped_penalty_schedule_is_valid() -> None:
    schedule = load_schedule(PROJECT_ROOT / "network-config" / "penalty-schedule.yaml")
    assert schedule.version == 1
    assert len(schedule.entries) == 8


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "version: 1\ngoverning_orgs: [A]\nentries: {road_occupation: {legal_basis: x, "
            "discretion_benchmark: y, first_violation_exempt: true, steps_cents: []}}",
            "entries.road_occupation.steps_cents",
        ),
        ("version: one\n", "version"),
        ("version: [1\n", "cannot read"),
    ],
)
def test_a_bad_schedule_file_names_the_problem(tmp_path: Path, text: str, expected: str) -> None:
    path = tmp_path / "schedule.yaml"
    path.write_text(text)
    with pytest.raises(ScheduleFileError) as info:
        load_schedule(path)
    assert str(path) in str(info.value)
    assert expected in str(info.value)


def test_a_missing_schedule_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ScheduleFileError, match="cannot read"):
        load_schedule(tmp_path / "absent.yaml")
