"""Choice constants of the catalog, with translated labels.

The values are defined once in ``document.py`` (the exchange format, importable without
Django); these classes add labels and must list exactly the same values (checked below).
"""

from django.db import models
from django.utils.translation import gettext_lazy as _

from zhengban.catalog import document


class Category(models.TextChoices):
    OS = "os", _("操作系统")
    OFFICE = "office", _("办公软件")
    ANTIVIRUS = "antivirus", _("杀毒与终端安全")
    DATABASE = "database", _("数据库")
    MIDDLEWARE = "middleware", _("中间件")
    BROWSER = "browser", _("浏览器")
    DOCUMENT_READER = "document_reader", _("版式阅读器")
    DESIGN = "design", _("设计与制图")
    DEVELOPMENT = "development", _("开发工具")
    COMMUNICATION = "communication", _("通信与协作")
    INPUT_METHOD = "input_method", _("输入法")
    COMPRESSION = "compression", _("压缩工具")
    MEDIA = "media", _("多媒体")
    UTILITY = "utility", _("工具软件")
    RUNTIME = "runtime", _("运行库")
    DRIVER = "driver", _("驱动程序")
    UPDATE = "update", _("更新补丁")
    INDUSTRY = "industry", _("行业软件")
    GAME = "game", _("游戏")
    OTHER = "other", _("其他")


class LicenseModel(models.TextChoices):
    COMMERCIAL = "commercial", _("商业软件")
    FREE = "free", _("免费软件")
    OPEN_SOURCE = "open_source", _("开源软件")


class Platform(models.TextChoices):
    WINDOWS = "windows", _("Windows")
    LINUX = "linux", _("Linux")
    MACOS = "macos", _("macOS")


class RuleType(models.TextChoices):
    SWID = "swid", _("SWID 标签")
    EXACT = "exact", _("名称完全匹配")
    PACKAGE = "package", _("软件包名")
    NORMALIZED = "normalized", _("规范化名称")
    PATTERN = "pattern", _("正则表达式")


class FamilyFrom(models.TextChoices):
    NAME = "name", _("由名称派生")
    PACKAGE = "package", _("由软件包名派生")


class DomesticFrom(models.TextChoices):
    PUBLISHER = "publisher", _("取发行商的国产标志")


# The exchange format and the database must agree on every value.
assert tuple(Category.values) == document.CATEGORIES
assert tuple(LicenseModel.values) == document.LICENSE_MODELS
assert tuple(Platform.values) == document.PLATFORMS
assert tuple(RuleType.values) == document.RULE_TYPES
assert tuple(FamilyFrom.values) == document.FAMILY_FROM
assert tuple(DomesticFrom.values) == document.DOMESTIC_FROM


class ReapplyStatus(models.TextChoices):
    QUEUED = "queued", _("排队中")
    RUNNING = "running", _("进行中")
    DONE = "done", _("已完成")
    FAILED = "failed", _("失败")
