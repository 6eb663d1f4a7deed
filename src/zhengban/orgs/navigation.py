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


# Platform operators (三员): each sees only the page of its own job.
def _account_admin(user) -> bool:
    return user.has_perm("orgs.add_user")


def _role_admin(user) -> bool:
    return user.has_perm("orgs.add_rolegrant")


navigation.register(_("系统"), _("账号管理"), "orgs:account_list", order=90, visible=_account_admin)
navigation.register(_("系统"), _("角色管理"), "orgs:role_list", order=90, visible=_role_admin)


def _in_unit(user) -> bool:
    return user.unit_id is not None


def _system_admin(user) -> bool:
    return user.is_superuser or user.has_role(Role.SYSADMIN)


navigation.register(_("组织机构"), _("名单报送"), "orgs:submission_home", visible=_in_unit)
navigation.register(_("组织机构"), _("批量导入"), "orgs:import", visible=_system_admin)
