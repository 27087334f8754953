"""The contracts the EvidenceNet chaincode serves."""

from chaincode.contracts.ping import PingContract
from chaincode.runtime import Contract


def default_contracts() -> list[Contract]:
    return [PingContract()]
