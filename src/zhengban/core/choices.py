from django.db import models
from django.utils.translation import gettext_lazy as _


class AuditAction(models.TextChoices):
    CREATE = "create", _("新建")
    UPDATE = "update", _("修改")
    DELETE = "delete", _("删除")
    IMPORT = "import", _("导入")
    EXPORT = "export", _("导出")
    SUBMIT = "submit", _("提交")
    APPROVE = "approve", _("通过")
    RETURN = "return", _("退回")
    LOGIN = "login", _("登录")
    LOGIN_FAILED = "login_failed", _("登录失败")
    LOGOUT = "logout", _("退出")
    GRANT = "grant", _("授权")
    REVOKE = "revoke", _("撤销")
    REMIND = "remind", _("催报")
