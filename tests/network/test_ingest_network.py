"""Ingest on the real ledger: kill -9 after storing and after registering, restart, and
`evnet doctor` finds the node clean; then it names a flipped byte."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from ingestnet import DEPARTMENT, node_service, upload

from node.consortium.network import Network
from node.department import NodePaths

pytestmark = pytest.mark.network
HERE = Path(__file__).parent


def _doctor(network: Network, consortium_file: Path) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "EVNET_STATE_DIR": str(network.layout.state_dir),
        "EVNET_CONSORTIUM": str(consortium_file),
    }
    return subprocess.run(
        [sys.executable, "-m", "node.cli", "doctor", "--org", DEPARTMENT],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _consortium_file(network: Network) -> Path:
    return network.layout.state_dir.parent / "c.yaml"


@pytest.mark.parametrize("step", ["store", "register"])
async def test_kill_9_mid_ingest_then_restart_leaves_the_node_clean(
    people: Network, step: str
) -> None:
    layout = people.layout
    event_id = f"evt-{uuid.uuid4().hex[:12]}"
    child = subprocess.run(
        [
            sys.executable,
            str(HERE / "ingest_child.py"),
            str(layout.state_dir),
            str(_consortium_file(people)),
            event_id,
            step,
        ],
        capture_output=True,
        timeout=180,
    )
    assert child.returncode == -9, child.stderr.decode()[-3000:]
    node = node_service(layout)
    await node.reconcile()
    body, sig, cert, files = upload(layout, event_id)
    done = await node.ingest(body, sig, cert, files)
    # After "register" the item was already finished by reconcile: the retry is a duplicate.
    assert done[0].duplicate is (step == "register")
    assert node.index.evidence(done[0].evidence_id) is not None
    report = _doctor(people, _consortium_file(people))
    assert report.returncode == 0, report.stdout + report.stderr
    assert "0 problem(s)" in report.stdout


async def test_doctor_names_a_flipped_byte(people: Network) -> None:
    layout = people.layout
    node = node_service(layout)
    body, sig, cert, files = upload(layout, f"evt-{uuid.uuid4().hex[:12]}")
    (item,) = await node.ingest(body, sig, cert, files)
    row = node.index.evidence(item.evidence_id)
    assert row is not None
    blobs = NodePaths.of(layout.state_dir, DEPARTMENT).blobs
    path = next(blobs.rglob(row.ciphertext_hash.removeprefix("sha256:")))
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x40
    path.chmod(0o600)
    path.write_bytes(bytes(data))
    try:
        report = _doctor(people, _consortium_file(people))
        assert report.returncode == 1
        assert "BLOB_ALTERED" in report.stdout
        assert item.evidence_id in report.stdout
    finally:
        data[len(data) // 2] ^= 0x40
        path.write_bytes(bytes(data))  # leave the shared node clean for other tests
