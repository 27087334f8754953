"""``evnet``: the EvidenceNet command line.

Every failure is printed as one line ``evnet: CODE: message`` with exit status 2 for bad
input or configuration and 1 for anything else, so scripts and people can act on it.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from node.cli import (
    backup,
    demo,
    detect,
    disclose,
    doctor,
    gateway,
    identity,
    network,
    package,
    report,
    stack,
    toolchain,
)
from node.consortium.errors import ConsortiumConfigError, NetworkError
from node.settings import Settings


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="evnet", description="EvidenceNet command line")
    sub = parser.add_subparsers(dest="command", required=True)
    toolchain.add_parser(sub)
    network.add_parser(sub)
    identity.add_parser(sub)
    demo.add_parser(sub)
    detect.add_parser(sub)
    doctor.add_parser(sub)
    package.add_parser(sub)
    gateway.add_parser(sub)
    stack.add_parser(sub)
    backup.add_parser(sub)
    report.add_parser(sub)
    disclose.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    settings = Settings.from_environment()
    try:
        result: int = args.handler(args, settings)
    except ConsortiumConfigError as exc:
        print(f"evnet: {exc.code}: {exc}", file=sys.stderr)
        return 2
    except NetworkError as exc:
        print(f"evnet: {exc.code}: {exc}", file=sys.stderr)
        return 1
    return result


if __name__ == "__main__":
    raise SystemExit(main())
