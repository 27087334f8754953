"""A gateway over a real IngestService in tmp dirs and a fake ledger at the seam."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "node"))
