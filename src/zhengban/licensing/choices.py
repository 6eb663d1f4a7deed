"""Choice constants of the licensing app, with translated labels.

The compliance engine (``engine.py``) is pure Python and uses the plain string values; the
classes here add labels for pages, exports and the database check constraints.
"""

from django.db import models
from django.utils.translation import gettext_lazy as _


class Metric(models.TextChoices):
    """How an entitlement is counted (财行〔2013〕98号: 单机, 场地, 网络; plus per user and OEM)."""

    OEM = "oem", _("预装(OEM)")
    PER_DEVICE = "per_device", _("单机")
    PER_USER = "per_user", _("按用户")
    CONCURRENT = "concurrent", _("网络(并发)")
    SITE = "site", _("场地")


class Term(models.TextChoices):
    PERPETUAL = "perpetual", _("永久")
    SUBSCRIPTION = "subscription", _("订阅")


class Status(models.TextChoices):
    COVERED = "covered", _("已授权")
    NOT_REQUIRED = "not_required", _("无需授权")
    UNLICENSED = "unlicensed", _("未授权")
    UNKNOWN = "unknown", _("未识别")


class Reason(models.TextChoices):
    # covered: which consumption step gave the licence
    ALLOCATION = "allocation", _("按分配使用授权")
    OEM = "oem", _("本机预装(OEM)授权")
    PER_DEVICE = "per_device", _("单机授权")
    PER_USER = "per_user", _("按用户授权")
    CONCURRENT = "concurrent", _("网络(并发)授权")
    SITE = "site", _("场地授权")
    # not required
    FREE = "free", _("免费软件")
    OPEN_SOURCE = "open_source", _("开源软件")
    SUITE_COMPONENT = "suite_component", _("套件组件,随套件授权")
    # unlicensed
    NO_ENTITLEMENT = "no_entitlement", _("无对应授权")
    EDITION_MISMATCH = "edition_mismatch", _("版本类型与所购不符")
    OEM_OTHER_DEVICE = "oem_other_device", _("OEM 授权绑定其他终端")
    VERSION_ABOVE = "version_above", _("安装版本高于授权版本")
    VERSION_BELOW = "version_below", _("安装版本低于授权版本且无降级权")
    NOT_YET_VALID = "not_yet_valid", _("授权尚未生效")
    EXPIRED = "expired", _("授权已过期")
    NO_USER = "no_user", _("按用户授权但终端无使用人")
    OVER_QUANTITY = "over_quantity", _("授权数量不足")
    HOME_EDITION = "home_edition", _("家庭/个人版不属于单位正版")
    # unknown
    UNRECOGNISED = "unrecognised", _("软件未识别")


class Basis(models.TextChoices):
    """What else the covering entitlement relied on, beside a plain match."""

    NONE = "", _("直接匹配")
    DOWNGRADE = "downgrade", _("降级权")
    UPGRADE = "upgrade", _("升级权")
    SUITE = "suite", _("套件授权")
    EDITION_UNKNOWN = "edition_unknown", _("版本类型未知,按系列授权")


class FundingSource(models.TextChoices):
    BUDGET = "budget", _("财政预算资金")
    OWN = "own", _("单位自有资金")
    SPECIAL = "special", _("专项资金")
    OTHER = "other", _("其他")


class ProcurementMethod(models.TextChoices):
    CENTRALISED = "centralised", _("集中采购")
    DECENTRALISED = "decentralised", _("分散采购")
    OTHER = "other", _("其他方式")


class SourceType(models.TextChoices):
    """来源类型 in the ledger."""

    PURCHASED = "purchased", _("采购")
    PREINSTALLED = "preinstalled", _("预装")
    ALLOCATED = "allocated", _("统一配发")
    DONATED = "donated", _("受赠")
    FREE = "free", _("免费")


class Disposal(models.TextChoices):
    """国管资〔2011〕280号: how a software asset leaves the books."""

    TRANSFER = "transfer", _("转让")
    DONATION = "donation", _("捐赠")
    REALLOCATION = "reallocation", _("调剂")
    SCRAP = "scrap", _("报废")


COVERED_REASONS = frozenset(
    {
        Reason.ALLOCATION,
        Reason.OEM,
        Reason.PER_DEVICE,
        Reason.PER_USER,
        Reason.CONCURRENT,
        Reason.SITE,
    }
)
NOT_REQUIRED_REASONS = frozenset({Reason.FREE, Reason.OPEN_SOURCE, Reason.SUITE_COMPONENT})
# The three categories of 国办发〔2013〕88号, with a genuine rate each.
RATE_CATEGORIES = ("os", "office", "antivirus")


class RecomputeReason(models.TextChoices):
    """Why a unit's verdicts are queued for recompute (``RecomputeRequest``)."""

    INVENTORY = "inventory", _("终端清单上报")
    CATALOG = "catalog", _("软件目录变更")
    DEVICE = "device", _("终端信息变更")
    MANUAL = "manual", _("手动重算")
