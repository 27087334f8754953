"""``evnet toolchain install|path``: the Fabric binaries."""

from __future__ import annotations

import argparse
import os
import time
from typing import Any

from node.consortium import toolchain
from node.settings import Settings


def add_parser(sub: Any) -> None:
    parser = sub.add_parser("toolchain", help="build or locate the Fabric binaries")
    verbs = parser.add_subparsers(dest="verb", required=True)
    install = verbs.add_parser("install", help=f"build Fabric {toolchain.FABRIC_VERSION} with Go")
    install.set_defaults(handler=_install)
    path = verbs.add_parser("path", help="print the directory holding the Fabric binaries")
    path.set_defaults(handler=_path)


def _install(args: argparse.Namespace, settings: Settings) -> int:
    if toolchain.is_installed(settings.fabric_bin):
        print(f"Fabric {toolchain.FABRIC_VERSION} already installed in {settings.fabric_bin}")
        return 0
    print(f"building Fabric {toolchain.FABRIC_VERSION} ({', '.join(toolchain.COMMANDS)}) ...")
    started = time.monotonic()
    toolchain.install(settings.fabric_bin, settings.go, env=dict(os.environ))
    print(f"built in {time.monotonic() - started:.0f} s into {settings.fabric_bin}")
    return 0


def _path(args: argparse.Namespace, settings: Settings) -> int:
    toolchain.locate(settings.fabric_bin)
    print(settings.fabric_bin)
    return 0
