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


class ViolationType(StrEnum):
    """Violation types the detectors flag and cases are filed for."""

    SHOPFRONT_OPERATION = "shopfront_operation"
    ROAD_OCCUPATION = "road_occupation"
    ROAMING_VENDOR = "roaming_vendor"
    GARBAGE_PILE = "garbage_pile"
    MOTOR_PARKING = "motor_parking"
    NONMOTOR_PARKING = "nonmotor_parking"
    STREET_HANGING = "street_hanging"
    OUTDOOR_ADVERTISING = "outdoor_advertising"


VIOLATION_ZH: dict[ViolationType, str] = {
    ViolationType.SHOPFRONT_OPERATION: "出店经营",
    ViolationType.ROAD_OCCUPATION: "占道经营",
    ViolationType.ROAMING_VENDOR: "游商",
    ViolationType.GARBAGE_PILE: "垃圾堆放",
    ViolationType.MOTOR_PARKING: "机动车乱停放",
    ViolationType.NONMOTOR_PARKING: "非机动车乱停放",
    ViolationType.STREET_HANGING: "沿街晾挂",
    ViolationType.OUTDOOR_ADVERTISING: "违规户外广告",
}


class Stage(StrEnum):
    """Case stages: the general procedure's eight, and the without-penalty ending."""

    SOURCE = "source"
    PRELIMINARY_CHECK = "preliminary_check"
    FILING_APPROVAL = "filing_approval"
    INVESTIGATION = "investigation"
    ADVANCE_NOTICE = "advance_notice"
    DECISION = "decision"
    EXECUTION = "execution"
    CLOSURE = "closure"
    CLOSED_WITHOUT_PENALTY = "closed_without_penalty"


# The stages whose step is a decision on the case (行政处罚决定 or 不予处罚决定): published,
# served on the party, open to being set aside.
DECIDING_STAGES: tuple[Stage, ...] = (Stage.DECISION, Stage.CLOSED_WITHOUT_PENALTY)

STAGE_ZH: dict[Stage, str] = {
    Stage.SOURCE: "案件来源",
    Stage.PRELIMINARY_CHECK: "初查核实",
    Stage.FILING_APPROVAL: "立案审批",
    Stage.INVESTIGATION: "调查取证",
    Stage.ADVANCE_NOTICE: "事先告知",
    Stage.DECISION: "决定",
    Stage.EXECUTION: "执行",
    Stage.CLOSURE: "结案",
    Stage.CLOSED_WITHOUT_PENALTY: "不予处罚结案",
}


class Procedure(StrEnum):
    """The general procedure (一般程序) or the on-the-spot simple procedure (简易程序)."""

    GENERAL = "general"
    SIMPLE = "simple_procedure"


class SetAsideGround(StrEnum):
    """How a decision was set aside (行政处罚法 第四十八条: 变更、撤销、确认违法、确认无效)."""

    VARIED = "varied"
    REVOKED = "revoked"
    CONFIRMED_ILLEGAL = "confirmed_illegal"
    CONFIRMED_INVALID = "confirmed_invalid"

    @property
    def voids(self) -> bool:
        """Whether the decision loses its legal effect, so that its violation no longer
        counts as a prior one: revoked (撤销) or confirmed invalid (确认无效). A varied
        decision still finds the violation; one confirmed illegal stays in effect."""
        return self in (SetAsideGround.REVOKED, SetAsideGround.CONFIRMED_INVALID)


SET_ASIDE_GROUND_ZH: dict[SetAsideGround, str] = {
    SetAsideGround.VARIED: "变更",
    SetAsideGround.REVOKED: "撤销",
    SetAsideGround.CONFIRMED_ILLEGAL: "确认违法",
    SetAsideGround.CONFIRMED_INVALID: "确认无效",
}


class SetAsideAuthority(StrEnum):
    """Who set the decision aside."""

    RECONSIDERATION = "reconsideration"  # 行政复议机关
    COURT = "court"  # 人民法院 (行政诉讼)
    SELF_CORRECTION = "self_correction"  # the department itself (执法监督, 自行纠错)


SET_ASIDE_AUTHORITY_ZH: dict[SetAsideAuthority, str] = {
    SetAsideAuthority.RECONSIDERATION: "行政复议",
    SetAsideAuthority.COURT: "行政诉讼",
    SetAsideAuthority.SELF_CORRECTION: "自行纠错",
}


class SetAsideReason(StrEnum):
    """Why a decision was set aside: the grounds on which a reconsideration body (行政复议法
    第六十三至六十七条) or a court (行政诉讼法 第七十、七十四、七十五、七十七条) varies, revokes,
    confirms illegal or confirms invalid a decision; a department correcting itself names
    the same. A closed list, so that the public reads the reason in words (SET_ASIDE_REASON_ZH)
    and never a department's free text about a party."""

    INSUFFICIENT_EVIDENCE = "insufficient_evidence"
    WRONG_LEGAL_BASIS = "wrong_legal_basis"
    PROCEDURE_VIOLATED = "procedure_violated"
    MINOR_PROCEDURAL_DEFECT = "minor_procedural_defect"
    BEYOND_AUTHORITY = "beyond_authority"
    ABUSE_OF_AUTHORITY = "abuse_of_authority"
    OBVIOUSLY_UNJUST = "obviously_unjust"
    AMOUNT_WRONG = "amount_wrong"
    GROSSLY_ILLEGAL = "grossly_illegal"
    OTHER = "other"


SET_ASIDE_REASON_ZH: dict[SetAsideReason, str] = {
    SetAsideReason.INSUFFICIENT_EVIDENCE: "主要事实不清、证据不足",
    SetAsideReason.WRONG_LEGAL_BASIS: "适用依据错误",
    SetAsideReason.PROCEDURE_VIOLATED: "违反法定程序",
    SetAsideReason.MINOR_PROCEDURAL_DEFECT: "程序轻微违法",
    SetAsideReason.BEYOND_AUTHORITY: "超越职权",
    SetAsideReason.ABUSE_OF_AUTHORITY: "滥用职权",
    SetAsideReason.OBVIOUSLY_UNJUST: "明显不当",
    SetAsideReason.AMOUNT_WRONG: "款额认定错误",
    SetAsideReason.GROSSLY_ILLEGAL: "重大且明显违法",
    SetAsideReason.OTHER: "其他法定情形",
}


class ServiceMethod(StrEnum):
    """How a case document reached the party (送达: 行政处罚法 第六十一条, by the methods of
    民事诉讼法 第七章)."""

    IN_PERSON = "in_person"  # 直接送达, on the spot included (当场交付)
    LEFT_AT_RESIDENCE = "left_at_residence"  # 留置送达
    ENTRUSTED = "entrusted"  # 委托送达
    POST = "post"  # 邮寄送达
    ELECTRONIC = "electronic"  # 电子送达: only with the party's signed consent (确认书)
    PUBLIC_NOTICE = "public_notice"  # 公告送达


SERVICE_METHOD_ZH: dict[ServiceMethod, str] = {
    ServiceMethod.IN_PERSON: "直接送达",
    ServiceMethod.LEFT_AT_RESIDENCE: "留置送达",
    ServiceMethod.ENTRUSTED: "委托送达",
    ServiceMethod.POST: "邮寄送达",
    ServiceMethod.ELECTRONIC: "电子送达",
    ServiceMethod.PUBLIC_NOTICE: "公告送达",
}


class AccessKind(StrEnum):
    """What a reader does with evidence; every kind is a ledger transaction."""

    VIEW = "view"
    DOWNLOAD = "download"
    PACKAGE = "package"
    SHARE = "share"


ACCESS_KIND_ZH: dict[AccessKind, str] = {
    AccessKind.VIEW: "查看",
    AccessKind.DOWNLOAD: "下载",
    AccessKind.PACKAGE: "打包导出",
    AccessKind.SHARE: "共享",
}


class Outcome(StrEnum):
    GRANTED = "granted"
    DENIED = "denied"


class Period(StrEnum):
    """The periods a report or a bulletin of decisions covers, in the department's offset:
    a calendar day, an ISO week (Monday first) or a calendar month."""

    DAY = "day"
    WEEK = "week"
    MONTH = "month"


class ViolationStatus(StrEnum):
    """Where an AI-flagged violation is in the co-governance loop (小河共治):
    detected → reviewed (confirmed | rejected) → reminded → rectified | escalated →
    community_reminded → rectified | case_filed."""

    DETECTED = "detected"
    CONFIRMED = "confirmed"
    REJECTED = "rejected"
    REMINDED = "reminded"
    RECTIFIED = "rectified"
    ESCALATED = "escalated"
    COMMUNITY_REMINDED = "community_reminded"
    CASE_FILED = "case_filed"


VIOLATION_STATUS_ZH = {
    ViolationStatus.DETECTED: "待审核",
    ViolationStatus.CONFIRMED: "已确认",
    ViolationStatus.REJECTED: "误报",
    ViolationStatus.REMINDED: "已提醒",
    ViolationStatus.RECTIFIED: "已整改",
    ViolationStatus.ESCALATED: "已升级",
    ViolationStatus.COMMUNITY_REMINDED: "社区提醒",
    ViolationStatus.CASE_FILED: "已立案",
}
