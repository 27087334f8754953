"""The web console (issue 9): server-rendered pages over the gateway's own route functions,
authenticated by the API's bearer tokens held in an HttpOnly cookie."""

from fastapi import APIRouter

from gateway.console import disclosures, pages

router = APIRouter()
router.include_router(pages.router)
router.include_router(disclosures.router)

__all__ = ["router"]
