"""``evnet identity issue --org ORG --role ROLE NAME``."""

from __future__ import annotations

import argparse
import datetime as dt
from typing import Any

from node.consortium import load_consortium
from node.consortium.identities import issue_user
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
    return 0
