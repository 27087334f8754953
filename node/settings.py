"""Typed settings for the node's command-line entry points.

Libraries take these values as arguments; only :meth:`Settings.from_environment` reads the
environment, once, at the entry point.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from node.consortium.toolchain import default_bin_dir

# The checkout this package runs from (editable install); templates live beside the code.
PROJECT_ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Settings:
    state_dir: Path
    consortium_file: Path
    fabric_bin: Path
    fabric_config_dir: Path
    go: str | None

    @classmethod
    def from_environment(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Settings from ``EVNET_*`` variables with local-network defaults."""
        env = os.environ if env is None else env
        cache_home = Path(env.get("XDG_CACHE_HOME") or Path.home() / ".cache")
        return cls(
            state_dir=Path(env.get("EVNET_STATE_DIR", PROJECT_ROOT / ".evnet")).resolve(),
            consortium_file=Path(
                env.get("EVNET_CONSORTIUM", PROJECT_ROOT / "network-config" / "consortium.yaml")
            ),
            fabric_bin=Path(env.get("EVNET_FABRIC_BIN") or default_bin_dir(cache_home)),
            fabric_config_dir=PROJECT_ROOT / "network-config" / "fabric",
            go=shutil.which("go", path=env.get("PATH")),
        )
