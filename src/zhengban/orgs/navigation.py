from django.utils.translation import gettext_lazy as _

from zhengban.core import navigation
from zhengban.orgs.choices import Role


def _not_platform(user) -> bool:
    return not user.is_platform_operator or user.is_superuser


def _security_admin(user) -> bool:
    return user.is_superuser or user.has_role(Role.SECADMIN, Role.SYSADMIN)


def _audit_admin(user) -> bool:
    return user.is_superuser or user.has_role(Role.AUDIT_ADMIN)


def _supervisor(user) -> bool:
    return user.is_superuser or user.has_role(Role.SUPERVISOR)


navigation.register(_("组织机构"), _("行政区划"), "orgs:region_list", order=10)
navigation.register(_("组织机构"), _("单位"), "orgs:unit_list", order=10)
navigation.register(_("组织机构"), _("人员"), "orgs:person_list", order=10)
navigation.register(_("系统"), _("审计日志"), "core:audit_log", order=90, visible=_audit_admin)


