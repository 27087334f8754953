"""Where each record lives in the world state, and typed reads and writes of it.

Keys are Fabric composite keys, one object type per concept. They are designed so that
concurrent work does not collide: a record that many transactions add to (a case's
evidence, the access trail) is a set of separate keys, one per entry, never a list inside
one value, so 200 registrations attached to one case write 200 different keys and only
read the case. Sequence numbers are used only where the writer already updates the
record that holds the counter (stage changes and transfers update the case).
"""

from __future__ import annotations

from typing import TypeVar

from pydantic import BaseModel

from chaincode.runtime import ContractError, Stub
from chaincode.runtime.keys import composite_key, split_composite_key
from schemas.canonical import canonical_json
from schemas.ledger import LedgerErrorCode

M = TypeVar("M", bound=BaseModel)

# Index entries point at a record by their key; Fabric treats an empty value as a delete,
# so they hold one marker byte.
INDEX_MARK = b"1"


def _seq(n: int) -> str:
    return f"{n:06d}"  # fixed width so entries sort by number


def org_key(org: str) -> str:
    return composite_key("org_key", [org])


def org_key_version(org: str, version: int) -> str:
    return composite_key("org_key_version", [org, _seq(version)])


def evidence(evidence_id: str) -> str:
    return composite_key("evidence", [evidence_id])


def owner_evidence(org: str, evidence_id: str) -> str:
    return composite_key("owner_evidence", [org, evidence_id])


def case(case_id: str) -> str:
    return composite_key("case", [case_id])


def case_evidence(case_id: str, evidence_id: str) -> str:
    return composite_key("case_evidence", [case_id, evidence_id])


def evidence_case(evidence_id: str, case_id: str) -> str:
    """An item's link to a case as chaincode versions before ``evidence_cases`` wrote it:
    read only for an item that has no ``evidence_cases`` key (contracts/evidence)."""
    return composite_key("evidence_case", [evidence_id, case_id])


def evidence_cases(evidence_id: str) -> str:
    """Which cases hold an item: one key per item holding their ids (canonical JSON list,
    sorted).

    Read by every access decision about the item, and for an export's items in one
    GET_STATE_MULTIPLE: a range query per item cost the export one peer round trip per item
    (docs/BENCHMARKS.md). Written at registration (``[]`` without a case) and by every
    link of the item to a case; an item joins its cases one at a time (a case is filed on
    it, or an officer attaches it), so the read-modify-write does not collide in practice,
    and a case's many items each write their own key."""
    return composite_key("evidence_cases", [evidence_id])


def stage_entry(case_id: str, seq: int) -> str:
    return composite_key("case_stage", [case_id, _seq(seq)])


def transfer(case_id: str, seq: int) -> str:
    return composite_key("case_transfer", [case_id, _seq(seq)])


def grant(target: str, target_id: str, grantee_org: str) -> str:
    return composite_key("grant", [target, target_id, grantee_org])


def access(tx_id: str) -> str:
    return composite_key("access", [tx_id])


def penalty_schedule() -> str:
    return composite_key("penalty_schedule", [])


def subject_violation(subject_key: str, at: str, tx_id: str) -> str:
    return composite_key("subject_violation", [subject_key, at, tx_id])


def set_aside(case_id: str, decision_tx: str) -> str:
    """A decision of the case set aside: one key per decision (its transaction)."""
    return composite_key("set_aside", [case_id, decision_tx])


def org_decision(org: str, at: str, tx_id: str) -> str:
    """A decision ``org`` took at ``at`` (its ChangeStage transaction): an index entry
    holding the case id, so that the decisions of a department's period are one range read
    of the ledger itself, not of anyone's copy."""
    return composite_key("org_decision", [org, at, tx_id])


def org_set_aside(org: str, at: str, tx_id: str) -> str:
    """A decision of ``org`` recorded as set aside at ``at``: an index entry holding the
    case id, as ``org_decision``."""
    return composite_key("org_set_aside", [org, at, tx_id])


def step_attribute(step_seq: int) -> str:
    """A step number as keys hold it: a partial key's attribute for the step's records."""
    return _seq(step_seq)


def service(case_id: str, step_seq: int, tx_id: str) -> str:
    """A step's document served on the party: one key per service recorded, in step order."""
    return composite_key("service", [case_id, _seq(step_seq), tx_id])


def bulletin(org: str, period: str, since: str, bulletin_hash: str) -> str:
    """A published bulletin's record: under its org and period, so that one range read
    lists what a department published for a period."""
    return composite_key("bulletin", [org, period, since, bulletin_hash])


# Access-trail indexes: (object type, leading attributes); every entry then ends with the
# access time and the transaction id, so each index can be read by time range.
def violation(flag_id: str) -> str:
    return composite_key("violation", [flag_id])


def violation_entry(flag_id: str, seq: int) -> str:
    return composite_key("violation_step", [flag_id, _seq(seq)])


def evidence_flags(evidence_id: str) -> str:
    """Which flags cite an item: one key per item holding their ids (canonical JSON list).

    Read on every link of an item to a case, so one key, not a range: a point read costs a
    fraction of a range query. Written by ``FlagViolation`` only, and an item's flags are
    raised one at a time (a device flags its own new item; rarely an officer again), so
    the read-modify-write does not collide in practice."""
    return composite_key("evidence_flags", [evidence_id])


def violation_queue(org: str, status: str, flag_id: str) -> str:
    """The queue index: one marker per flag under its org and current status."""
    return composite_key("violation_queue", [org, status, flag_id])


def trail_indexes(
    *, evidence_id: str | None, case_ids: list[str], org: str, accessor: str
) -> list[tuple[str, list[str]]]:
    entries: list[tuple[str, list[str]]] = [
        ("access_by_org", [org]),
        ("access_by_accessor", [org, accessor]),
        ("access_by_time", []),
    ]
    if evidence_id is not None:
        entries.append(("access_by_evidence", [evidence_id]))
    entries.extend(("access_by_case", [case_id]) for case_id in case_ids)
    return entries


def last_attribute(key: str) -> str:
    return split_composite_key(key)[1][-1]


async def load(stub: Stub, key: str, model: type[M]) -> M | None:
    raw = await stub.get_state(key)
    return None if raw is None else model.model_validate_json(raw)


async def save(stub: Stub, key: str, record: BaseModel) -> None:
    await stub.put_state(key, canonical_json(record.model_dump(mode="json")))


async def load_all(stub: Stub, object_type: str, attributes: list[str], model: type[M]) -> list[M]:
    """Every record under a partial key, in key order (unpaginated: for bounded sets)."""
    page = await stub.by_partial_key(object_type, attributes)
    return [model.model_validate_json(value) for _, value in page.items]


def check_bookmark(bookmark: str, start: str, end: str) -> None:
    """A client's bookmark must lie inside the query's range.

    Fabric restarts a paginated range at the bookmark key, so an unchecked bookmark would
    let a query wander into other records' keys.

    Raises:
        ContractError: VALIDATION_FAILED for a bookmark outside ``[start, end)``.
    """
    if bookmark and not start <= bookmark < end:
        raise ContractError(
            LedgerErrorCode.VALIDATION_FAILED, "bookmark does not belong to this query"
        )
