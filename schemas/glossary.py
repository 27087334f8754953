"""One identifier per concept (see GLOSSARY in docs): departments, roles, stages, kinds."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    """Roles carried in user certificates (attribute ``role``)."""

    OFFICER = "officer"
    REVIEWER = "reviewer"
    AUDITOR = "auditor"
    PARTNER = "partner"
    DEVICE = "device"
    ADMIN = "admin"


class Department(StrEnum):
    """Departments of the default consortium; the MSP id is the name plus ``MSP``."""

    URBAN_MANAGEMENT = "UrbanManagement"
    PUBLIC_SECURITY = "PublicSecurity"
    MARKET_SUPERVISION = "MarketSupervision"
    HOUSING_CONSTRUCTION = "HousingConstruction"
    TRAFFIC_POLICE = "TrafficPolice"

    @property
    def msp_id(self) -> str:
        return f"{self.value}MSP"


ROLE_ZH: dict[Role, str] = {
    Role.OFFICER: "执法队员",
    Role.REVIEWER: "审核人员",
    Role.AUDITOR: "监督审计",
    Role.PARTNER: "协作部门用户",
    Role.DEVICE: "前端设备",
    Role.ADMIN: "管理员",
}

DEPARTMENT_ZH: dict[Department, str] = {
    Department.URBAN_MANAGEMENT: "城市管理综合行政执法局",
    Department.PUBLIC_SECURITY: "公安局",
    Department.MARKET_SUPERVISION: "市场监督管理局",
    Department.HOUSING_CONSTRUCTION: "住房和城乡建设局",
    Department.TRAFFIC_POLICE: "交警",
}

# Fabric CA encodes enrollment attributes as JSON {"attrs": {...}} in this X.509 extension;
# the chaincode reads the role from it, so issuer and chaincode must agree on the OID.
ATTRIBUTE_EXTENSION_OID = "1.2.3.4.5.6.7.8.1"
