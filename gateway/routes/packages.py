"""One-click evidence packages, their offline verifier, and attaching evidence to a case.

A package is built by :func:`node.package.stream_package` as the caller: the ``package``
access of every item is committed first (a denial commits too, and nothing is read), then
the archive is streamed to the client as it is written, never stored on the gateway.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import logging
import secrets
from pathlib import Path
from typing import Annotated, Any, NoReturn, cast
from urllib.parse import quote

from fastapi import APIRouter, Depends, Query, Request
from fastapi import Path as PathParam
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.types import Receive, Scope, Send

from gateway.auth import Principal
from gateway.deps import Deps, ledger_of, principal, require
from gateway.loop_bridge import OnLoop, in_own_thread
from gateway.problems import Problem
from gateway.uploads import multipart_openapi, read_multipart
from node.crypto.sealing import SealingError
from node.fabric.ledger import LedgerQueries
from node.ledger import LedgerClient
from node.package import (
    ArchiveStream,
    Exporter,
    ForeignEvidence,
    ForeignEvidenceUnavailable,
    PackageRefused,
    StreamCancelled,
    StreamFailed,
    stream_package,
    verify_package,
)
from node.package.builder import DEFAULT_PURPOSE
from node.store.errors import StoreError
from node.vault import VaultError
from schemas.glossary import Role, Stage, ViolationStatus
from schemas.ledger import CODE_PATTERN

log = logging.getLogger("gateway")

router = APIRouter(tags=["packages"])

VERIFY_ROUTE = "/packages/verify"
CaseId = Annotated[str, PathParam(max_length=128)]
EXPORTERS = (Role.OFFICER, Role.REVIEWER, Role.PARTNER)
# The export's access records in a header: at most this many ids (a header block past
# ~16 KiB breaks common clients); the manifest's export_records always has all of them.
HEADER_RECORDS = 100
MAX_TRUST_BYTES = 64 * 1024


class AttachIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    evidence_ids: list[Annotated[str, Field(min_length=1, max_length=128)]] = Field(
        min_length=1, max_length=100
    )


class Attached(BaseModel):
    evidence_id: str
    tx_id: str


class AttachOut(BaseModel):
    case_id: str
    attached: list[Attached]


class VerifyFailure(BaseModel):
    code: str
    subject: str
    message: str


class VerifiedStep(BaseModel):
    """One step of the case as the package proves it (``from``/``to``: stages)."""

    model_config = ConfigDict(populate_by_name=True)

    seq: int
    from_stage: Stage = Field(alias="from")
    to_stage: Stage = Field(alias="to")
    actor: str
    role: str
    org: str
    at: str
    tx: str
    document_hash: str | None
    document_item: str | None  # the packaged item holding the step's document


class VerifiedLoopStep(BaseModel):
    """One step of the flag's co-governance loop that led to the case, as the package proves
    it (``from``/``to``: violation statuses; the reminders are among them)."""

    model_config = ConfigDict(populate_by_name=True)

    seq: int
    from_status: ViolationStatus | None = Field(alias="from")
    to_status: ViolationStatus = Field(alias="to")
    by: str
    role: str
    org: str
    at: str
    tx: str
    reason: str
    case_id: str | None


class VerifyOut(BaseModel):
    """The offline verifier's report (``evnet verify --json``) for the uploaded file."""

    package: str
    ok: bool
    checked: dict[str, int]
    failures: list[VerifyFailure]
    notes: list[str]
    steps: list[VerifiedStep]  # the case's legal steps, in order
    loop: list[VerifiedLoopStep]  # a case opened from a flag: the flag's loop, in order


@router.post("/cases/{case_id}/evidence", response_model=AttachOut, tags=["cases"])
async def attach(
    case_id: CaseId, body: AttachIn, deps: Deps, who: Annotated[Principal, require(Role.OFFICER)]
) -> AttachOut:
    """Attach items this department owns to an open case it holds (idempotent per item).

    One transaction per item, in order; if one is refused the earlier ones stay attached
    and the problem names the refused item (attaching again is harmless).
    """
    ledger = ledger_of(deps, who)
    done: list[Attached] = []
    for evidence_id in dict.fromkeys(body.evidence_ids):  # once each, in order
        tx_id = await ledger.attach_evidence(case_id, evidence_id)
        done.append(Attached(evidence_id=evidence_id, tx_id=tx_id))
    return AttachOut(case_id=case_id, attached=done)


class PackageResponse(StreamingResponse):
    """The package as its build writes it. Should the build fail from here on, the body
    raises and the server cuts the connection: the client holds a broken download, never
    what looks like a whole package."""

    def __init__(self, stream: ArchiveStream, **kwargs: Any) -> None:
        super().__init__(stream.chunks(), **kwargs)
        self._stream = stream

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self._stream.cancel()  # the client went away, or it has it all: stop the build

    async def save(self, path: Path) -> None:
        """Write the package to ``path`` instead of sending it (the console keeps it for
        its user); nothing appears at ``path`` unless the build ended whole."""
        partial = path.with_name(path.name + ".partial")
        try:
            with partial.open("wb") as file:
                async for chunk in self._stream.chunks():
                    await run_in_threadpool(file.write, chunk)
            partial.replace(path)
        except StreamFailed:
            raise Problem(
                500, "EVIDENCE_UNAVAILABLE", "an item of the case could not be read intact"
            ) from None
        finally:
            self._stream.cancel()
            partial.unlink(missing_ok=True)


_PACKAGE_RESPONSES: dict[int | str, dict[str, object]] = {
    200: {
        "description": "The package (tar). `X-Access-Record`: the export's access records "
        f"(first {HEADER_RECORDS}, comma-separated); `X-Access-Records-Total`: how many.",
        "content": {"application/x-tar": {}},
    },
    403: {"description": "Denied (each denial is recorded on the ledger)."},
    404: {"description": "No such case."},
    409: {"description": "The case has no evidence."},
    500: {"description": "An item of this node could not be read intact (EVIDENCE_UNAVAILABLE)."},
    501: {
        "description": "Another department's item and no exchange to fetch it "
        "(REMOTE_EVIDENCE_NOT_SUPPORTED, nothing recorded), or no known node for its owner."
    },
    502: {"description": "A fetched item did not match the ledger (EVIDENCE_UNAVAILABLE)."},
    503: {"description": "The node of an item's owner cannot be reached (OWNER_UNAVAILABLE)."},
}


@router.post(
    "/cases/{case_id}/packages",
    response_class=StreamingResponse,
    responses=_PACKAGE_RESPONSES,
    tags=["cases"],
)
@router.post(
    "/cases/{case_id}/package",
    response_class=StreamingResponse,
    responses=_PACKAGE_RESPONSES,
    tags=["cases"],
    include_in_schema=False,
)
async def package(
    case_id: CaseId,
    deps: Deps,
    who: Annotated[Principal, require(*EXPORTERS)],
    purpose: Annotated[
        str, Query(pattern=CODE_PATTERN, description="purpose code recorded with the export")
    ] = DEFAULT_PURPOSE,
) -> PackageResponse:
    """Record the export on the ledger, then stream the case's package as it is built."""
    if deps.exporter_for is None:
        raise Problem(501, "PACKAGES_NOT_CONFIGURED", "this gateway cannot build packages")
    exporter = deps.exporter_for(who.user)
    await exporter.ledger.case(case_id)  # 404 for an unknown case, before anything else
    ids = await exporter.ledger.case_evidence(case_id)
    if not ids:
        raise Problem(409, "CASE_HAS_NO_EVIDENCE", "the case has no evidence to package")
    deps.spool_dir.mkdir(parents=True, exist_ok=True)  # other departments' items, staged
    staging = deps.spool_dir / f"package-{secrets.token_hex(8)}"
    stream, opened, building = start_stream(case_id, exporter, staging, purpose)
    building.add_done_callback(functools.partial(_log_late_failure, case_id, opened))
    try:
        either: list[asyncio.Future[Any]] = [opened, building]
        await asyncio.wait(either, return_when=asyncio.FIRST_COMPLETED)
    except BaseException:
        stream.cancel()  # this request is gone: its build must not wait for a reader
        raise
    if not opened.done():  # failed before anything could be read: a problem, as always
        opened.cancel()
        _raise_problem(case_id, who, building)
    exports = opened.result()
    return PackageResponse(
        stream,
        media_type="application/x-tar",
        headers={
            "Content-Disposition": _attachment(f"{case_id}.tar"),
            "X-Access-Record": ",".join(exports[:HEADER_RECORDS]),
            "X-Access-Records-Total": str(len(exports)),
        },
    )


def start_stream(
    case_id: str, exporter: Exporter, staging: Path, purpose: str = DEFAULT_PURPOSE
) -> tuple[ArchiveStream, asyncio.Future[list[str]], asyncio.Future[None]]:
    """Start building the case's package into a stream, as this route does: the stream,
    a future set to the export's record ids once its reader may begin, and the build.
    Decrypting and writing the archive is blocking work that lasts as long as the client
    takes to read it: it runs in a thread of its own (on its own event loop), its ledger
    calls on this loop, where the clients live."""
    loop = asyncio.get_running_loop()
    opened: asyncio.Future[list[str]] = loop.create_future()
    stream = ArchiveStream()
    building = asyncio.ensure_future(
        in_own_thread(
            stream_package(
                case_id,
                bridged(exporter, loop),
                stream,
                staging,
                lambda records: loop.call_soon_threadsafe(_settle_once, opened, records),
                purpose,
            ),
            f"package-{case_id}"[:64],
        )
    )
    return stream, opened, building


def _settle_once(future: asyncio.Future[list[str]], records: list[str]) -> None:
    if not future.done():
        future.set_result(records)


def _raise_problem(case_id: str, who: Principal, building: asyncio.Future[None]) -> NoReturn:
    """The build's failure before its stream opened, as the problem it is."""
    try:
        building.result()
    except PackageRefused as refused:
        log.info("package of %s refused to %s: %s", case_id, who.user, refused)
        raise Problem(
            403, "ACCESS_DENIED", "access denied", {"X-Access-Record": refused.tx_id}
        ) from None
    except ForeignEvidenceUnavailable as err:  # (refused before recording, as a rule)
        raise Problem(501, "REMOTE_EVIDENCE_NOT_SUPPORTED", str(err)) from None
    except (SealingError, StoreError, VaultError) as err:
        # The exports are recorded, but this node cannot produce an item's bytes.
        log.error("package of %s: an item cannot be read: %r", case_id, err)  # evnet doctor
        raise Problem(
            500, "EVIDENCE_UNAVAILABLE", "an item of the case could not be read intact"
        ) from None
    raise AssertionError("a package's build ended without opening its stream")


def _log_late_failure(
    case_id: str, opened: asyncio.Future[list[str]], building: asyncio.Future[None]
) -> None:
    """The build's outcome once its stream opened (the response then carries no problem);
    an earlier failure is the response's problem."""
    if building.cancelled() or not opened.done() or opened.cancelled():
        return
    error = building.exception()
    if isinstance(error, StreamCancelled):
        log.info("package of %s: the client stopped reading it", case_id)
    elif error is not None:
        log.error("package of %s failed while streamed: %r", case_id, error)  # evnet doctor


def _attachment(filename: str) -> str:
    quoted = quote(filename)
    if quoted != filename:
        return f"attachment; filename*=utf-8''{quoted}"
    return f'attachment; filename="{filename}"'


@router.post(
    VERIFY_ROUTE,
    response_model=VerifyOut,
    openapi_extra=multipart_openapi(["package"], ["trust"]),
)
async def verify(
    request: Request, deps: Deps, _: Annotated[Principal, Depends(principal)]
) -> VerifyOut:
    """Verify an uploaded package offline (multipart: one file part ``package``, optional
    ``trust`` field: the trust anchors to pin, from ``evnet trust-anchors``, or PEM roots).
    A package that fails checks is answered 200 with ``ok: false`` and every failure; a file
    that is no package at all is 422 NOT_A_PACKAGE.
    """
    upload = await read_multipart(
        request.headers.get("content-type", ""),
        request.stream(),
        spool_dir=deps.spool_dir,
        max_file_bytes=deps.max_upload_bytes,
        max_field_bytes=MAX_TRUST_BYTES,
        field_names=("trust",),
    )
    try:
        if len(upload.files) != 1:
            raise Problem(422, "MISSING_PART", "send exactly one file part: the package")
        [(name, path)] = upload.files.items()
        trust = upload.fields.get("trust") or None
        # One hashing thread per request: a server's cores go to its concurrent requests,
        # and each hashing thread holds a 4 MiB buffer.
        report = await run_in_threadpool(
            functools.partial(verify_package, path, trust, hash_workers=1)
        )
    finally:
        upload.discard()
    if report.codes == {"NOT_A_PACKAGE"}:
        raise Problem(422, "NOT_A_PACKAGE", "the upload is not a package (not a tar archive)")
    doc = report.to_json()
    doc["package"] = name  # never the spool path
    return VerifyOut.model_validate(doc)


def bridged(exporter: Exporter, loop: asyncio.AbstractEventLoop) -> Exporter:
    """``exporter`` for a build on another thread's loop: its ledger calls, and its
    exchange's, made on ``loop``, where their clients live."""
    foreign = exporter.foreign
    return dataclasses.replace(
        exporter,
        ledger=cast(LedgerClient, OnLoop(exporter.ledger, loop)),
        queries=cast(LedgerQueries, OnLoop(exporter.queries, loop)),
        # The exchange's gRPC channels are made, like the ledger's, on the serving loop.
        foreign=None if foreign is None else cast(ForeignEvidence, OnLoop(foreign, loop)),
    )
