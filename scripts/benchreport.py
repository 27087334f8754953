"""Machine-readable figures for the system benchmark report (scripts/bench.py).

Each benchmark script still prints its own human table; it also calls :func:`record` for
each headline figure. When ``EVNET_BENCH_JSON`` names a file (scripts/bench.py sets it),
the figure is appended there as one JSON line; otherwise nothing is written, so running a
benchmark by hand is unchanged.

A figure always travels with the baseline measured in the same run, because the machine is
shared and noisy: the ratio is the number to compare across runs, not the raw value.
"""

from __future__ import annotations

import json
import os
from typing import Literal

Better = Literal["higher", "lower"]


def record(
    component: str,
    figure: str,
    value: float,
    unit: str,
    *,
    baseline: float | None = None,
    baseline_name: str = "",
    better: Better = "higher",
    target: str = "",
    work: str = "",
) -> None:
    """Append one figure to the report file named by ``EVNET_BENCH_JSON``, if any.

    ``work`` names the amount of work measured (e.g. ``"20 items"``), so the report can show
    how a cost grows from 1x to 10x; ``target`` is the acceptance target as text.
    """
    path = os.environ.get("EVNET_BENCH_JSON")
    if not path:
        return
    ratio = value / baseline if baseline else None
    row = {
        "component": component,
        "figure": figure,
        "value": value,
        "unit": unit,
        "baseline": baseline,
        "baseline_name": baseline_name,
        "ratio": ratio,
        "better": better,
        "target": target,
        "work": work,
    }
    with open(path, "a", encoding="utf-8") as out:
        out.write(json.dumps(row, ensure_ascii=False) + "\n")
