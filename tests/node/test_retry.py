"""submit_with_retry retries only failures that certainly did not take effect."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import grpc
import pytest

from node.fabric import (
    CommitError,
    CommitStatusError,
    EndorseError,
    GatewayError,
    PeerDetail,
    SubmitError,
    SubmitResult,
    submit_with_retry,
)

OK = SubmitResult(tx_id="t-ok", result=b"done", block_number=9)


class ScriptedContract:
    """A contract at the submit seam: each call takes the next scripted outcome."""

    def __init__(self, *outcomes: GatewayError | SubmitResult) -> None:
        self._outcomes = list(outcomes)
        self.calls: list[tuple[str, tuple[str | bytes, ...], object, tuple[str, ...]]] = []

    async def submit(
        self,
        function: str,
        *args: str | bytes,
        transient: Mapping[str, bytes] | None = None,
        endorsing_orgs: Sequence[str] = (),
    ) -> SubmitResult:
        self.calls.append((function, args, transient, tuple(endorsing_orgs)))
        outcome = self._outcomes.pop(0)
        if isinstance(outcome, GatewayError):
            raise outcome
        return outcome


class RecordingSleep:
    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)


def _mvcc(n: int = 1) -> CommitError:
    return CommitError(f"tx{n}", "MVCC_READ_CONFLICT", 7)


def _unavailable() -> EndorseError:
    return EndorseError("endorse failed", tx_id="t", grpc_code=grpc.StatusCode.UNAVAILABLE)


async def test_success_first_time_submits_once_and_never_sleeps() -> None:
    contract, sleep = ScriptedContract(OK), RecordingSleep()
    assert await submit_with_retry(contract, "Put", "k", "v", sleep=sleep) is OK
    assert len(contract.calls) == 1
    assert sleep.delays == []


async def test_mvcc_conflict_is_retried_with_the_same_arguments() -> None:
    contract, sleep = ScriptedContract(_mvcc(), OK), RecordingSleep()
    result = await submit_with_retry(
        contract,
        "Put",
        "k",
        b"v",
        transient={"secret": b"s"},
        endorsing_orgs=["AMSP", "BMSP"],
        sleep=sleep,
    )
    assert result is OK
    expected = ("Put", ("k", b"v"), {"secret": b"s"}, ("AMSP", "BMSP"))
    assert contract.calls == [expected, expected]
    assert sleep.delays == [0.2]


@pytest.mark.parametrize(
    "error",
    [
        CommitError("tx1", "MVCC_READ_CONFLICT", 7),
        CommitError("tx1", "PHANTOM_READ_CONFLICT", 7),
        EndorseError("endorse failed", tx_id="t", grpc_code=grpc.StatusCode.UNAVAILABLE),
        # One endorser had not committed the latest block yet: its result differed.
        EndorseError(
            "endorse failed",
            tx_id="t",
            grpc_code=grpc.StatusCode.ABORTED,
            details=(PeerDetail("peer0:7051", "BMSP", "ProposalResponsePayloads do not match"),),
        ),
    ],
    ids=["mvcc", "phantom", "endorse-unavailable", "endorsers-disagree"],
)
async def test_safe_failures_are_retried_until_success(error: GatewayError) -> None:
    contract, sleep = ScriptedContract(error, error, OK), RecordingSleep()
    assert await submit_with_retry(contract, "Put", "k", "v", sleep=sleep) is OK
    assert len(contract.calls) == 3
    assert sleep.delays == [0.2, 0.4]


async def test_backoff_doubles_from_the_given_base() -> None:
    contract, sleep = ScriptedContract(*(_mvcc(i) for i in range(4)), OK), RecordingSleep()
    result = await submit_with_retry(
        contract, "Put", "k", "v", attempts=5, backoff=0.5, sleep=sleep
    )
    assert result is OK
    assert len(contract.calls) == 5
    assert sleep.delays == [0.5, 1.0, 2.0, 4.0]


async def test_exhausted_attempts_raise_the_last_error_unchanged() -> None:
    errors = [_mvcc(1), _mvcc(2), _mvcc(3)]
    contract, sleep = ScriptedContract(*errors, OK), RecordingSleep()
    with pytest.raises(CommitError) as info:
        await submit_with_retry(contract, "Put", "k", "v", sleep=sleep)
    assert info.value is errors[2]
    assert len(contract.calls) == 3
    assert sleep.delays == [0.2, 0.4]


async def test_a_single_attempt_never_retries() -> None:
    error = _mvcc()
    contract, sleep = ScriptedContract(error, OK), RecordingSleep()
    with pytest.raises(CommitError) as info:
        await submit_with_retry(contract, "Put", "k", "v", attempts=1, sleep=sleep)
    assert info.value is error
    assert len(contract.calls) == 1
    assert sleep.delays == []


async def test_zero_attempts_is_refused() -> None:
    contract = ScriptedContract(OK)
    with pytest.raises(ValueError, match="attempts"):
        await submit_with_retry(contract, "Put", "k", "v", attempts=0, sleep=RecordingSleep())
    assert contract.calls == []


@pytest.mark.parametrize(
    "error",
    [
        # The transaction may already be with the orderer: a resubmission could apply twice.
        SubmitError("submit failed", tx_id="t", grpc_code=grpc.StatusCode.UNAVAILABLE),
        # The transaction may still commit.
        CommitStatusError("status failed", tx_id="t", grpc_code=grpc.StatusCode.UNAVAILABLE),
        CommitStatusError("status failed", tx_id="t", grpc_code=grpc.StatusCode.DEADLINE_EXCEEDED),
        # Validation failures that a fresh proposal would repeat.
        CommitError("tx1", "ENDORSEMENT_POLICY_FAILURE", 7),
        CommitError("tx1", "DUPLICATE_TXID", 7),
        CommitError("tx1", "BAD_PROPOSAL_TXID", 7),
        # Endorsement failures other than "no peer reachable".
        EndorseError("endorse failed", tx_id="t", grpc_code=grpc.StatusCode.ABORTED),
        EndorseError("endorse failed", tx_id="t", grpc_code=grpc.StatusCode.DEADLINE_EXCEEDED),
        EndorseError("endorse failed", tx_id="t", grpc_code=None),
        # A chaincode refusal, even if it arrives with UNAVAILABLE.
        EndorseError(
            "endorse failed",
            tx_id="t",
            grpc_code=grpc.StatusCode.UNAVAILABLE,
            details=(
                PeerDetail(
                    "peer0:7051",
                    "AMSP",
                    'chaincode response 500, {"code":"ACCESS_DENIED","message":"no"}',
                ),
            ),
        ),
    ],
    ids=[
        "submit",
        "commit-status-unavailable",
        "commit-status-deadline",
        "policy-failure",
        "duplicate-txid",
        "bad-txid",
        "endorse-aborted",
        "endorse-deadline",
        "endorse-no-code",
        "chaincode-refusal",
    ],
)
async def test_unsafe_failures_are_raised_on_the_first_attempt(error: GatewayError) -> None:
    contract, sleep = ScriptedContract(error, OK), RecordingSleep()
    with pytest.raises(GatewayError) as info:
        await submit_with_retry(contract, "Put", "k", "v", sleep=sleep)
    assert info.value is error
    assert len(contract.calls) == 1
    assert sleep.delays == []


async def test_unsafe_failure_after_a_retry_stops_retrying() -> None:
    fatal = SubmitError("submit failed", tx_id="t2")
    contract, sleep = ScriptedContract(_mvcc(), fatal, OK), RecordingSleep()
    with pytest.raises(SubmitError) as info:
        await submit_with_retry(contract, "Put", "k", "v", sleep=sleep)
    assert info.value is fatal
    assert len(contract.calls) == 2
    assert sleep.delays == [0.2]


async def test_non_gateway_errors_propagate_without_retry() -> None:
    class Boom(RuntimeError):
        pass

    class Exploding(ScriptedContract):
        async def submit(
            self,
            function: str,
            *args: str | bytes,
            transient: Mapping[str, bytes] | None = None,
            endorsing_orgs: Sequence[str] = (),
        ) -> SubmitResult:
            self.calls.append((function, args, transient, tuple(endorsing_orgs)))
            raise Boom

    contract, sleep = Exploding(), RecordingSleep()
    with pytest.raises(Boom):
        await submit_with_retry(contract, "Put", "k", sleep=sleep)
    assert len(contract.calls) == 1
    assert sleep.delays == []


async def test_on_endorsed_reaches_every_attempt_and_only_when_given() -> None:
    class Endorsing(ScriptedContract):
        """Calls ``on_endorsed`` as Contract.submit does: endorsed, then the outcome."""

        passed: list[bool]

        async def submit(  # type: ignore[override]
            self, function: str, *args: str | bytes, **kw: Any
        ) -> SubmitResult:
            self.passed.append("on_endorsed" in kw)
            if "on_endorsed" in kw:
                kw["on_endorsed"]()
            return await super().submit(function, *args)

    retried = Endorsing(_mvcc(), OK)
    retried.passed = []
    endorsed: list[str] = []
    hook = lambda: endorsed.append("e")  # noqa: E731
    await submit_with_retry(retried, "Put", "k", on_endorsed=hook, sleep=RecordingSleep())
    assert endorsed == ["e", "e"]  # the retried transaction is endorsed again
    plain = Endorsing(OK)
    plain.passed = []
    await submit_with_retry(plain, "Put", "k", sleep=RecordingSleep())
    assert plain.passed == [False]  # contracts without the hook are called as before
