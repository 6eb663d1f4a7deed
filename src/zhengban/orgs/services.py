"""Business rules for regions, units, people and roles. Each public function is one
transaction and writes its own audit record."""

from __future__ import annotations

import datetime
from typing import Any

from axes.models import AccessAttempt
from axes.utils import reset as axes_reset
from django.conf import settings
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Sum
from django.utils import timezone
from django.utils.translation import gettext as _
from rest_framework.authtoken.models import Token

from zhengban.core import audit
from zhengban.core.choices import AuditAction
from zhengban.core.scoping import scope_queryset
from zhengban.orgs.choices import PLATFORM_ROLES, RegionLevel, Role
from zhengban.orgs.models import Department, Region, RoleGrant, Unit, User

LEVEL_ORDER = [RegionLevel.NATIONAL, RegionLevel.PROVINCE, RegionLevel.CITY, RegionLevel.COUNTY]


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise PermissionDenied(message)


def can_manage_unit(user: User, unit: Unit) -> bool:
    """Officers change their own unit's subtree; system administrators change any unit."""
    if user.is_superuser or user.has_role(Role.SYSADMIN):
        return True
    if not user.has_role(Role.SAM_OFFICER):
        return False
    return scope_queryset(Unit.objects.filter(pk=unit.pk), user).exists()


@transaction.atomic
def create_region(
    *, actor: User | None, code: str, name: str, level: str, parent: Region | None = None
) -> Region:
    if parent is None and level != RegionLevel.NATIONAL and Region.objects.exists():
        # Only one tree: every region below the top has a parent.
        top = Region.objects.filter(parent__isnull=True).first()
        if top is not None and top.level != level:
            raise ValidationError(_("非顶级行政区划必须指定上级区划。"))
    if parent is not None and LEVEL_ORDER.index(level) <= LEVEL_ORDER.index(parent.level):
        raise ValidationError(_("下级区划的层级必须低于上级区划。"))
    region = Region(code=code, name=name, level=level, parent=parent)
    region.path = f"{parent.path if parent else '/'}{code}/"
    region.full_clean()
    region.save()
    audit.record(actor=actor, action=AuditAction.CREATE, obj=region, after=audit.snapshot(region))
    return region


@transaction.atomic
def create_unit(*, actor: User | None, **fields: Any) -> Unit:
    """`actor=None` is the server itself (management commands, demo, tests)."""
    if actor is not None:
        # Imported here: responsibility imports this module (can_manage_unit).
        from zhengban.orgs.responsibility import can_create_unit

        _require(can_create_unit(actor), _("只有系统管理员可以新建单位。"))
    departments: list[str] = fields.pop("departments", [])
    unit = Unit(**fields)
    if unit.credit_code:
        unit.credit_code = unit.credit_code.strip().upper()
    unit.full_clean(exclude=["path"])
    unit.save()
    # The path holds the unit's own id, known only after the first save.
    unit.path = f"{unit.parent.path if unit.parent else '/'}{unit.pk}/"
    unit.save(update_fields=["path"])
    for name in departments:
        Department.objects.create(unit=unit, name=name)
    audit.record(actor=actor, action=AuditAction.CREATE, obj=unit, after=audit.snapshot(unit))
    return unit


UNIT_EDITABLE_FIELDS = frozenset(
    {
        "name",
        "unit_type",
        "headcount",
        "address",
        "head_name",
        "head_post",
        "lead_department",
        "officer_name",
        "officer_post",
        "officer_phone",
    }
)


@transaction.atomic
def update_unit(*, actor: User, unit: Unit, **changes: Any) -> Unit:
    _require(can_manage_unit(actor, unit), _("无权修改该单位。"))
    unknown = set(changes) - UNIT_EDITABLE_FIELDS
    if unknown:
        raise ValidationError(_("不可修改的字段：%(f)s") % {"f": ", ".join(sorted(unknown))})
    unit = Unit.objects.select_for_update().get(pk=unit.pk)
    dept = changes.get("lead_department")
    if dept is not None and dept.unit_id != unit.pk:
        raise ValidationError(_("牵头部门必须是本单位的部门。"))
    before = audit.snapshot(unit)
    for key, value in changes.items():
        setattr(unit, key, value)
    unit.full_clean(exclude=["path"])
    unit.save()
    audit.record(
        actor=actor, action=AuditAction.UPDATE, obj=unit, before=before, after=audit.snapshot(unit)
    )
    return unit


@transaction.atomic
def create_person(
    *,
    actor: User | None,
    username: str,
    full_name: str,
    unit: Unit | None,
    password: str | None = None,
    roles: list[str] | tuple[str, ...] = (),
    **fields: Any,
) -> User:
    user = User(username=username, full_name=full_name, unit=unit, **fields)
    if password:
        user.set_password(password)
    else:
        user.set_unusable_password()
    user.full_clean(exclude=["password"])
    user.save()
    audit.record(actor=actor, action=AuditAction.CREATE, obj=user, after=audit.snapshot(user))
    for role in roles:
        _grant(actor=actor, user=user, role=role)
    return user


def _grant(*, actor: User | None, user: User, role: str) -> RoleGrant:
    if role not in Role.values:
        raise ValidationError(_("未知角色：%(r)s") % {"r": role})
    held = set(user.role_grants.values_list("role", flat=True))
    if role in held:
        raise ValidationError(_("该人员已拥有此角色。"))
    if role in PLATFORM_ROLES and held & PLATFORM_ROLES:
        raise ValidationError(_("三员分立：系统管理员、安全管理员、审计管理员不得由同一账号兼任。"))
    if role in PLATFORM_ROLES and held - PLATFORM_ROLES:
        raise ValidationError(_("三员账号不得兼任业务角色。"))
    if role not in PLATFORM_ROLES and held & PLATFORM_ROLES:
        raise ValidationError(_("三员账号不得兼任业务角色。"))
    if role not in PLATFORM_ROLES and user.unit_id is None:
        raise ValidationError(_("业务角色须属于某一单位。"))
    try:
        with transaction.atomic():
            grant = RoleGrant.objects.create(user=user, role=role)
    except IntegrityError as exc:
        # The partial unique index is the last line of defence against races.
        raise ValidationError(_("三员分立：同一账号不得兼任两种三员角色。")) from exc
    user.__dict__.pop("role_set", None)
    user.__dict__.pop("scope", None)
    audit.record(
        actor=actor,
        action=AuditAction.GRANT,
        obj=grant,
        unit_id=user.unit_id,
        after={"user": user.pk, "role": role},
    )
    return grant


@transaction.atomic
def grant_role(*, actor: User, user: User, role: str) -> RoleGrant:
    """Only the 安全管理员 manages roles (and may not grant one to themself)."""
    _require(actor.is_superuser or actor.has_role(Role.SECADMIN), _("只有安全管理员可以授予角色。"))
    _require(actor.pk != user.pk, _("不得给自己授予角色。"))
    return _grant(actor=actor, user=user, role=role)


@transaction.atomic
def revoke_role(*, actor: User, user: User, role: str) -> None:
    _require(actor.is_superuser or actor.has_role(Role.SECADMIN), _("只有安全管理员可以撤销角色。"))
    _require(actor.pk != user.pk, _("不得撤销自己的角色。"))
    deleted, _unused = RoleGrant.objects.filter(user=user, role=role).delete()
    if not deleted:
        raise ValidationError(_("该人员没有此角色。"))
    user.__dict__.pop("role_set", None)
    user.__dict__.pop("scope", None)
    audit.record(
        actor=actor,
        action=AuditAction.REVOKE,
        object_type="orgs.rolegrant",
        object_repr=f"{user} · {role}",
        unit_id=user.unit_id,
        before={"user": user.pk, "role": role},
    )


# --- Accounts (系统管理员) and API tokens -------------------------------------------------

ACCOUNT_EDITABLE_FIELDS = frozenset({"full_name", "unit", "department", "post", "phone", "email"})


def can_manage_accounts(user: User) -> bool:
    return bool(user.is_active and (user.is_superuser or user.has_role(Role.SYSADMIN)))


def _require_account_admin(actor: User, target: User | None = None) -> None:
    _require(can_manage_accounts(actor), _("只有系统管理员可以管理账号。"))
    if target is None or actor.is_superuser:
        return
    _require(actor.pk != target.pk, _("不得对自己的账号执行此操作。"))
    # Resetting another operator's password would let one person act as two of the 三员,
    # so only a superuser (created at installation) touches those accounts.
    _require(not target.is_platform_operator, _("三员账号只能由超级管理员维护。"))


def _check_department(unit: Unit | None, department: Department | None) -> None:
    if department is not None and (unit is None or department.unit_id != unit.pk):
        raise ValidationError(_("部门必须属于所选单位。"))


@transaction.atomic
def create_account(
    *,
    actor: User,
    username: str,
    full_name: str,
    password: str,
    unit: Unit | None = None,
    department: Department | None = None,
    post: str = "",
    phone: str = "",
    email: str = "",
) -> User:
    """A new account, without roles: the 安全管理员 grants those."""
    _require_account_admin(actor)
    _check_department(unit, department)
    validate_password(password, User(username=username, full_name=full_name, email=email))
    user = User(
        username=username,
        full_name=full_name,
        unit=unit,
        department=department,
        post=post,
        phone=phone,
        email=email,
    )
    user.set_password(password)
    user.full_clean(exclude=["password"])
    user.save()
    audit.record(actor=actor, action=AuditAction.CREATE, obj=user, after=audit.snapshot(user))
    return user


@transaction.atomic
def update_account(*, actor: User, user: User, **changes: Any) -> User:
    _require_account_admin(actor, user)
    unknown = set(changes) - ACCOUNT_EDITABLE_FIELDS
    if unknown:
        raise ValidationError(_("不可修改的字段：%(f)s") % {"f": ", ".join(sorted(unknown))})
    user = User.objects.select_for_update().get(pk=user.pk)
    before = audit.snapshot(user)
    for key, value in changes.items():
        setattr(user, key, value)
    _check_department(user.unit, user.department)
    if user.unit_id is None and user.role_grants.exclude(role__in=PLATFORM_ROLES).exists():
        raise ValidationError(_("该账号拥有业务角色，必须属于某一单位。"))
    user.full_clean(exclude=["password"])
    user.save()
    audit.record(
        actor=actor, action=AuditAction.UPDATE, obj=user, before=before, after=audit.snapshot(user)
    )
    return user


@transaction.atomic
def set_password(*, actor: User, user: User, password: str) -> None:
    """The 系统管理员 resets a password; the password policy applies as everywhere."""
    _require_account_admin(actor, user)
    validate_password(password, user)
    user.set_password(password)
    user.save(update_fields=["password"])
    audit.record(actor=actor, action=AuditAction.UPDATE, obj=user, message="重置密码")


def _set_active(*, actor: User, user: User, active: bool) -> User:
    _require_account_admin(actor, user)
    user = User.objects.select_for_update().get(pk=user.pk)
    if user.is_active == active:
        raise ValidationError(_("账号已是启用状态。") if active else _("账号已是停用状态。"))
    before = audit.snapshot(user)
    user.is_active = active
    user.save(update_fields=["is_active"])
    audit.record(
        actor=actor, action=AuditAction.UPDATE, obj=user, before=before, after=audit.snapshot(user)
    )
    return user


@transaction.atomic
def deactivate_account(*, actor: User, user: User) -> User:
    """Accounts are deactivated, never deleted: the audit log and history refer to them."""
    return _set_active(actor=actor, user=user, active=False)


@transaction.atomic
def activate_account(*, actor: User, user: User) -> User:
    return _set_active(actor=actor, user=user, active=True)


def locked_usernames(usernames: list[str] | None = None) -> set[str]:
    """Usernames django-axes currently locks out (failures within the cool-off period)."""
    attempts = AccessAttempt.objects.all()
    if settings.AXES_COOLOFF_TIME:
        since = timezone.now() - datetime.timedelta(hours=float(settings.AXES_COOLOFF_TIME))
        attempts = attempts.filter(attempt_time__gte=since)
    if usernames is not None:
        attempts = attempts.filter(username__in=usernames)
    rows = (
        attempts.values("username")
        .annotate(failures=Sum("failures_since_start"))
        .filter(failures__gte=settings.AXES_FAILURE_LIMIT)
    )
    return {row["username"] for row in rows}


@transaction.atomic
def unlock_account(*, actor: User, user: User) -> int:
    """Clears django-axes' failed attempts for the account; returns how many were cleared."""
    _require(can_manage_accounts(actor), _("只有系统管理员可以管理账号。"))
    cleared = axes_reset(username=user.username)
    audit.record(
        actor=actor,
        action=AuditAction.UPDATE,
        obj=user,
        message=f"解除登录锁定（清除 {cleared} 条失败记录）",
    )
    return cleared


@transaction.atomic
def issue_token(*, actor: User | None, user: User, rotate: bool = False) -> str:
    """An API token for a machine or script acting as `user`. One token per account:
    `rotate` replaces an existing one (the old key stops working at once)."""
    if actor is not None:
        _require(can_manage_accounts(actor), _("只有系统管理员可以管理API令牌。"))
    if not user.is_active:
        raise ValidationError(_("账号已停用，不能签发令牌。"))
    existing = Token.objects.filter(user=user).first()
    if existing is not None:
        if not rotate:
            raise ValidationError(_("该账号已有令牌；如需更换请使用 --rotate。"))
        existing.delete()
    token = Token.objects.create(user=user)
    audit.record(
        actor=actor,
        action=AuditAction.UPDATE if existing else AuditAction.CREATE,
        object_type="authtoken.token",
        object_id=user.pk,
        object_repr=f"API令牌 · {user.username}",
        unit_id=user.unit_id,
        message="更换API令牌" if existing else "签发API令牌",
    )
    return token.key


@transaction.atomic
def revoke_token(*, actor: User | None, user: User) -> None:
    if actor is not None:
        _require(can_manage_accounts(actor), _("只有系统管理员可以管理API令牌。"))
    deleted, _unused = Token.objects.filter(user=user).delete()
    if not deleted:
        raise ValidationError(_("该账号没有API令牌。"))
    audit.record(
        actor=actor,
        action=AuditAction.DELETE,
        object_type="authtoken.token",
        object_id=user.pk,
        object_repr=f"API令牌 · {user.username}",
        unit_id=user.unit_id,
        message="撤销API令牌",
    )


@transaction.atomic
def record_own_password_change(*, user: User) -> None:
    """A person changed their own password (Django's form did the checks and the save)."""
    audit.record(
        actor=user,
        action=AuditAction.UPDATE,
        obj=user,
        unit_id=user.unit_id,
        message="修改本人密码",
    )
