"""The console's words: one catalogue module per language (gateway/console/catalogue/,
Chinese is the default), and the glossary's terms (violation types, stages, roles,
statuses, access kinds) in each language."""

from __future__ import annotations

from gateway.console.catalogue import en, zh
from schemas.glossary import (
    ACCESS_KIND_ZH,
    ROLE_ZH,
    SERVICE_METHOD_ZH,
    SET_ASIDE_AUTHORITY_ZH,
    SET_ASIDE_GROUND_ZH,
    SET_ASIDE_REASON_ZH,
    STAGE_ZH,
    VIOLATION_STATUS_ZH,
    VIOLATION_ZH,
    Outcome,
)
from schemas.ledger import TransferStatus

DEFAULT = "zh"

ZH = zh.WORDS
EN = en.WORDS

STRINGS: dict[str, dict[str, str]] = {"zh": ZH, "en": EN}

# A transfer's status is the ledger's word (schemas.ledger.TransferStatus).
TRANSFER_STATUS_ZH = {
    TransferStatus.PROPOSED: "待接收",
    TransferStatus.ACCEPTED: "已接收",
    TransferStatus.REJECTED: "已拒绝",
}

# An access's outcome (schemas.glossary.Outcome).
OUTCOME_ZH = {Outcome.GRANTED: "准许", Outcome.DENIED: "拒绝"}

_ZH_TERMS: dict[str, str] = {
    str(k): v
    for names in (
        VIOLATION_ZH,
        STAGE_ZH,
        ROLE_ZH,
        VIOLATION_STATUS_ZH,
        ACCESS_KIND_ZH,
        TRANSFER_STATUS_ZH,
        OUTCOME_ZH,
        SET_ASIDE_GROUND_ZH,
        SET_ASIDE_AUTHORITY_ZH,
        SET_ASIDE_REASON_ZH,
        SERVICE_METHOD_ZH,
    )
    for k, v in names.items()
}


def term(lang: str, value: str) -> str:
    """A glossary identifier (violation type, stage, role, status) in ``lang``; anything else
    as given."""
    if lang == "zh" and value in _ZH_TERMS:
        return _ZH_TERMS[value]
    return value.replace("_", " ")
