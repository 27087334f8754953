"""``evnet identity issue --org ORG --role ROLE NAME`` and ``evnet identity seal --org ORG``."""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from typing import Any

from node.consortium import load_consortium
from node.consortium.identities import issue_user, org_crypto, seal_people
from node.crypto.user_keys import (
    UserKeyError,
    ensure_passphrase_file,
    is_sealed,
    passphrase_path,
)
from node.settings import Settings
from schemas.glossary import Role


def add_parser(sub: Any) -> None:
    parser = sub.add_parser("identity", help="issue identities for people and devices")
    verbs = parser.add_subparsers(dest="verb", required=True)
    issue = verbs.add_parser("issue", help="issue a user or device identity for a department")
    issue.add_argument("--org", required=True, help="department, e.g. UrbanManagement")
    issue.add_argument("--role", required=True, choices=[r.value for r in Role])
    issue.add_argument("name", help="identity name, e.g. officer-li or cam-group-7")
    issue.set_defaults(handler=_issue)
    seal = verbs.add_parser(
        "seal",
        help="encrypt the department's people's private keys at rest (idempotent); "
        "identities issued afterwards are sealed too",
    )
    seal.add_argument("--org", required=True, help="department, e.g. UrbanManagement")
    seal.set_defaults(handler=_seal)


def _issue(args: argparse.Namespace, settings: Settings) -> int:
    consortium = load_consortium(settings.consortium_file)
    files = issue_user(
        settings.state_dir,
        consortium,
        args.org,
        Role(args.role),
        args.name,
        dt.datetime.now(dt.UTC),
    )
    print(f"issued {args.role} {args.name} of {args.org}: {files.root}")
    if is_sealed(files.key.read_bytes()):
        print(f"  its private key is sealed under {passphrase_path(settings.state_dir, args.org)}")
    return 0


def _seal(args: argparse.Namespace, settings: Settings) -> int:
    consortium = load_consortium(settings.consortium_file)
    crypto = org_crypto(settings.state_dir, consortium, args.org)
    try:
        passphrase = ensure_passphrase_file(passphrase_path(settings.state_dir, args.org))
        outcome = seal_people(crypto, passphrase)
    except UserKeyError as exc:
        print(f"evnet: {exc.code}: {exc}", file=sys.stderr)
        return 2
    print(
        f"{args.org}: {len(outcome.sealed)} key(s) sealed, {len(outcome.already)} already sealed,"
        f" {len(outcome.left)} left as they are (admin and devices)"
    )
    print(f"  key passphrase: {passphrase_path(settings.state_dir, args.org)} (mode 0600)")
    return 0
