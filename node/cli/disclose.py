"""``evnet disclose --org DEPT --user NAME [--period day|week|month] [--on DATE] --out DIR``:
the department's decisions of a period as a signed bulletin (``bulletin.json``) and its page
(``index.html``), for the department's portal (行政执法公示); ``evnet verify-bulletin FILE
--trust ANCHORS [--json]`` checks one offline."""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

from cryptography import x509

from node.cli.network import network_from
from node.cli.report import add_period_arguments, period_of
from node.consortium.clients import department_contract, user_identity
from node.crypto.pki import certificate_role
from node.crypto.user_keys import UserKeyError
from node.disclosure import (
    PUBLISHERS,
    DecisionUnreadable,
    PeriodDisclosures,
    TooManyDecisions,
    collect_disclosures,
    issue_bulletin,
    render_page,
    verify_bulletin,
)
from node.disclosure.bulletin import MAX_BYTES
from node.index.reports import Period
from node.ledger import Committed, LedgerClient, LedgerRefused
from node.package.anchors import MAX_BYTES as MAX_ANCHOR_BYTES
from node.settings import Settings
from schemas.ledger import BulletinRecord, BulletinRecording

BULLETIN = "bulletin.json"
PAGE = "index.html"


def add_parser(sub: Any) -> None:
    disclose = sub.add_parser(
        "disclose", help="publish a department's decisions of a period (signed bulletin + page)"
    )
    disclose.add_argument("--org", required=True, help="department, e.g. UrbanManagement")
    disclose.add_argument("--user", required=True, help="the reviewer or admin who signs it")
    add_period_arguments(disclose, Period.MONTH)
    disclose.add_argument("--out", required=True, type=Path, help=f"directory for {BULLETIN}")
    disclose.set_defaults(handler=_disclose)
    verify = sub.add_parser("verify-bulletin", help="verify a published bulletin offline")
    verify.add_argument("bulletin", type=Path)
    verify.add_argument(
        "--trust", required=True, type=Path, help="trust anchors to pin (evnet trust-anchors)"
    )
    verify.add_argument("--json", action="store_true", help="print the report as JSON")
    verify.set_defaults(handler=_verify)


def _fail(code: str, message: str, status: int = 2) -> int:
    print(f"evnet: {code}: {message}", file=sys.stderr)
    return status


def _disclose(args: argparse.Namespace, settings: Settings) -> int:
    now = dt.datetime.now(dt.UTC)
    try:
        period, since, until = period_of(args, now)
    except ValueError as err:
        return _fail("BAD_ARGUMENT", str(err))
    if since > now:
        return _fail("PERIOD_NOT_BEGUN", f"the {period.value} from {since.date()} has not begun")
    layout = network_from(settings, verbose=False).layout
    department = layout.consortium.department(args.org)
    try:
        identity, signer = user_identity(layout, department, args.user)
    except FileNotFoundError:
        return _fail("UNKNOWN_USER", f"{department.name} has no identity {args.user!r}")
    except UserKeyError as exc:
        return _fail(exc.code, f"{args.user}: {exc}")
    role = certificate_role(x509.load_pem_x509_certificate(identity.cert_pem))
    if role not in PUBLISHERS:
        return _fail(
            "NOT_A_PUBLISHER",
            f"{args.user} is a {role.value if role else 'role-less identity'}; a reviewer or "
            "an admin signs a bulletin",
        )

    def ledger() -> LedgerClient:  # inside each event loop: a connection belongs to its loop
        return LedgerClient(department_contract(layout, department, user=args.user))

    async def collect() -> PeriodDisclosures:
        return await collect_disclosures(ledger(), department.msp_id, since, until)

    async def record(recording: BulletinRecording) -> Committed[BulletinRecord]:
        return await ledger().record_bulletin(recording)

    try:
        found = asyncio.run(collect())
    except TooManyDecisions as exc:
        return _fail(exc.code, f"{exc}; publish a shorter period")
    except DecisionUnreadable as exc:
        return _fail(exc.code, str(exc), 1)
    except LedgerRefused as exc:
        return _fail(exc.code.value, exc.message, 1)
    decisions = found.standing
    signed = issue_bulletin(
        decisions,
        withdrawals=found.withdrawals,
        channel=layout.consortium.channel,
        signer_identity=identity,
        signer=signer,
        period=period,
        since=since,
        until=until,
        utc_offset=args.utc_offset,
        now=now,
    )
    # Written beside their places first, recorded on the ledger as published, then put in
    # place: a portal serving the directory never shows a bulletin the ledger does not hold,
    # and a record is never made for files that could not be written.
    try:
        staged = _stage(
            args.out, {BULLETIN: signed.canonical_bytes(), PAGE: render_page(signed).encode()}
        )
    except OSError as exc:
        return _fail("FILE_UNWRITABLE", f"{args.out}: {exc.strerror or exc}", 1)
    try:
        committed = asyncio.run(record(signed.bulletin.recording()))
    except LedgerRefused as exc:
        _discard(staged)
        return _fail(exc.code.value, exc.message, 1)
    except BaseException:
        _discard(staged)
        raise
    for tmp, final in staged:
        os.replace(tmp, final)
    print(
        f"bulletin: {args.out / BULLETIN} ({len(decisions)} decision(s), "
        f"{len(found.withdrawals)} withdrawal(s)); page: {PAGE}; "
        f"recorded as published in transaction {committed.tx_id}"
    )
    return 0


def _stage(out: Path, files: dict[str, bytes]) -> list[tuple[Path, Path]]:
    """Each file written whole beside its place (a portal may be serving the directory):
    the temporary paths and their places, for :func:`os.replace` or :func:`_discard`."""
    out.mkdir(parents=True, exist_ok=True)
    staged: list[tuple[Path, Path]] = []
    try:
        for name, data in files.items():
            fd, tmp = tempfile.mkstemp(dir=out, prefix=f".{name}.")
            staged.append((Path(tmp), out / name))
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.chmod(tmp, 0o644)
    except BaseException:
        _discard(staged)
        raise
    return staged


def _discard(staged: list[tuple[Path, Path]]) -> None:
    for tmp, _ in staged:
        tmp.unlink(missing_ok=True)


def _verify(args: argparse.Namespace, settings: Settings) -> int:
    del settings  # offline: nothing from the environment
    try:
        # Bounded reads: what is larger than the format allows is refused, not loaded.
        raw = _head(args.bulletin, MAX_BYTES + 1)
        trust = _head(args.trust, MAX_ANCHOR_BYTES + 1)
    except OSError as exc:
        return _fail("FILE_UNREADABLE", f"{exc.filename}: {exc.strerror or exc}")
    report = verify_bulletin(raw, trust, str(args.bulletin))
    print(json.dumps(report.to_json(), indent=2) if args.json else report.render())
    return 0 if report.ok else 1


def _head(path: Path, limit: int) -> bytes:
    with path.open("rb") as f:
        return f.read(limit)
