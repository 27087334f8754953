"""The console's words: one catalogue module per language (gateway/console/catalogue/,
Chinese is the default), and the glossary's terms (violation types, stages, roles,
statuses) in each language."""

from __future__ import annotations

from gateway.console.catalogue import en, zh
from schemas.glossary import (
    ROLE_ZH,
    STAGE_ZH,
    VIOLATION_STATUS_ZH,
    VIOLATION_ZH,
)

DEFAULT = "zh"

ZH = zh.WORDS
EN = en.WORDS

STRINGS: dict[str, dict[str, str]] = {"zh": ZH, "en": EN}

_ZH_TERMS: dict[str, str] = {
    str(k): v
    for names in (VIOLATION_ZH, STAGE_ZH, ROLE_ZH, VIOLATION_STATUS_ZH)
    for k, v in names.items()
}


def term(lang: str, value: str) -> str:
    """A glossary identifier (violation type, stage, role, status) in ``lang``; anything else
    as given."""
    if lang == "zh" and value in _ZH_TERMS:
        return _ZH_TERMS[value]
    return value.replace("_", " ")
