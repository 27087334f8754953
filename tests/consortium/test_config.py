"""The consortium file: the default parses, a fourth department is a config edit, and
every malformed file is one line naming the problem."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from node.consortium import ConsortiumConfigError, load_consortium
from node.consortium.config import Consortium

DEFAULT = Path(__file__).resolve().parents[2] / "network-config" / "consortium.yaml"


def _default_doc() -> dict[str, object]:
    doc = yaml.safe_load(DEFAULT.read_text())
    assert isinstance(doc, dict)
    return doc


def _load(doc: object) -> Consortium:
    return Consortium.from_yaml(yaml.safe_dump(doc), source="test.yaml")


def test_default_consortium_has_three_raft_orderers_and_three_departments() -> None:
    c = load_consortium(DEFAULT)
    assert c.channel == "evidence"
    assert c.orderers.consensus == "raft"
    assert len(c.orderers.nodes) == 3
    assert [d.name for d in c.departments] == [
        "UrbanManagement",
        "PublicSecurity",
        "MarketSupervision",
    ]
    assert all(d.msp_id == f"{d.name}MSP" for d in c.departments)


def test_adding_housing_construction_is_a_config_edit() -> None:
    doc = _default_doc()
    deps = doc["departments"]
    assert isinstance(deps, list)
    deps.append(
        {
            "name": "HousingConstruction",
            "msp_id": "HousingConstructionMSP",
            "peer": {
                "name": "peer0",
                "host": "127.0.0.1",
                "port": 7451,
                "chaincode_port": 7452,
                "operations_port": 9451,
            },
            "chaincode_server": {"host": "127.0.0.1", "port": 7459},
        }
    )
    c = _load(doc)
    assert c.department("HousingConstruction").domain == "housingconstruction.evnet"
    assert {b[2] for b in c.bindings("HousingConstruction")} == {7451, 7452, 9451, 7459}


def _one_line_error(doc: object) -> str:
    with pytest.raises(ConsortiumConfigError) as info:
        _load(doc)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith("test.yaml")
    return message


def test_port_assigned_twice_is_rejected() -> None:
    doc = _default_doc()
    doc["departments"][1]["peer"]["port"] = 7151  # type: ignore[index]
    assert "port 7151 on 127.0.0.1 is assigned twice" in _one_line_error(doc)


def test_duplicate_msp_id_is_rejected() -> None:
    doc = _default_doc()
    doc["departments"][2]["msp_id"] = "UrbanManagementMSP"  # type: ignore[index]
    assert "duplicate MSP id" in _one_line_error(doc)


def test_unknown_field_names_its_location() -> None:
    doc = _default_doc()
    doc["departments"][0]["peer"]["prot"] = 1  # type: ignore[index]
    assert "departments.0.peer.prot" in _one_line_error(doc)


def test_bft_needs_four_orderers() -> None:
    doc = _default_doc()
    doc["orderers"]["consensus"] = "bft"  # type: ignore[index]
    assert "at least 4 orderer nodes" in _one_line_error(doc)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("version: 1\nchannel: [unclosed\n", "line"),
        ("- just\n- a list\n", "expected a mapping"),
        ("version: 2\n", "version"),
    ],
)
def test_malformed_text_is_one_line(text: str, expected: str) -> None:
    with pytest.raises(ConsortiumConfigError) as info:
        Consortium.from_yaml(text, source="test.yaml")
    assert expected in str(info.value)
    assert "\n" not in str(info.value)


def test_missing_file_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(ConsortiumConfigError, match="cannot read consortium file"):
        load_consortium(tmp_path / "nope.yaml")


def test_a_file_that_is_not_utf8_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "consortium.yaml"
    path.write_bytes("channel: 证据\n".encode("gbk"))
    with pytest.raises(ConsortiumConfigError, match="not UTF-8 text") as info:
        load_consortium(path)
    assert "\n" not in str(info.value)


def test_unknown_department_lists_the_known_ones() -> None:
    c = load_consortium(DEFAULT)
    with pytest.raises(ConsortiumConfigError, match="known: UrbanManagement"):
        c.department("Nowhere")
