"""``evnet backup`` and ``evnet restore``: one department node's store, index and keys."""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from pathlib import Path
from typing import Any

from node.backup import BackupError, create_backup, restore_backup
from node.consortium import load_consortium
from node.ops.config import department_runtime
from node.settings import Settings


def add_parser(sub: Any) -> None:
    backup = sub.add_parser("backup", help="back up a department node to one archive")
    backup.add_argument("--department", required=True, help="e.g. UrbanManagement")
    backup.add_argument("--out", required=True, type=Path, help="archive to write (new file)")
    backup.set_defaults(handler=_backup)
    restore = sub.add_parser("restore", help="restore a department node into a new state dir")
    restore.add_argument("--department", required=True)
    restore.add_argument("--from", dest="archive", required=True, type=Path)
    restore.add_argument("--state-dir", required=True, type=Path, help="new, empty directory")
    restore.set_defaults(handler=_restore)


def _backup(args: argparse.Namespace, settings: Settings) -> int:
    dep = load_consortium(settings.consortium_file).department(args.department)
    runtime = department_runtime(settings.state_dir, dep)
    try:
        manifest = create_backup(
            args.out,
            state_dir=settings.state_dir,
            department=dep.name,
            paths=runtime.paths,
            index_url=runtime.index_url,
            now=dt.datetime.now(dt.UTC),
        )
    except BackupError as exc:
        print(f"evnet: {exc.code}: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:  # --out in a missing or read-only directory, a full disk
        print(f"evnet: FILE_UNWRITABLE: {args.out}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    size = sum(m.size for m in manifest.members)
    print(f"backed up {dep.name}: {len(manifest.members)} files, {size} bytes -> {args.out}")
    return 0


def _restore(args: argparse.Namespace, settings: Settings) -> int:
    dep = load_consortium(settings.consortium_file).department(args.department)
    try:
        manifest = restore_backup(args.archive, department=dep.name, state_dir=args.state_dir)
    except BackupError as exc:
        print(f"evnet: {exc.code}: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:  # no such archive, an unreadable one, an unwritable target
        where = exc.filename or args.archive
        print(f"evnet: FILE_UNREADABLE: {where}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    print(f"restored {dep.name} ({len(manifest.members)} files) into {args.state_dir}")
    print(f"check it: EVNET_STATE_DIR={args.state_dir} evnet doctor --org {dep.name}")
    return 0
