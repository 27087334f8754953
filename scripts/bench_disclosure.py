#!/usr/bin/env python3
"""Benchmark: a bulletin of decisions (行政执法公示) at a month of a large city's size.

Builds --decisions synthetic decisions (one department, a month), signs the bulletin with a
P-256 key and a CA made for this run, then times, --runs times each: issuing it (canonical
bytes and signature), parsing and verifying it offline against trust anchors
(node.disclosure.verify_bulletin), and rendering its page. Baseline in the same run: parsing
the same bytes with json.loads and hashing them with SHA-256, what any reader of the file
does at least. Prints medians and their ratio to the baseline's.

Reproduce:  .venv/bin/python scripts/bench_disclosure.py --decisions 20000
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import statistics
import time
from collections.abc import Callable

# scripts/ is on sys.path when a benchmark is run as a file.
from benchreport import record

from node.crypto.pki import create_ca, issue
from node.crypto.signing import EcdsaSigner
from node.disclosure import DecisionNotice, Outcome, issue_bulletin, render_page, verify_bulletin
from node.fabric.identity import Identity
from node.index.reports import Period, parse_utc_offset, period_bounds
from node.package.anchors import TrustAnchors
from schemas.glossary import Procedure, ViolationType
from schemas.hashes import Digest
from schemas.ledger import SubjectKind, ledger_time

ORG = "UrbanManagementMSP"
NOW = dt.datetime(2026, 12, 1, 9, tzinfo=dt.UTC)


def notices(n: int, since: dt.datetime, until: dt.datetime) -> list[DecisionNotice]:
    step = (until - since) / (n + 1)
    types = list(ViolationType)
    out = []
    for i in range(n):
        free = i % 7 == 0
        out.append(
            DecisionNotice(
                case_id=f"CASE-2026-11-{i:06d}",
                violation_type=types[i % len(types)],
                procedure=Procedure.SIMPLE if i % 3 == 0 else Procedure.GENERAL,
                outcome=Outcome.NO_PENALTY if free else Outcome.PENALTY,
                amount_cents=0 if free else 20_000 + 5_000 * (i % 4),
                legal_basis="《城市市容和环境卫生管理条例》第三十六条",
                discretion_benchmark=f"CG-2026-03 第{1 + i % 4}档",
                schedule_version=1,
                subject_kind=SubjectKind.PERSON if i % 2 else SubjectKind.ORGANIZATION,
                decided_at=ledger_time(since + step * (i + 1)),
                decision_tx=hashlib.sha256(str(i).encode()).hexdigest(),
                document_hash=Digest.of(str(i).encode()),
            )
        )
    return out


def timed(fn: Callable[[], object], runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--decisions", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    since, until = period_bounds(Period.MONTH, dt.date(2026, 11, 1), parse_utc_offset("+08:00"))
    ca = create_ca("ca.urbanmanagement.evnet", "urbanmanagement.evnet", NOW - dt.timedelta(days=60))
    person = issue(
        ca,
        "reviewer1",
        "urbanmanagement.evnet",
        NOW - dt.timedelta(days=30),
        organizational_unit="client",
        attributes={"role": "reviewer"},
    )
    identity, signer = Identity(ORG, person.cert_pem), EcdsaSigner.from_pem(person.key_pem)
    anchors = TrustAnchors.build(
        "evidence", ["OrdererMSP"], {ORG: [ca.cert_pem], "OrdererMSP": [ca.cert_pem]}
    ).canonical_bytes()
    decided = notices(args.decisions, since, until)

    def signed_bytes() -> bytes:
        return issue_bulletin(
            decided,
            channel="evidence",
            signer_identity=identity,
            signer=signer,
            period=Period.MONTH,
            since=since,
            until=until,
            utc_offset="+08:00",
            now=NOW,
        ).canonical_bytes()

    raw = signed_bytes()
    report = verify_bulletin(raw, anchors)
    if not report.ok:
        raise SystemExit(f"the benchmark's bulletin does not verify:\n{report.render()}")
    signed = report.bulletin
    assert signed is not None

    baseline = timed(lambda: (json.loads(raw), hashlib.sha256(raw).digest()), args.runs)
    figures = {
        "issue (canonical bytes + signature)": timed(signed_bytes, args.runs),
        "verify offline": timed(lambda: verify_bulletin(raw, anchors), args.runs),
        "render the page": timed(lambda: render_page(signed), args.runs),
    }
    print(f"{args.decisions} decisions, {len(raw) / 1e6:.1f} MB; medians of {args.runs}")
    print(f"  baseline (json.loads + SHA-256 of the file): {baseline * 1000:.0f} ms")
    for name, value in figures.items():
        print(f"  {name}: {value * 1000:.0f} ms, {value / baseline:.1f}x the baseline")
        record(
            "disclosure",
            name,
            value,
            "s",
            baseline=baseline,
            baseline_name="json.loads + SHA-256",
            better="lower",
            work=f"{args.decisions} decisions",
        )


if __name__ == "__main__":
    main()
