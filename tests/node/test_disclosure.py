"""Public disclosure of decisions: what a bulletin lists (read from the ledger's stage entries,
the index only narrowing which cases), its format's refusals, its offline verification, and
its page."""

from __future__ import annotations

import base64
import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from disclosurekit import (
    CHANNEL,
    DOCUMENT,
    NOW,
    OFFSET,
    ORG,
    OTHER,
    SINCE,
    UNTIL,
    CaseLedger,
    Pki,
    case,
    entry,
    index_row,
    tx,
)

from node.cli import main
from node.crypto.pki import KeyPair, issue
from node.crypto.signing import EcdsaSigner
from node.disclosure import (
    BulletinMalformed,
    DecisionUnreadable,
    Outcome,
    SignedBulletin,
    TooManyDecisions,
    collect_disclosures,
    issue_bulletin,
    render_page,
    verify_bulletin,
)
from node.disclosure import collect as collect_module
from node.index import IndexDatabase
from node.index.reports import Period
from schemas.glossary import Procedure, Stage
from schemas.ledger import SubjectKind, ledger_time

DAY = dt.timedelta(days=1)


@pytest.fixture(scope="module")
def pki() -> Pki:
    return Pki.make()


def _ledger_and_index(index: IndexDatabase) -> CaseLedger:
    """Five cases: a fine decided this month, a first-violation closing, a decision from
    last month, one decided by another department, one still under investigation."""
    ledger = CaseLedger()
    ledger.add(
        case("C-FINE", procedure=Procedure.SIMPLE, subject_kind=SubjectKind.PERSON),
        entry("C-FINE", 1, Stage.DECISION, SINCE + 3 * DAY),
        entry("C-FINE", 2, Stage.EXECUTION, SINCE + 4 * DAY, penalty=None),
    )
    ledger.add(
        case("C-FREE", stage=Stage.CLOSED_WITHOUT_PENALTY),
        entry("C-FREE", 1, Stage.PRELIMINARY_CHECK, SINCE - 9 * DAY, details={}),
        entry("C-FREE", 2, Stage.CLOSED_WITHOUT_PENALTY, SINCE + DAY),
    )
    ledger.add(
        case("C-OLD", stage=Stage.CLOSURE),
        entry("C-OLD", 1, Stage.DECISION, SINCE - DAY),
        entry("C-OLD", 2, Stage.CLOSURE, SINCE + 2 * DAY, penalty=None),
    )
    ledger.add(
        case("C-THEIRS", holder_org=OTHER),
        entry("C-THEIRS", 1, Stage.DECISION, SINCE + 5 * DAY, org=OTHER),
    )
    ledger.add(case("C-OPEN", stage=Stage.INVESTIGATION))
    for record in ledger.cases.values():
        index.upsert_case(index_row(record))
    return ledger


async def test_a_bulletin_lists_the_decisions_this_department_took_in_the_period(
    index: IndexDatabase,
) -> None:
    ledger = _ledger_and_index(index)
    notices = (await collect_disclosures(ledger, ORG, SINCE, UNTIL)).decisions
    assert [(n.case_id, n.outcome, n.amount_cents) for n in notices] == [
        ("C-FREE", Outcome.NO_PENALTY, 0),
        ("C-FINE", Outcome.PENALTY, 20_000),
    ]
    fine = notices[1]
    assert fine.procedure is Procedure.SIMPLE
    assert fine.subject_kind is SubjectKind.PERSON
    assert fine.decided_at == ledger_time(SINCE + 3 * DAY)
    assert fine.decision_tx == tx("C-FINE/1")
    assert str(fine.document_hash) == DOCUMENT
    assert fine.legal_basis.startswith("《城市市容")
    # The open case was never read: the ledger's index of decisions narrows.
    assert "C-OPEN" not in ledger.read
    # Nothing names the party: no subject key, no actor.
    dumped = json.dumps([n.model_dump(mode="json") for n in notices])
    assert "a" * 64 not in dumped
    assert "reviewer1" not in dumped


async def test_what_a_notice_says_comes_from_the_ledger_not_the_index(
    index: IndexDatabase,
) -> None:
    ledger = _ledger_and_index(index)
    # The index's copy is stale (an older violation type); the ledger's case is what counts.
    stale = index_row(ledger.cases["C-FINE"]) | {"violation_type": "garbage_pile"}
    index.upsert_case(stale)
    notices = (await collect_disclosures(ledger, ORG, SINCE, UNTIL)).decisions
    assert {n.violation_type.value for n in notices} == {"shopfront_operation"}


async def test_a_decision_entry_without_its_penalty_stops_the_bulletin(
    index: IndexDatabase,
) -> None:
    ledger = _ledger_and_index(index)
    ledger.history["C-FINE"][0] = entry("C-FINE", 1, Stage.DECISION, SINCE + DAY, penalty=None)
    with pytest.raises(DecisionUnreadable, match="C-FINE"):
        await collect_disclosures(ledger, ORG, SINCE, UNTIL)


async def test_more_decisions_than_a_bulletin_holds_are_refused(
    index: IndexDatabase, monkeypatch: pytest.MonkeyPatch
) -> None:
    ledger = _ledger_and_index(index)
    monkeypatch.setattr(collect_module, "MAX_DECISIONS", 1)
    with pytest.raises(TooManyDecisions, match="2 decisions and 0 withdrawals"):
        await collect_disclosures(ledger, ORG, SINCE, UNTIL)


async def _signed(index: IndexDatabase, pki: Pki, role: str = "reviewer") -> SignedBulletin:
    ledger = _ledger_and_index(index)
    identity, signer = pki.person(role)
    return issue_bulletin(
        (await collect_disclosures(ledger, ORG, SINCE, UNTIL)).decisions,
        channel=CHANNEL,
        signer_identity=identity,
        signer=signer,
        period=Period.MONTH,
        since=SINCE,
        until=UNTIL,
        utc_offset=OFFSET,
        now=NOW,
    )


@pytest.mark.parametrize("index", ["sqlite"], indirect=True)
async def test_an_untouched_bulletin_verifies_and_parses_back_to_itself(
    index: IndexDatabase, pki: Pki
) -> None:
    signed = await _signed(index, pki)
    raw = signed.canonical_bytes()
    assert SignedBulletin.parse(raw) == signed
    report = verify_bulletin(raw, pki.anchors())
    assert report.ok, report.render()
    assert report.to_json()["decisions"] == 2
    assert "VERIFIED" in report.render()


def _edit(raw: bytes, change: Any) -> bytes:
    doc = json.loads(raw)
    change(doc)
    return json.dumps(doc).encode()


def _resign(signed: SignedBulletin, identity: Any, signer: Any, **fields: Any) -> bytes:
    bulletin = signed.bulletin.model_copy(update=fields)
    signature = signer.sign(bulletin.canonical_bytes())
    return SignedBulletin(
        bulletin=bulletin,
        signature=base64.b64encode(signature).decode(),
        signer=identity.cert_pem.decode(),
    ).canonical_bytes()


@pytest.mark.parametrize("index", ["sqlite"], indirect=True)
async def test_each_tampering_is_named(index: IndexDatabase, pki: Pki) -> None:
    signed = await _signed(index, pki)
    raw = signed.canonical_bytes()

    def amount(doc: dict[str, Any]) -> None:
        doc["bulletin"]["decisions"][1]["amount_cents"] = 100

    def dropped(doc: dict[str, Any]) -> None:
        del doc["bulletin"]["decisions"][0]

    def other_signer(doc: dict[str, Any]) -> None:
        doc["signer"] = pki.person("reviewer")[0].cert_pem.decode()

    cases = {
        "SIGNATURE_INVALID": [_edit(raw, amount), _edit(raw, dropped), _edit(raw, other_signer)],
    }
    outsider, outsider_key = pki.person("reviewer", ca=pki.other_ca)
    cases["SIGNER_UNTRUSTED"] = [_resign(signed, outsider, outsider_key)]
    officer, officer_key = pki.person("officer")
    cases["SIGNER_NOT_PUBLISHER"] = [_resign(signed, officer, officer_key)]
    future, future_key = pki.person("reviewer", at=NOW + 2 * DAY)
    cases["CERTIFICATE_EXPIRED"] = [_resign(signed, future, future_key)]
    for code, tampered in cases.items():
        for bad in tampered:
            report = verify_bulletin(bad, pki.anchors())
            assert report.codes == {code}, (code, report.render())
    # An admin may publish too.
    admin, admin_key = pki.person("admin")
    assert verify_bulletin(_resign(signed, admin, admin_key), pki.anchors()).ok
    # Anchors of another channel, or roots given as a PEM bundle, do not vouch for it.
    assert verify_bulletin(raw, pki.anchors("other")).codes == {"CHANNEL_MISMATCH"}
    assert verify_bulletin(raw, pki.ca.cert_pem).codes == {"TRUST_ANCHORS_MALFORMED"}
    assert verify_bulletin(raw, b"{}").codes == {"TRUST_ANCHORS_MALFORMED"}


def _intermediate(
    root: KeyPair, *, ca: bool = True, until: dt.datetime = NOW + 365 * DAY
) -> KeyPair:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "ica.urbanmanagement.evnet")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(root.certificate.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - 10 * DAY)
        .not_valid_after(until)
        .add_extension(x509.BasicConstraints(ca=ca, path_length=0 if ca else None), critical=True)
        .sign(serialization.load_pem_private_key(root.key_pem, None), hashes.SHA256())  # type: ignore[arg-type]
    )
    pem = serialization.PrivateFormat.PKCS8
    return KeyPair(
        cert.public_bytes(serialization.Encoding.PEM),
        key.private_bytes(serialization.Encoding.PEM, pem, serialization.NoEncryption()),
    )


@pytest.mark.parametrize("index", ["sqlite"], indirect=True)
async def test_a_signer_under_an_intermediate_ca_verifies_with_the_intermediate_enclosed(
    index: IndexDatabase, pki: Pki
) -> None:
    signed = await _signed(index, pki)
    ica = _intermediate(pki.ca)
    bare = _under(signed, ica, [])
    assert verify_bulletin(bare, pki.anchors()).codes == {"SIGNER_UNTRUSTED"}
    assert verify_bulletin(_under(signed, ica, [ica]), pki.anchors()).ok
    # An intermediate that had lapsed when the bulletin was issued does not count.
    lapsed = _intermediate(pki.ca, until=NOW - DAY)
    late = _under(signed, lapsed, [lapsed], at=NOW - 2 * DAY)
    assert verify_bulletin(late, pki.anchors()).codes == {"SIGNER_UNTRUSTED"}
    # A certificate that is no CA does not extend the chain, though its key signed the leaf.
    posing = _intermediate(pki.ca, ca=False)
    posed = _under(signed, posing, [posing])
    assert verify_bulletin(posed, pki.anchors()).codes == {"SIGNER_UNTRUSTED"}


def _under(
    signed: SignedBulletin, ca: KeyPair, enclosed: list[KeyPair], at: dt.datetime = NOW - DAY
) -> bytes:
    """``signed``'s bulletin signed again by a reviewer whom ``ca`` issued, with the
    ``enclosed`` intermediates."""
    pair = issue(ca, "reviewer9", "urbanmanagement.evnet", at, attributes={"role": "reviewer"})
    signature = EcdsaSigner.from_pem(pair.key_pem).sign(signed.bulletin.canonical_bytes())
    return signed.model_copy(
        update={
            "signature": base64.b64encode(signature).decode(),
            "signer": pair.cert_pem.decode(),
            "intermediates": [i.cert_pem.decode() for i in enclosed],
        }
    ).canonical_bytes()


@pytest.mark.parametrize("index", ["sqlite"], indirect=True)
async def test_a_malformed_bulletin_is_refused_with_what_is_wrong(
    index: IndexDatabase, pki: Pki
) -> None:
    raw = (await _signed(index, pki)).canonical_bytes()
    late = ledger_time(UNTIL + DAY)
    bad = {
        "malformed JSON": b"\xff{",
        "duplicate key": b'{"bulletin": {}, "bulletin": {}}',
        "format 'evidencenet-bulletin/9'": _edit(
            raw, lambda d: d["bulletin"].update(format="evidencenet-bulletin/9")
        ),
        "decided outside the period": _edit(
            raw, lambda d: d["bulletin"]["decisions"][0].update(decided_at=late)
        ),
        "listed twice": _edit(
            raw,
            lambda d: d["bulletin"]["decisions"].append(d["bulletin"]["decisions"][1]),
        ),
        "not in the order": _edit(raw, lambda d: d["bulletin"]["decisions"].reverse()),
        "no-penalty decision has no amount": _edit(
            raw, lambda d: d["bulletin"]["decisions"][0].update(amount_cents=5)
        ),
        "since must come before until": _edit(
            raw, lambda d: d["bulletin"].update(until=d["bulletin"]["since"])
        ),
        "not a month": _edit(
            raw, lambda d: d["bulletin"].update(until=ledger_time(UNTIL + 90 * DAY))
        ),
        "signature: not base64": _edit(raw, lambda d: d.update(signature="%%%")),
        "Extra inputs": _edit(raw, lambda d: d["bulletin"].update(party="someone")),
        "larger than": raw + b" " * (32 << 20),
    }
    for why, data in bad.items():
        with pytest.raises(BulletinMalformed, match=why):
            SignedBulletin.parse(data)
        report = verify_bulletin(data, pki.anchors())
        assert report.codes == {"BULLETIN_MALFORMED"}, why


@pytest.mark.parametrize("index", ["sqlite"], indirect=True)
async def test_the_page_shows_each_decision_in_chinese_and_english_escaped(
    index: IndexDatabase, pki: Pki
) -> None:
    signed = await _signed(index, pki)
    fine = signed.bulletin.decisions[1].model_copy(update={"legal_basis": "<script>x</script>"})
    signed = signed.model_copy(
        update={"bulletin": signed.bulletin.model_copy(update={"decisions": [fine]})}
    )
    html = render_page(signed)
    assert "城市管理综合行政执法局 行政处罚决定公示" in html
    assert "2026-11-01 至 2026-11-30" in html  # the department's days, UTC+08:00
    assert "罚款 ¥200.00" in html
    assert "简易程序" in html
    assert "个人(信息已隐去)" in html
    assert "出店经营" in html
    assert tx("C-FINE/1") in html
    assert DOCUMENT[7:] in html
    assert "<script>" not in html
    assert "&lt;script&gt;" in html
    assert "审核人员" in html  # who signed, by role


@pytest.mark.parametrize("index", ["sqlite"], indirect=True)
async def test_the_verify_command_exits_by_the_verdict_and_reads_no_more_than_a_bulletin(
    index: IndexDatabase, pki: Pki, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    raw = (await _signed(index, pki)).canonical_bytes()
    good, anchors = tmp_path / "bulletin.json", tmp_path / "anchors.json"
    good.write_bytes(raw)
    anchors.write_bytes(pki.anchors())
    assert main(["verify-bulletin", str(good), "--trust", str(anchors)]) == 0
    assert "VERIFIED" in capsys.readouterr().out
    bad = tmp_path / "tampered.json"
    bad.write_bytes(raw.replace(b'"amount_cents":20000', b'"amount_cents":2000'))
    assert main(["verify-bulletin", str(bad), "--trust", str(anchors), "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] is False
    assert [f["code"] for f in report["failures"]] == ["SIGNATURE_INVALID"]
    huge = tmp_path / "huge.json"
    with huge.open("wb") as f:
        f.truncate(64 << 20)  # sparse: only what the format allows is read
    assert main(["verify-bulletin", str(huge), "--trust", str(anchors)]) == 1
    assert "BULLETIN_MALFORMED: larger than" in capsys.readouterr().out
    assert main(["verify-bulletin", str(tmp_path / "gone.json"), "--trust", str(anchors)]) == 2
    assert "FILE_UNREADABLE" in capsys.readouterr().err


def test_the_disclose_command_refuses_a_bad_or_future_period_before_anything_else(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    base = ["disclose", "--org", "UrbanManagement", "--user", "reviewer1", "--out", str(tmp_path)]
    assert main([*base, "--on", "2026-02-30"]) == 2
    assert "BAD_ARGUMENT" in capsys.readouterr().err
    assert main([*base, "--utc-offset", "8"]) == 2
    assert "BAD_ARGUMENT" in capsys.readouterr().err
    assert main([*base, "--on", "2999-01-01", "--period", "day"]) == 2
    assert "PERIOD_NOT_BEGUN" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())
