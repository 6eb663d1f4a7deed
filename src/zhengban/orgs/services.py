"""Business rules for regions, units, people and roles. Each public function is one
transaction and writes its own audit record."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

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
