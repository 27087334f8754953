"""Trust anchors: the file a court pins (each MSP's roots by id, the ordering MSPs), its
refusals, and the command that exports it. The verifier's use of them runs on the real
network: tests/network/test_package_network.py."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from node.cli import main
from node.consortium.config import load_consortium
from node.consortium.identities import org_crypto
from node.crypto.pki import create_ca
from node.package.anchors import MAX_BYTES, TrustAnchors, TrustAnchorsMalformed, is_anchors
from node.settings import Settings

T0 = dt.datetime(2026, 3, 1, 8, tzinfo=dt.UTC)


@pytest.fixture(scope="module")
def roots() -> dict[str, list[bytes]]:
    return {
        msp: [create_ca(f"ca.{msp.lower()}", msp, T0).cert_pem]
        for msp in ("OrdererMSP", "UrbanManagementMSP", "PublicSecurityMSP")
    }


def _doc(roots: dict[str, list[bytes]]) -> dict[str, object]:
    anchors = TrustAnchors.build("evidence", ["OrdererMSP"], roots)
    doc: dict[str, object] = json.loads(anchors.canonical_bytes())
    return doc


def test_anchors_round_trip_as_canonical_json(roots: dict[str, list[bytes]]) -> None:
    anchors = TrustAnchors.build("evidence", ["OrdererMSP"], roots)
    raw = anchors.canonical_bytes()
    assert is_anchors(raw)
    assert not is_anchors(roots["OrdererMSP"][0])  # a PEM bundle of roots
    again = TrustAnchors.parse(raw)
    assert again == anchors
    assert again.canonical_bytes() == raw
    assert list(json.loads(raw)) == sorted(json.loads(raw))  # keys sorted: canonical
    [root] = again.certificates("UrbanManagementMSP")
    assert root.public_bytes(serialization.Encoding.PEM) == roots["UrbanManagementMSP"][0]
    assert again.certificates("MarketRegulationMSP") == []


@pytest.mark.parametrize(
    ("edit", "says"),
    [
        (lambda d: d.update(format="evidencenet-trust/2"), "format"),
        (lambda d: d.update(orderer_msps=["NobodyMSP"]), "orderer MSPs without roots: NobodyMSP"),
        (lambda d: d.update(orderer_msps=[]), "orderer_msps"),
        (lambda d: d["roots"].update(UrbanManagementMSP=["not a certificate"]), "not a PEM"),
        (lambda d: d["roots"].update(UrbanManagementMSP=[]), "roots.UrbanManagementMSP"),
        (lambda d: d["roots"].update({"bad msp!": d["roots"]["OrdererMSP"]}), "roots"),
        (lambda d: d.update(channel="Evidence Channel"), "channel"),
        (lambda d: d.update(extra=1), "extra"),
        (lambda d: d.update(orderer_msps="OrdererMSP"), "orderer_msps"),
    ],
)
def test_malformed_anchors_are_refused_with_what_is_wrong(
    roots: dict[str, list[bytes]], edit: object, says: str
) -> None:
    doc = _doc(roots)
    edit(doc)  # type: ignore[operator]
    with pytest.raises(TrustAnchorsMalformed, match=says):
        TrustAnchors.parse(json.dumps(doc).encode())


@pytest.mark.parametrize(
    ("raw", "says"),
    [
        (b"{not json", "malformed JSON"),
        (b"\xff{", "malformed JSON"),
        (b'{"channel": "a", "channel": "b"}', "duplicate key"),
        (b"[]", "file"),
        (b"{" + b" " * MAX_BYTES + b"}", "larger than"),
    ],
)
def test_what_is_not_an_anchors_file_is_refused(raw: bytes, says: str) -> None:
    with pytest.raises(TrustAnchorsMalformed, match=says):
        TrustAnchors.parse(raw)


def test_the_export_command_names_what_is_missing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Before the network was ever brought up there is no CA to anchor: a clear error."""
    monkeypatch.setenv("EVNET_STATE_DIR", str(tmp_path / "state"))
    assert main(["trust-anchors", "--out", str(tmp_path / "anchors.json")]) == 1
    err = capsys.readouterr().err
    assert "IDENTITY_INVALID" in err
    assert "evnet network up" in err
    assert not (tmp_path / "anchors.json").exists()


def test_the_export_command_writes_each_msps_root_and_names_an_unwritable_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    state = tmp_path / "state"
    monkeypatch.setenv("EVNET_STATE_DIR", str(state))
    consortium = load_consortium(Settings.from_environment().consortium_file)
    orgs = {d.name: d.msp_id for d in consortium.departments}
    orgs[consortium.orderers.org] = consortium.orderers.msp_id
    for org, msp in orgs.items():
        ca = org_crypto(state, consortium, org).ca_cert
        ca.parent.mkdir(parents=True)
        ca.write_bytes(create_ca(f"ca.{org.lower()}", msp, T0).cert_pem)
    out = tmp_path / "anchors.json"
    assert main(["trust-anchors", "--out", str(out)]) == 0
    anchors = TrustAnchors.parse(out.read_bytes())
    assert anchors.channel == consortium.channel
    assert anchors.orderer_msps == [consortium.orderers.msp_id]
    assert set(anchors.roots) == set(orgs.values())
    for org, msp in orgs.items():
        pem = org_crypto(state, consortium, org).ca_cert.read_bytes()
        assert anchors.roots[msp] == [pem.decode()]
    capsys.readouterr()
    blocked = tmp_path / "a-file"
    blocked.write_bytes(b"")
    assert main(["trust-anchors", "--out", str(blocked / "anchors.json")]) == 2
    assert "FILE_UNWRITABLE" in capsys.readouterr().err
