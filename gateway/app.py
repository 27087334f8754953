"""The department gateway: ``create_app(deps)`` wires the routes over collaborators passed in."""

from __future__ import annotations

from fastapi import FastAPI

from gateway import console, observability, problems
from gateway.body_limit import BodyLimit
from gateway.console import disclosures as console_disclosures
from gateway.console.pages import MAX_CONSOLE_EVIDENCE, MAX_STAGE_DOCUMENT
from gateway.deps import GatewayDeps
from gateway.routes import (
    audit,
    captures,
    cases,
    devices,
    disclosures,
    dispatch,
    documents,
    evidence,
    packages,
    redactions,
    reports,
    review,
    subjects,
)
from node.disclosure.bulletin import MAX_BYTES as MAX_BULLETIN_BYTES


def create_app(deps: GatewayDeps) -> FastAPI:
    """One department's HTTP API; every failure is RFC 9457 problem+json."""
    app = FastAPI(
        title="EvidenceNet gateway",
        version="0.1.0",
        description="The API of one department for officers, reviewers, partner agencies, "
        "auditors and edge devices. Every ledger transaction is signed by the caller's own "
        "Fabric identity.",
    )
    app.state.deps = deps
    problems.install(app)
    app.include_router(devices.router)
    app.include_router(captures.router)
    app.include_router(cases.router)
    app.include_router(documents.router)
    app.include_router(evidence.router)
    app.include_router(audit.router)
    app.include_router(packages.router)
    app.include_router(review.router)
    app.include_router(dispatch.router)
    app.include_router(redactions.router)
    app.include_router(subjects.router)
    app.include_router(reports.router)
    app.include_router(disclosures.router)
    app.include_router(console.router)
    app.add_middleware(
        BodyLimit,
        limits={
            # These stream their bodies and check their own limits as they read.
            devices.SUBMISSIONS_ROUTE: None,
            captures.CAPTURES_ROUTE: None,
            packages.VERIFY_ROUTE: None,
            # A published bulletin an auditor checks: up to a month of a city's decisions.
            disclosures.CHECK_ROUTE: MAX_BULLETIN_BYTES,
            console_disclosures.CHECK_ROUTE: MAX_BULLETIN_BYTES + (64 << 10),  # and the form
            # A legal step's document, and the form around it.
            documents.DOCUMENTS_ROUTE: documents.MAX_CASE_DOCUMENT + (64 << 10),
            "/console/cases/{case_id}/stage": MAX_STAGE_DOCUMENT + (64 << 10),
            "/console/cases/{case_id}/documents/{step}": MAX_STAGE_DOCUMENT + (64 << 10),
            # Evidence an officer adds in the console: its files, and the form around them.
            "/console/cases/{case_id}/evidence": MAX_CONSOLE_EVIDENCE + (64 << 10),
        },
    )
    observability.install(app, deps)  # outside the cap: refusals are logged and counted

    @app.get("/healthz", tags=["health"])
    async def healthz() -> dict[str, str]:
        return {"status": "ok", "org": deps.org}

    return app
