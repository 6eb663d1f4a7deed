from django.db import models
from django.utils.translation import gettext_lazy as _


class RegionLevel(models.TextChoices):
    NATIONAL = "national", _("国家")
    PROVINCE = "province", _("省级")
    CITY = "city", _("市级")
    COUNTY = "county", _("县级")


class UnitType(models.TextChoices):
    GOVERNMENT_AGENCY = "government_agency", _("政府机关")
    OTHER_STATE_ORGAN = "other_state_organ", _("其他国家机关")
    PUBLIC_INSTITUTION = "public_institution", _("事业单位")
    PEOPLES_ORGANISATION = "peoples_organisation", _("人民团体")
    EXEMPT_SOCIAL_GROUP = "exempt_social_group", _("免予登记的社会团体")


class Role(models.TextChoices):
    SAM_OFFICER = "sam_officer", _("具体负责人")
    APPROVER = "approver", _("审批人")
    STAFF = "staff", _("软件使用人")
    HEAD = "head", _("单位负责人")
    SUPERVISOR = "supervisor", _("版权监管人员")
    FINANCE = "finance", _("财务审核人员")
    AUDITOR = "auditor", _("审计人员")
    SYSADMIN = "sysadmin", _("系统管理员")
    SECADMIN = "secadmin", _("安全管理员")
    AUDIT_ADMIN = "audit_admin", _("审计管理员")


# 三员: no account may hold two of these (enforced by a partial unique index, too).
PLATFORM_ROLES = frozenset({Role.SYSADMIN, Role.SECADMIN, Role.AUDIT_ADMIN})
# Roles that look at a whole region subtree rather than one unit.
REGION_ROLES = frozenset({Role.SUPERVISOR, Role.FINANCE, Role.AUDITOR})
# Roles that see every row of their unit subtree: the officer runs it, the head answers for
# it, and an approver (a department head, or the unit's 审批人) decides any colleague's
# request and looks at the device it names. Anyone else in a unit (a 软件使用人, or an
# account without a role) sees only their own devices, requests and self-reports.
UNIT_VIEW_ROLES = frozenset({Role.SAM_OFFICER, Role.APPROVER, Role.HEAD})
# Roles that may change their unit's data.
UNIT_EDITOR_ROLES = frozenset({Role.SAM_OFFICER})


class MechanismRole(models.TextChoices):
    LEADER = "leader", _("组长")
    DEPUTY = "deputy", _("副组长")
    MEMBER = "member", _("成员")
    MEMBER_UNIT = "member_unit", _("成员单位")


class SubmissionStatus(models.TextChoices):
    DRAFT = "draft", _("草稿")
    SUBMITTED = "submitted", _("已报送")
    RECEIVED = "received", _("已接收")
    RETURNED = "returned", _("已退回")


# A unit has done its year-end duty once its list is submitted (the bureau may still return it).
SUBMISSION_DONE = frozenset({SubmissionStatus.SUBMITTED, SubmissionStatus.RECEIVED})
# The bureau's overview also shows units that have not even started a draft.
NOT_STARTED = "not_started"
NOT_STARTED_LABEL = _("未填报")
# Roles a bureau may edit its region's working mechanism with.
MECHANISM_EDITOR_ROLES = frozenset({Role.SUPERVISOR, Role.SAM_OFFICER})
# Roles named by text in the import template's 人员 sheet; platform roles are never imported.
IMPORTABLE_ROLES = (
    Role.SAM_OFFICER,
    Role.APPROVER,
    Role.STAFF,
    Role.HEAD,
    Role.SUPERVISOR,
    Role.FINANCE,
    Role.AUDITOR,
)
