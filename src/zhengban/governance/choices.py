from django.db import models
from django.utils.translation import gettext_lazy as _


class RuleKind(models.TextChoices):
    REQUIRED = "required", _("必装")
    ALLOWED = "allowed", _("允许")
    FREE = "free", _("可使用免费软件")
    PROHIBITED = "prohibited", _("禁止")


class RequestAction(models.TextChoices):
    INSTALL = "install", _("安装")
    UNINSTALL = "uninstall", _("卸载")
    UPGRADE = "upgrade", _("升级")


class RequestStatus(models.TextChoices):
    PENDING = "pending", _("审批中")
    APPROVED = "approved", _("已批准")
    REJECTED = "rejected", _("已驳回")
    WITHDRAWN = "withdrawn", _("已撤回")
    FULFILLED = "fulfilled", _("已执行")
    EXPIRED = "expired", _("已过期")


class StepKind(models.TextChoices):
    DEPARTMENT_HEAD = "department_head", _("部门负责人")
    SAM_OFFICER = "sam_officer", _("具体负责人")
    UNIT_HEAD = "unit_head", _("单位负责人")


DEFAULT_STEPS = [StepKind.DEPARTMENT_HEAD.value, StepKind.SAM_OFFICER.value]


class StepDecision(models.TextChoices):
    WAITING = "waiting", _("未开始")
    PENDING = "pending", _("待审批")
    APPROVED = "approved", _("同意")
    REJECTED = "rejected", _("不同意")
    SKIPPED = "skipped", _("无需审批")


class ViolationKind(models.TextChoices):
    UNAUTHORISED_INSTALL = "unauthorised_install", _("私自安装")
    UNAUTHORISED_REMOVAL = "unauthorised_removal", _("私自卸载")
    PROHIBITED = "prohibited", _("安装禁止软件")
    UNLICENSED = "unlicensed", _("未授权商业软件")


class ViolationStatus(models.TextChoices):
    OPEN = "open", _("待处理")
    EXPLAINED = "explained", _("已说明")
    RESOLVED = "resolved", _("已解决")


OPEN_STATUSES = frozenset({ViolationStatus.OPEN, ViolationStatus.EXPLAINED})


class Resolution(models.TextChoices):
    REMOVED = "removed", _("已卸载")
    LICENSED = "licensed", _("已取得授权")
    APPROVED = "approved", _("已补办审批")
    REINSTALLED = "reinstalled", _("已重新安装")
    DISMISSED = "dismissed", _("经核实撤销")
    # Set by the system only: the device was retired with the install on it.
    RETIRED = "retired", _("终端已退役")


class CampaignStatus(models.TextChoices):
    OPEN = "open", _("进行中")
    CLOSED = "closed", _("已结束")


class SelfReportStatus(models.TextChoices):
    PENDING = "pending", _("待上报")
    SUBMITTED = "submitted", _("已上报")


class LineOrigin(models.TextChoices):
    INVENTORY = "inventory", _("清单采集")
    DECLARED = "declared", _("本人申报")


class Difference(models.TextChoices):
    NONE = "", _("一致")
    NOT_CONFIRMED = "not_confirmed", _("本人未确认")
    NOT_IN_INVENTORY = "not_in_inventory", _("清单中未发现")
