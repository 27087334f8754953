"""The bulletin: a department's administrative decisions of one period, as the public sees
them (行政执法公示: 行政处罚决定公开), signed by the person who published it.

What it says of each decision is what the ledger recorded when the decision was taken: the
case, the violation type, the procedure, the outcome (a fine and its amount, or no penalty:
首违免罚), the legal basis and discretion benchmark the schedule gave, when, and the
transaction and document hash that bind it. It never names the party: only whether it is a
person or an organisation. Names live off the ledger, in the decision document; the document's
hash lets a party holding it check that the published decision is theirs.

Format 2 adds the period's withdrawals (撤回, 行政处罚法 第四十八条): each decision of the
department that was set aside in the period (varied, revoked, confirmed illegal or invalid),
with who set it aside, the reason code and the document's hash. A decision set aside before
a bulletin is issued is not listed among its decisions. Format 1 bulletins, which have no
withdrawals, still read and verify.

The signed form is canonical JSON (RFC 8785)::

    {"bulletin": {...}, "signature": "<base64 DER ECDSA over the bulletin's canonical bytes>",
     "signer": "<PEM>", "intermediates": []}
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
from enum import StrEnum
from typing import Annotated, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from node.index.reports import parse_utc_offset
from schemas.canonical import CanonicalJSONError, canonical_json, parse_json
from schemas.glossary import Period, Procedure, SetAsideAuthority, SetAsideGround, ViolationType
from schemas.hashes import Digest
from schemas.ledger import (
    MAX_BULLETIN_DECISIONS,
    BulletinRecording,
    Citation,
    Code,
    Ident,
    LedgerTime,
    MspId,
    SubjectKind,
    check_period_span,
    parse_ledger_time,
)

# /2 added withdrawals; /3 gives each withdrawal the date of the document that set the
# decision aside (the day its three working days count from).
FORMAT: Final = "evidencenet-bulletin/3"
FORMAT_V1: Final = "evidencenet-bulletin/1"
FORMAT_V2: Final = "evidencenet-bulletin/2"
FORMATS: Final = (FORMAT_V1, FORMAT_V2, FORMAT)
MAX_DECISIONS: Final = MAX_BULLETIN_DECISIONS
MAX_BYTES: Final = 32 << 20
TxId = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
Pem = Annotated[str, Field(min_length=1, max_length=16_384)]
Offset = Annotated[str, Field(pattern=r"^[+-]\d\d:\d\d$")]


class BulletinMalformed(ValueError):
    """The bytes are not a signed bulletin of this format (what is wrong is the message)."""


class Outcome(StrEnum):
    PENALTY = "penalty"  # 行政处罚决定: a fine (amount_cents)
    NO_PENALTY = "no_penalty"  # 不予行政处罚决定: the first-violation exemption (首违免罚)


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DecisionNotice(_Model):
    """One decision as published: nothing about the party but its kind."""

    case_id: Ident
    violation_type: ViolationType
    procedure: Procedure
    outcome: Outcome
    amount_cents: Annotated[int, Field(ge=0)]
    legal_basis: Citation
    discretion_benchmark: Citation
    schedule_version: Annotated[int, Field(ge=1)]
    subject_kind: SubjectKind
    decided_at: LedgerTime
    decision_tx: TxId
    # The decision document (行政处罚决定书); none for a no-penalty closing that filed none.
    document_hash: Digest | None = None

    @model_validator(mode="after")
    def _amount(self) -> DecisionNotice:
        if self.outcome is Outcome.NO_PENALTY and self.amount_cents:
            raise ValueError(f"{self.case_id}: a no-penalty decision has no amount")
        return self


class Withdrawal(_Model):
    """A published decision withdrawn because it was set aside, with the reason public."""

    case_id: Ident
    decision_tx: TxId
    decided_at: LedgerTime
    ground: SetAsideGround
    authority: SetAsideAuthority
    reason: Code
    # The reconsideration decision, judgment or correction decision that set it aside.
    document_hash: Digest
    set_aside_at: LedgerTime
    set_aside_tx: TxId
    # That document's date, as the ledger keeps it (format 3; absent before).
    set_aside_on: dt.date | None = None


class Bulletin(_Model):
    """A department's decisions taken from ``since`` (inclusive) to ``until`` (exclusive),
    oldest first, as issued at ``issued_at`` (a period not over yet lists what came so far)."""

    format: Literal["evidencenet-bulletin/1", "evidencenet-bulletin/2", "evidencenet-bulletin/3"]
    channel: Annotated[str, Field(pattern=r"^[a-z][a-z0-9.\-]{0,48}$")]
    org: MspId
    period: Literal["day", "week", "month"]
    since: LedgerTime
    until: LedgerTime
    utc_offset: Offset  # the department's zone: the period's days are its days
    issued_at: LedgerTime
    decisions: Annotated[list[DecisionNotice], Field(max_length=MAX_DECISIONS)]
    # Set aside in the period (format 2).
    withdrawals: Annotated[list[Withdrawal], Field(max_length=MAX_DECISIONS)] = []

    @model_validator(mode="after")
    def _consistent(self) -> Bulletin:
        check_period_span(Period(self.period), self.since, self.until)
        # Ledger times are fixed-width UTC text: they compare as they sort.
        if self.issued_at < self.since:
            raise ValueError("issued before its period began")
        seen: set[str] = set()
        for notice in self.decisions:
            if not self.since <= notice.decided_at < self.until:
                raise ValueError(f"{notice.case_id}: decided outside the period")
            if notice.decided_at > self.issued_at:
                raise ValueError(f"{notice.case_id}: decided after the bulletin was issued")
            if notice.decision_tx in seen:
                raise ValueError(f"{notice.case_id}: its decision is listed twice")
            seen.add(notice.decision_tx)
        order = [(n.decided_at, n.case_id) for n in self.decisions]
        if order != sorted(order):
            raise ValueError("decisions are not in the order they were taken")
        self._check_withdrawals(seen)
        return self

    def _check_withdrawals(self, listed: set[str]) -> None:
        if self.format == FORMAT_V1 and self.withdrawals:
            raise ValueError(f"a {FORMAT_V1} bulletin has no withdrawals")
        if len(self.decisions) + len(self.withdrawals) > MAX_DECISIONS:
            raise ValueError(f"more than {MAX_DECISIONS} decisions and withdrawals")
        withdrawn: set[str] = set()
        for w in self.withdrawals:
            if (w.set_aside_on is None) == (self.format == FORMAT):
                raise ValueError(
                    f"{w.case_id}: a withdrawal of format {FORMAT} states its document's "
                    "date (set_aside_on), and only of that format"
                )
            if not self.since <= w.set_aside_at < self.until:
                raise ValueError(f"{w.case_id}: withdrawn outside the period")
            if w.set_aside_at > self.issued_at:
                raise ValueError(f"{w.case_id}: withdrawn after the bulletin was issued")
            if w.decided_at > w.set_aside_at:
                raise ValueError(f"{w.case_id}: set aside before it was decided")
            if w.decision_tx in withdrawn:
                raise ValueError(f"{w.case_id}: its withdrawal is listed twice")
            if w.decision_tx in listed:
                raise ValueError(f"{w.case_id}: listed both as a decision and as withdrawn")
            withdrawn.add(w.decision_tx)
        order = [(w.set_aside_at, w.case_id) for w in self.withdrawals]
        if order != sorted(order):
            raise ValueError("withdrawals are not in the order they were recorded")

    def document(self) -> dict[str, object]:
        """The bulletin as JSON values, as its format signed it: without the withdrawals
        field a format 1 bulletin did not have, without the document's date a format 2
        withdrawal did not have."""
        doc: dict[str, object] = self.model_dump(mode="json")
        if self.format == FORMAT_V1:
            del doc["withdrawals"]
        elif self.format == FORMAT_V2:
            doc["withdrawals"] = [
                w.model_dump(mode="json", exclude={"set_aside_on"}) for w in self.withdrawals
            ]
        return doc

    def canonical_bytes(self) -> bytes:
        """What the signature covers."""
        return canonical_json(self.document())

    def digest(self) -> Digest:
        """The SHA-256 of :meth:`canonical_bytes`: how the ledger names this bulletin."""
        return Digest.of(self.canonical_bytes())

    def recording(self) -> BulletinRecording:
        """What the ledger records when this bulletin is published (RecordBulletin)."""
        return BulletinRecording(
            bulletin_hash=self.digest(),
            period=Period(self.period),
            since=self.since,
            until=self.until,
            decisions=len(self.decisions),
        )

    @property
    def zone(self) -> dt.timezone:
        return parse_utc_offset(self.utc_offset)

    def days(self) -> tuple[dt.date, dt.date]:
        """The period's first and last day, in the department's zone."""
        last = parse_ledger_time(self.until).astimezone(self.zone) - dt.timedelta(microseconds=1)
        return parse_ledger_time(self.since).astimezone(self.zone).date(), last.date()


class SignedBulletin(_Model):
    """A bulletin, its signer's certificate (and any intermediate CA certificates between it
    and its department's root), and the signature over the bulletin's canonical bytes."""

    bulletin: Bulletin
    signature: Annotated[str, Field(min_length=1, max_length=256)]
    signer: Pem
    intermediates: Annotated[list[Pem], Field(max_length=4)] = []

    @classmethod
    def parse(cls, raw: bytes) -> SignedBulletin:
        """Read a signed bulletin.

        Raises:
            BulletinMalformed: too large, not JSON, or not of this format.
        """
        try:
            doc = parse_json(raw, max_bytes=MAX_BYTES)
        except CanonicalJSONError as exc:
            raise BulletinMalformed(str(exc)) from None
        if isinstance(doc, dict) and isinstance(doc.get("bulletin"), dict):
            found = doc["bulletin"].get("format")
            if found not in FORMATS:  # said plainly: a newer bulletin needs a newer verifier
                raise BulletinMalformed(
                    f"format {str(found)[:48]!r}, this verifier reads {' and '.join(FORMATS)}"
                )
        try:
            signed = cls.model_validate(doc)
        except ValidationError as exc:
            raise BulletinMalformed(_first_error(exc)) from None
        signed.signature_bytes()  # base64, or BulletinMalformed
        return signed

    def signature_bytes(self) -> bytes:
        """Raises: BulletinMalformed: the signature is not base64."""
        try:
            return base64.b64decode(self.signature, validate=True)
        except (binascii.Error, ValueError):
            raise BulletinMalformed("signature: not base64") from None

    def canonical_bytes(self) -> bytes:
        doc = self.model_dump(mode="json")
        doc["bulletin"] = self.bulletin.document()
        return canonical_json(doc)


def _first_error(exc: ValidationError) -> str:
    err = exc.errors()[0]
    where = ".".join(str(p) for p in err["loc"]) or "bulletin"
    return f"{where}: {err['msg']}"
