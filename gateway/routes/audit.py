"""The access trail, for auditors."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import ValidationError

from gateway.auth import Principal
from gateway.deps import Deps, ledger_of, require
from gateway.models import AccessView, TrailView
from gateway.problems import Problem
from schemas.glossary import Role
from schemas.ledger import TrailBy, TrailQuery

router = APIRouter(prefix="/audit", tags=["audit"])


@router.get("/trail", response_model=TrailView)
async def trail(
    deps: Deps,
    who: Annotated[Principal, require(Role.AUDITOR)],
    by: TrailBy,
    target_id: Annotated[str | None, Query(max_length=128)] = None,
    org: Annotated[str | None, Query(max_length=64)] = None,
    accessor: Annotated[str | None, Query(max_length=512)] = None,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    page_size: Annotated[int, Query(ge=1, le=200)] = 50,
    bookmark: Annotated[str, Query(max_length=1024)] = "",
) -> TrailView:
    """Access records by evidence, case, accessor, org or time; page with ``bookmark``."""
    try:
        query = TrailQuery.model_validate(
            {
                "by": by,
                "target_id": target_id,
                "org": org,
                "accessor": accessor,
                "since": since,
                "until": until,
                "page_size": page_size,
                "bookmark": bookmark,
            }
        )
    except ValidationError as err:
        raise Problem(422, "INVALID_REQUEST", _first(err)) from None
    page = await ledger_of(deps, who).access_trail(query)
    return TrailView(
        records=[AccessView.of(r) for r in page.records], next_bookmark=page.bookmark or None
    )


def _first(err: ValidationError) -> str:
    e = err.errors()[0]
    return f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}"
