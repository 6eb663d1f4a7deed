"""Permissions come from roles: a small fixed map, so that the 安全管理员 manages roles, not
individual permission rows."""

from zhengban.orgs.choices import Role

ROLE_PERMISSIONS: dict[str, frozenset[str]] = {
    Role.AUDIT_ADMIN: frozenset({"core.view_auditlogentry"}),
    Role.SECADMIN: frozenset({"orgs.add_rolegrant", "orgs.delete_rolegrant", "orgs.view_user"}),
    Role.SYSADMIN: frozenset(
        {
            "orgs.add_user",
            "orgs.change_user",
            "orgs.view_user",
            "orgs.add_unit",
            "orgs.change_unit",
            "orgs.add_region",
            "orgs.change_region",
            "authtoken.add_token",
        }
    ),
    Role.SAM_OFFICER: frozenset({"orgs.change_unit", "orgs.add_department"}),
    Role.SUPERVISOR: frozenset({"orgs.view_officerlistsubmission"}),
}


class RolePermissionBackend:
    """Answers has_perm() from the person's roles; authenticates nobody."""

    def authenticate(self, request, **credentials):
        return None

    def get_user(self, user_id):
        return None

    def get_all_permissions(self, user_obj, obj=None) -> set[str]:
        if not user_obj.is_active or user_obj.is_anonymous:
            return set()
        perms: set[str] = set()
        for role in user_obj.role_set:
            perms |= ROLE_PERMISSIONS.get(role, frozenset())
        return perms

    def has_perm(self, user_obj, perm: str, obj=None) -> bool:
        return perm in self.get_all_permissions(user_obj, obj)
