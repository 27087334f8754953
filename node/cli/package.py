"""``evnet package CASE --org DEPT --out FILE``, ``evnet verify PACKAGE [--trust] [--json]`` and
``evnet trust-anchors [--out FILE]`` (what a court pins: docs/PACKAGE.md, "Trust")."""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import sys
from pathlib import Path
from typing import Any

from node.chain import BlockArchive
from node.cli.network import network_from
from node.consortium.clients import department_contract, user_identity
from node.crypto.user_keys import UserKeyError
from node.department import NodePaths, open_parts
from node.exchange import ReleaseRefused
from node.exchange.client import FetchFailed
from node.exchange.remote import (
    ExchangeFetcher,
    OwnerUnknown,
    OwnerUnreachable,
    consortium_fetcher,
)
from node.fabric.ledger import LedgerQueries
from node.ledger import LedgerClient, LedgerRefused
from node.package import (
    ClaimsArchive,
    Exporter,
    PackageRefused,
    build_package,
    verify_package,
)
from node.package.anchors import TrustAnchors
from node.redaction.archive import CopyArchive
from node.settings import Settings
from schemas.ledger import CODE_PATTERN


def add_parser(sub: Any) -> None:
    build = sub.add_parser("package", help="build a case's evidence package (one click)")
    build.add_argument("case", help="case id")
    build.add_argument("--org", required=True, help="exporting department, e.g. UrbanManagement")
    build.add_argument("--out", required=True, type=Path, help="archive to write (.tar)")
    build.add_argument("--user", default="officer1", help="the department identity to act as")
    build.add_argument("--purpose", default="evidence_package", help="purpose code recorded")
    build.set_defaults(handler=_package)
    verify = sub.add_parser("verify", help="verify an evidence package offline")
    verify.add_argument("package", type=Path)
    verify.add_argument(
        "--trust",
        type=Path,
        help="trust anchors to pin (evnet trust-anchors), or a PEM file of MSP root certificates",
    )
    verify.add_argument("--json", action="store_true", help="print the report as JSON")
    verify.set_defaults(handler=_verify)
    anchors = sub.add_parser(
        "trust-anchors",
        help="export the consortium's trust anchors (each MSP's roots, the ordering MSPs)",
    )
    anchors.add_argument("--out", type=Path, help="file to write (default: standard output)")
    anchors.set_defaults(handler=_trust_anchors)


def _package(args: argparse.Namespace, settings: Settings) -> int:
    if not re.fullmatch(CODE_PATTERN, args.purpose):
        print(
            f"evnet: BAD_ARGUMENT: --purpose {args.purpose[:64]!r} is not a purpose code"
            " (lower-case letters, digits and _, starting with a letter, at most 64)",
            file=sys.stderr,
        )
        return 2
    layout = network_from(settings, verbose=False).layout
    department = layout.consortium.department(args.org)
    paths = NodePaths.of(settings.state_dir, department.name)
    try:
        identity, signer = user_identity(layout, department, args.user)
    except FileNotFoundError:
        print(
            f"evnet: UNKNOWN_USER: {department.name} has no identity {args.user!r}", file=sys.stderr
        )
        return 2
    except UserKeyError as exc:
        print(f"evnet: {exc.code}: {args.user}: {exc}", file=sys.stderr)
        return 2

    archive = BlockArchive(paths.chain) if paths.chain.exists() else None

    async def run() -> int:
        contract = department_contract(layout, department, user=args.user)
        parts = open_parts(paths)
        exporter = Exporter(
            ledger=LedgerClient(contract),
            # The node's copy of the chain, where its gateway keeps one: fewer peer queries.
            queries=LedgerQueries(contract.gateway, contract.channel, archive=archive),
            parts=parts,
            claims=ClaimsArchive(paths.root / "claims"),
            identity=identity,
            signer=signer,
            # Other departments' items of the case, from their nodes' exchange servers.
            foreign=consortium_fetcher(layout, department.name, parts.keyring, ExchangeFetcher),
            copies=CopyArchive(paths.root / "redactions"),
        )
        try:
            out = await build_package(args.case, exporter, args.out, args.purpose)
        except PackageRefused as exc:
            print(f"evnet: PACKAGE_REFUSED: {exc}", file=sys.stderr)
            return 1
        except ReleaseRefused as exc:
            print(f"evnet: OWNER_REFUSED: the owner's node refused an item: {exc}", file=sys.stderr)
            return 1
        except (OwnerUnknown, OwnerUnreachable) as exc:
            print(f"evnet: OWNER_UNAVAILABLE: {exc}", file=sys.stderr)
            return 1
        except FetchFailed as exc:
            print(f"evnet: EVIDENCE_UNAVAILABLE: a fetched item failed: {exc}", file=sys.stderr)
            return 1
        except LedgerRefused as exc:  # an unknown case, a case with no evidence, ...
            print(f"evnet: {exc.code.value}: {exc.message}", file=sys.stderr)
            return 1
        print(f"package: {out}")
        return 0

    return asyncio.run(run())


def _verify(args: argparse.Namespace, settings: Settings) -> int:
    del settings  # offline: nothing from the environment
    try:
        trust = args.trust.read_bytes() if args.trust else None
        report = verify_package(args.package, trust)
    except OSError as exc:
        print(
            f"evnet: FILE_UNREADABLE: {exc.filename or args.package}: {exc.strerror or exc}",
            file=sys.stderr,
        )
        return 2
    print(json.dumps(report.to_json(), indent=2) if args.json else report.render())
    return 0 if report.ok else 1


def _trust_anchors(args: argparse.Namespace, settings: Settings) -> int:
    consortium = network_from(settings, verbose=False).layout.consortium
    anchors = TrustAnchors.of_consortium(settings.state_dir, consortium)
    if args.out is None:
        sys.stdout.buffer.write(anchors.canonical_bytes() + b"\n")
    else:
        try:
            args.out.parent.mkdir(parents=True, exist_ok=True)
            args.out.write_bytes(anchors.canonical_bytes())
        except OSError as exc:
            print(f"evnet: FILE_UNWRITABLE: {args.out}: {exc.strerror or exc}", file=sys.stderr)
            return 2
        print(f"trust anchors: {args.out}")
    return 0
