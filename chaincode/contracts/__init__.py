"""The contracts the EvidenceNet chaincode serves."""

from chaincode.contracts.access import AccessContract
from chaincode.contracts.cases import CasesContract
from chaincode.contracts.derivations import DerivationsContract
from chaincode.contracts.evidence import EvidenceContract
from chaincode.contracts.org_keys import OrgKeysContract
from chaincode.contracts.penalties import PenaltiesContract
from chaincode.contracts.ping import PingContract
from chaincode.contracts.private_notes import PrivateNotesContract
from chaincode.contracts.publications import PublicationsContract
from chaincode.contracts.service import ServiceContract
from chaincode.contracts.set_aside import SetAsideContract
from chaincode.contracts.transfers import TransfersContract
from chaincode.contracts.violations import ViolationsContract
from chaincode.runtime import Contract


def default_contracts() -> list[Contract]:
    return [
        PingContract(),
        OrgKeysContract(),
        EvidenceContract(),
        AccessContract(),
        CasesContract(),
        TransfersContract(),
        PenaltiesContract(),
        PrivateNotesContract(),
        ViolationsContract(),
        DerivationsContract(),
        PublicationsContract(),
        SetAsideContract(),
        ServiceContract(),
    ]
