"""Packages, the verifier upload and attaching evidence, through the gateway over the fake
ledger. Building a complete package needs real blocks: tests/network/test_gateway_packages.py
does that; here every refusal, and that a refusal leaves nothing behind."""

from __future__ import annotations

import hashlib
import io
import tarfile
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from gatewaykit import FakeLedger, Kit, build
from test_gateway_access import filing
from test_gateway_devices import assert_problem, parts, submit

from gateway.routes import packages
from node.crypto.sealing import IntegrityError
from node.package import ArchiveStream, ClaimsArchive, Exporter, Report, verify_package
from node.package.archive_file import STAGE
from node.vault import KeyNotFound
from schemas.glossary import AccessKind, Outcome


def _exporter(kit: Kit, user: str, org: str = "UrbanManagementMSP") -> Exporter:
    # The real builder over the fake ledger: it gets as far as the access records, which is
    # where every refusal happens. Proof queries are never reached in these tests.
    return Exporter(
        ledger=FakeLedger(kit.chain, user),  # type: ignore[arg-type]
        queries=None,  # type: ignore[arg-type]
        parts=None,  # type: ignore[arg-type]
        claims=ClaimsArchive(kit.root / "claims"),
        identity=SimpleNamespace(msp_id=org),  # type: ignore[arg-type]
        signer=None,  # type: ignore[arg-type]
    )


@pytest.fixture
def kit(tmp_path: Path) -> Kit:
    made: list[Kit] = []
    k = build(
        tmp_path,
        exporter_for=lambda user: _exporter(made[0], user),
        claims=ClaimsArchive(tmp_path / "claims"),
    )
    made.append(k)
    return k


@pytest.fixture
def items(kit: Kit) -> list[str]:
    resp = submit(kit, parts(kit))
    assert resp.status_code == 201, resp.text
    return [i["evidence_id"] for i in resp.json()["items"]]


def _file_case(kit: Kit, case_id: str = "case-1", **changes: Any) -> None:
    resp = kit.client.post("/cases", json=filing(case_id, **changes), headers=kit.token("officer1"))
    assert resp.status_code == 201, resp.text


# --- device claims are kept for packages ---------------------------------------------------


def test_ingest_keeps_the_signed_claims_for_packages(kit: Kit, items: list[str]) -> None:
    assert kit.deps.claims is not None
    kept = kit.deps.claims.get(items[0])
    assert kept.to_json()["claims"]["media"][0]["name"] == "keyframe.jpg"


# --- attach evidence -----------------------------------------------------------------------


def test_officer_attaches_evidence_idempotently(kit: Kit, items: list[str]) -> None:
    _file_case(kit)
    body = {"evidence_ids": [items[0], items[0]]}
    first = kit.client.post("/cases/case-1/evidence", json=body, headers=kit.token("officer1"))
    assert first.status_code == 200, first.text
    assert [a["evidence_id"] for a in first.json()["attached"]] == [items[0]]
    assert first.json()["attached"][0]["tx_id"]
    again = kit.client.post("/cases/case-1/evidence", json=body, headers=kit.token("officer1"))
    assert again.status_code == 200, again.text
    assert kit.chain.attached["case-1"] == [items[0]]


@pytest.mark.parametrize("user", ["reviewer1", "auditor1", "partner1", "edge-07"])
def test_only_officers_attach(kit: Kit, items: list[str], user: str) -> None:
    _file_case(kit)
    resp = kit.client.post(
        "/cases/case-1/evidence", json={"evidence_ids": items}, headers=kit.token(user)
    )
    assert_problem(resp, 403, "ACCESS_DENIED")
    assert kit.chain.attached["case-1"] == []


def test_attach_refusals(kit: Kit, items: list[str]) -> None:
    officer = kit.token("officer1")
    url = "/cases/case-1/evidence"
    assert_problem(kit.client.post(url, json={"evidence_ids": items}), 401, "UNAUTHENTICATED")
    assert_problem(
        kit.client.post(url, json={"evidence_ids": items}, headers=officer), 404, "NOT_FOUND"
    )
    _file_case(kit)
    assert_problem(
        kit.client.post(url, json={"evidence_ids": ["no-such-item"]}, headers=officer),
        404,
        "NOT_FOUND",
    )
    for bad in ({"evidence_ids": []}, {"evidence_ids": ["x" * 129]}, {"ids": items}, [1]):
        assert_problem(kit.client.post(url, json=bad, headers=officer), 422, "INVALID_REQUEST")
    assert kit.chain.attached["case-1"] == []


# --- building a package --------------------------------------------------------------------


def test_package_refusals_before_any_access(kit: Kit, items: list[str]) -> None:
    url = "/cases/case-1/packages"
    assert_problem(kit.client.post(url), 401, "UNAUTHENTICATED")
    for user in ("auditor1", "edge-07", "admin"):
        assert_problem(kit.client.post(url, headers=kit.token(user)), 403, "ACCESS_DENIED")
    assert_problem(kit.client.post(url, headers=kit.token("officer1")), 404, "NOT_FOUND")
    _file_case(kit)
    assert_problem(kit.client.post(url, headers=kit.token("officer1")), 409, "CASE_HAS_NO_EVIDENCE")
    assert_problem(
        kit.client.post(url, params={"purpose": ""}, headers=kit.token("officer1")),
        422,
        "INVALID_REQUEST",
    )
    assert kit.chain.accesses == []  # nothing was recorded, so nothing was read
    assert kit.spooled() == []


@pytest.mark.parametrize("purpose", ["Bad Purpose", "1st", "x" * 65, "court/export"])
def test_a_purpose_that_is_not_a_code_is_refused_before_any_access(
    kit: Kit, items: list[str], purpose: str
) -> None:
    _file_case(kit, evidence_ids=items)
    url = "/cases/case-1/packages"
    resp = kit.client.post(url, params={"purpose": purpose}, headers=kit.token("officer1"))
    assert_problem(resp, 422, "INVALID_REQUEST")
    assert kit.chain.accesses == []
    assert kit.spooled() == []


def test_partner_without_a_grant_is_denied_and_the_denial_recorded(
    kit: Kit, items: list[str]
) -> None:
    _file_case(kit, evidence_ids=items)
    # The brief's path and the path are one route.
    for url in ("/cases/case-1/package", "/cases/case-1/packages"):
        resp = kit.client.post(url, headers=kit.token("partner1"))
        assert_problem(resp, 403, "ACCESS_DENIED")
        record = resp.headers["x-access-record"]
        denial = next(r for r in kit.chain.accesses if r.record_id == record)
        assert denial.outcome is Outcome.DENIED
        assert denial.kind is AccessKind.PACKAGE
        assert denial.purpose == "evidence_package"
    assert kit.spooled() == []


def test_without_an_exporter_packages_are_501(tmp_path: Path) -> None:
    kit = build(tmp_path)
    resp = kit.client.post("/cases/case-1/packages", headers=kit.token("officer1"))
    assert_problem(resp, 501, "PACKAGES_NOT_CONFIGURED")


# --- verifying an uploaded package ---------------------------------------------------------


def _tar(members: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:") as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return out.getvalue()


def _verify(kit: Kit, data: bytes, user: str = "auditor1", **extra: Any) -> Any:
    files: list[tuple[str, Any]] = [("package", ("case.tar", data, "application/x-tar"))]
    files += [(k, (None, v)) for k, v in extra.items()]
    return kit.client.post("/packages/verify", files=files, headers=kit.token(user))


@pytest.mark.parametrize("user", ["officer1", "reviewer1", "auditor1", "partner1", "admin"])
def test_anyone_authenticated_gets_the_verifiers_report(kit: Kit, user: str) -> None:
    data = _tar({"manifest.json": b"{}", "evidence/x": b"bytes"})
    resp = _verify(kit, data, user)
    assert resp.status_code == 200, resp.text
    report = resp.json()
    assert report["ok"] is False
    assert report["package"] == "case.tar"  # never the spool path
    # The same report as evnet verify on the same bytes.
    copy = kit.root / "copy.tar"
    copy.write_bytes(data)
    expected = verify_package(copy).to_json()
    assert report["failures"] == expected["failures"]
    assert {"MEMBER_MISSING", "MANIFEST_MALFORMED"} <= {f["code"] for f in report["failures"]}
    assert kit.spooled() == []


def test_a_verification_request_hashes_in_one_thread(
    kit: Kit, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A server's cores go to its concurrent requests: each verification hashes in one thread
    # (evnet verify, on a court's laptop, uses the machine's cores).
    asked: list[int] = []

    def counted(path: Path, trust: bytes | None = None, *, hash_workers: int = 4) -> Report:
        asked.append(hash_workers)
        return verify_package(path, trust, hash_workers=hash_workers)

    monkeypatch.setattr(packages, "verify_package", counted)
    resp = _verify(kit, _tar({"manifest.json": b"{}"}))
    assert resp.status_code == 200, resp.text
    assert asked == [1]


def test_verify_refusals(kit: Kit) -> None:
    url = "/packages/verify"
    tar = _tar({"manifest.json": b"{}"})
    assert_problem(
        kit.client.post(url, files=[("package", ("a.tar", tar))]), 401, "UNAUTHENTICATED"
    )
    auditor = kit.token("auditor1")
    assert_problem(_verify(kit, b"just some bytes, no tar" * 40), 422, "NOT_A_PACKAGE")
    small = build(kit.root / "small", max_upload_bytes=64 * 1024)
    assert_problem(_verify(small, b"\x00" * (64 * 1024 + 1)), 413, "TOO_LARGE")
    assert small.spooled() == []
    assert_problem(
        kit.client.post(url, content=tar, headers={**auditor, "content-type": "application/x-tar"}),
        415,
        "UNSUPPORTED_MEDIA_TYPE",
    )
    assert_problem(
        kit.client.post(url, files=[("trust", (None, b"pem"))], headers=auditor),
        422,
        "MISSING_PART",
    )
    two = [("a", ("a.tar", tar)), ("b", ("b.tar", tar))]
    assert_problem(kit.client.post(url, files=two, headers=auditor), 422, "MISSING_PART")
    assert_problem(
        kit.client.post(url, files=[("package", ("../a.tar", tar))], headers=auditor),
        422,
        "BAD_FILE_NAME",
    )
    assert kit.spooled() == []


def test_an_item_this_node_cannot_read_is_a_clear_problem(
    kit: Kit, items: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    _file_case(kit, evidence_ids=items)

    async def keyless(case_id: str, exporter: Exporter, stream: ArchiveStream, *_: object) -> None:
        # The builder's check before its stream opens, once the accesses are recorded:
        # the node has no data key for an item.
        stream.discard()
        raise KeyNotFound(items[0])

    monkeypatch.setattr(packages, "stream_package", keyless)
    resp = kit.client.post("/cases/case-1/packages", headers=kit.token("officer1"))
    assert_problem(resp, 500, "EVIDENCE_UNAVAILABLE")  # our own item: a damaged store
    assert kit.spooled() == []


PACKAGE = hashlib.shake_256(b"a package").digest(2 * STAGE + 1000)


def _streaming(fail_after_open: bool) -> Any:
    """A builder that writes PACKAGE into its stream as the real one does: part of it
    before the stream opens, the rest after (or a failure after its first stage)."""

    async def build(
        case_id: str,
        exporter: Exporter,
        stream: ArchiveStream,
        staging: Path,
        on_open: Callable[[list[str]], object],
        purpose: str,
    ) -> None:
        stream.write(PACKAGE[:1000])
        stream.open()
        on_open(["record-1", "record-2"])
        stream.write(PACKAGE[1000:STAGE])
        if fail_after_open:
            stream.fail()
            stream.discard()
            raise IntegrityError()
        stream.write(PACKAGE[STAGE:])
        stream.close()

    return build


def _download(
    kit: Kit, items: list[str], monkeypatch: pytest.MonkeyPatch, *, fail_after_open: bool
) -> Any:
    _file_case(kit, evidence_ids=items)
    monkeypatch.setattr(packages, "stream_package", _streaming(fail_after_open))
    return kit.client.post("/cases/case-1/packages", headers=kit.token("officer1"))


def test_the_package_is_streamed_with_its_export_records(
    kit: Kit, items: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    resp = _download(kit, items, monkeypatch, fail_after_open=False)
    assert resp.status_code == 200, resp.text
    assert resp.content == PACKAGE
    assert resp.headers["content-type"] == "application/x-tar"
    assert resp.headers["content-disposition"] == 'attachment; filename="case-1.tar"'
    assert resp.headers["x-access-record"] == "record-1,record-2"
    assert resp.headers["x-access-records-total"] == "2"
    assert kit.spooled() == []  # never stored on the gateway


def test_a_build_failing_mid_stream_cuts_the_download(
    kit: Kit, items: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    resp = _download(kit, items, monkeypatch, fail_after_open=True)
    # The headers went out when the stream opened; the body stops short where the build
    # failed: the client holds a cut archive, which no verifier accepts, never a whole one.
    assert resp.status_code == 200
    assert len(resp.content) < len(PACKAGE)
    assert PACKAGE.startswith(resp.content)


def _foreign_kit(tmp_path: Path) -> Kit:
    """A gateway exporting as PublicSecurity, without an exchange to the items' owner."""
    made: list[Kit] = []
    kit = build(
        tmp_path,
        exporter_for=lambda user: _exporter(made[0], user, org="PublicSecurityMSP"),
        claims=ClaimsArchive(tmp_path / "claims"),
    )
    made.append(kit)
    resp = submit(kit, parts(kit))
    assert resp.status_code == 201, resp.text
    _file_case(kit, evidence_ids=[i["evidence_id"] for i in resp.json()["items"]])
    return kit


def test_another_departments_item_without_an_exchange_is_501_and_nothing_is_recorded(
    tmp_path: Path,
) -> None:
    kit = _foreign_kit(tmp_path)
    resp = kit.client.post("/cases/case-1/packages", headers=kit.token("officer1"))
    assert_problem(resp, 501, "REMOTE_EVIDENCE_NOT_SUPPORTED")
    assert "UrbanManagementMSP" in resp.json()["detail"]
    assert kit.chain.accesses == []  # refused before the export was recorded
    assert kit.spooled() == []


def test_without_an_exchange_a_denied_export_is_still_recorded_as_denied(
    tmp_path: Path,
) -> None:
    # The ledger decides first: a partner with no grant is refused and the refusal is in
    # the trail, whatever this gateway could have fetched.
    kit = _foreign_kit(tmp_path)
    resp = kit.client.post("/cases/case-1/packages", headers=kit.token("partner1"))
    assert_problem(resp, 403, "ACCESS_DENIED")
    [denial, *_] = kit.chain.accesses
    assert denial.record_id == resp.headers["x-access-record"]
    assert (denial.outcome, denial.kind) == (Outcome.DENIED, AccessKind.PACKAGE)
    assert kit.spooled() == []


def test_a_grant_between_the_evaluation_and_the_export_is_still_a_clear_501(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Evaluated as denied (so the export goes on to record the denial), granted by the time
    # it is recorded: the items still cannot be fetched here, and the answer says so.
    kit = _foreign_kit(tmp_path)
    real = FakeLedger.preview_access

    async def denied_then(self: FakeLedger, req: Any) -> Any:
        record = await real(self, req)
        return record.model_copy(update={"outcome": Outcome.DENIED, "reason": "no_grant"})

    monkeypatch.setattr(FakeLedger, "preview_access", denied_then)
    resp = kit.client.post("/cases/case-1/packages", headers=kit.token("officer1"))
    assert_problem(resp, 501, "REMOTE_EVIDENCE_NOT_SUPPORTED")
    assert {r.outcome for r in kit.chain.accesses} == {Outcome.GRANTED}  # recorded, honestly
    assert kit.spooled() == []
