from django.db import models
from django.utils.translation import gettext_lazy as _


class DeviceType(models.TextChoices):
    DESKTOP = "desktop", _("台式机")
    LAPTOP = "laptop", _("笔记本")
    SERVER = "server", _("服务器")
    VM = "vm", _("虚拟机")
    MOBILE = "mobile", _("移动设备")
    OTHER = "other", _("其他")


class InventorySource(models.TextChoices):
    GLPI_JSON = "glpi_json", _("GLPI JSON 清单")
    ZHENGBAN_AGENT = "zhengban_agent", _("本平台客户端")
    FUSIONINVENTORY = "fusioninventory", _("FusionInventory 客户端")
    OCS = "ocs", _("OCS Inventory 客户端")
    XML = "xml", _("XML 清单")
    SPREADSHEET = "spreadsheet", _("表格导入")
    REGFILE = "regfile", _("注册表导出导入")


class InstallationKind(models.TextChoices):
    OS = "os", _("操作系统")
    APPLICATION = "application", _("应用程序")
    SYSTEM_COMPONENT = "system_component", _("系统组件")
    UPDATE = "update", _("更新")
    HIDDEN = "hidden", _("隐藏项")


class EventType(models.TextChoices):
    INSTALLED = "installed", _("安装")
    REMOVED = "removed", _("卸载")
    VERSION_CHANGED = "version_changed", _("版本变更")


class OSActivation(models.TextChoices):
    UNKNOWN = "", _("未知")
    LICENSED = "licensed", _("已激活")
    UNLICENSED = "unlicensed", _("未激活")
    GRACE = "grace", _("宽限期")
    NOTIFICATION = "notification", _("通知状态")


class DeviceStatus(models.TextChoices):
    """The device list's 状态 filter: in service (the page's default), retired, or both."""

    IN_SERVICE = "in_service", _("在用")
    RETIRED = "retired", _("已退役")
    ALL = "all", _("全部")
