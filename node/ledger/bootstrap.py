"""What a new consortium publishes before its first case: each department's encryption
key and the first penalty schedule (from network-config/penalty-schedule.yaml)."""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from pathlib import Path

import yaml
from pydantic import ValidationError

from node.consortium.clients import department_contract
from node.consortium.launch import Layout
from node.ledger.client import LedgerClient, LedgerRefused
from schemas.ledger import LedgerErrorCode, PenaltySchedule


class ScheduleFileError(Exception):
    """The penalty schedule file is missing or does not describe a valid schedule."""


def load_schedule(path: Path) -> PenaltySchedule:
    """Read and validate a penalty schedule file.

    Raises:
        ScheduleFileError: naming the file and the first problems found.
    """
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ScheduleFileError(f"{path}: cannot read the penalty schedule: {exc}") from exc
    try:
        # Through JSON so the strict request model sees what the chaincode will see.
        return PenaltySchedule.model_validate_json(json.dumps(doc))
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()[:5]
        )
        raise ScheduleFileError(f"{path}: invalid penalty schedule: {problems}") from None


async def bootstrap(
    layout: Layout, org_keys: Mapping[str, bytes], schedule: PenaltySchedule
) -> None:
    """Publish each department's X25519 public key (raw 32 bytes, by department name) and,
    if none is in force yet, the schedule; both as the departments' admins. Idempotent."""
    deps = layout.consortium.departments
    for dep in deps:
        client = LedgerClient(department_contract(layout, dep))
        await client.publish_org_key(base64.b64encode(org_keys[dep.name]).decode())
    first = LedgerClient(department_contract(layout, deps[0]))
    try:
        await first.penalty_schedule()
    except LedgerRefused as exc:
        if exc.code is not LedgerErrorCode.NOT_FOUND:
            raise
        await first.set_penalty_schedule(schedule)
