"""When the owner node releases an item: a pure function of the access record."""

from __future__ import annotations

import datetime as dt

from schemas.glossary import Outcome
from schemas.ledger import AccessRecord, TargetKind, parse_ledger_time

# A record authorises a release for a short time: long enough to fetch, too short to hoard.
DEFAULT_MAX_AGE = dt.timedelta(minutes=15)


class ReleaseRefused(Exception):
    """The owner will not release: ``code`` is stable, ``message`` is for people."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


def check_release(
    record: AccessRecord | None,
    *,
    access_tx: str,
    requester_org: str,
    evidence_id: str,
    now: dt.datetime,
    max_age: dt.timedelta = DEFAULT_MAX_AGE,
) -> None:
    """Raise :class:`ReleaseRefused` unless ``record`` (as the owner's peer has it, None if
    absent) authorises releasing ``evidence_id`` to ``requester_org`` now."""
    if record is None:
        # Not in the world state: never submitted, not yet committed, invalid, or forged.
        raise ReleaseRefused("RECORD_NOT_FOUND", f"no committed access record {access_tx[:16]}…")
    if record.accessor_org != requester_org:
        raise ReleaseRefused(
            "WRONG_ORG",
            f"the record names {record.accessor_org}, not the requester {requester_org}",
        )
    # Bytes go out against a record for the item itself: a case-level record is about the
    # case, and each item read must show in the item's own trail.
    if record.target is not TargetKind.EVIDENCE or record.target_id != evidence_id:
        raise ReleaseRefused("WRONG_ITEM", f"the record is for {record.target} {record.target_id}")
    if record.outcome is not Outcome.GRANTED:
        raise ReleaseRefused("RECORD_DENIED", f"the ledger denied this access ({record.reason})")
    age = now - parse_ledger_time(record.at)
    if age > max_age:
        raise ReleaseRefused("RECORD_EXPIRED", f"the record is {age} old; request access again")
    if age < -dt.timedelta(minutes=5):
        raise ReleaseRefused(
            "RECORD_FROM_FUTURE", "the record's time is ahead of this node's clock"
        )
