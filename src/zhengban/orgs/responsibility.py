"""Services for §一 工作责任: who may change what, copyright bureaus and whom they oversee,
departments, the region working mechanism and deployment meetings.

Each public service is one transaction and writes its own audit record. (Kept beside
`services.py`, which holds the account and role services, so the two can grow apart.)
"""

from __future__ import annotations

import datetime
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils.translation import gettext as _

from zhengban.core import audit
from zhengban.core.choices import AuditAction
from zhengban.orgs.choices import MECHANISM_EDITOR_ROLES, MechanismRole, Role
from zhengban.orgs.models import (
    Department,
    DeploymentMeeting,
    MechanismMember,
    Region,
    Unit,
    User,
)
from zhengban.orgs.services import can_manage_unit


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise PermissionDenied(message)


# ---------------------------------------------------------------------------------------------
# Who may do what. Views ask these to show or hide actions; services enforce them.


def is_system_admin(user: User | None) -> bool:
    return (
        user is not None and user.is_active and (user.is_superuser or user.has_role(Role.SYSADMIN))
    )


def can_create_unit(user: User) -> bool:
    """New units come from the 系统管理员 (one by one or by bulk import)."""
    return is_system_admin(user)


def bureau_of_region(region: Region) -> Unit | None:
    """The copyright bureau of `region` itself (no fallback to ancestors)."""
    return Unit.objects.filter(region=region, is_copyright_bureau=True).first()


def bureau_for_region(region: Region) -> Unit | None:
    """The bureau a unit in `region` reports to: the region's own, else the nearest
    ancestor region's (a county without its own bureau reports to the city's)."""
    codes = [code for code in region.path.split("/") if code]
    bureaus = {
        bureau.region.code: bureau
        for bureau in Unit.objects.filter(
            is_copyright_bureau=True, region__code__in=codes
        ).select_related("region")
    }
    for code in reversed(codes):
        if code in bureaus:
            return bureaus[code]
    return None


def responsible_bureau(unit: Unit) -> Unit | None:
    """本级著作权行政管理部门 of `unit` (policy §一)."""
    return bureau_for_region(unit.region)


def units_reporting_to(bureau: Unit) -> QuerySet[Unit]:
    """Units whose same-level bureau is `bureau`: its region's subtree minus the subtrees of
    lower regions that have a bureau of their own. Includes the bureau itself."""
    region = bureau.region
    lower_paths = list(
        Unit.objects.filter(is_copyright_bureau=True, region__path__startswith=region.path)
        .exclude(pk=bureau.pk)
        .values_list("region__path", flat=True)
    )
    qs = Unit.objects.filter(region__path__startswith=region.path)
    if lower_paths:
        excluded = Q()
        for path in lower_paths:
            excluded |= Q(region__path__startswith=path)
        qs = qs.exclude(excluded)
    return qs


def is_bureau_supervisor(user: User, bureau: Unit | None) -> bool:
    return (
        bureau is not None
        and bureau.is_copyright_bureau
        and user.is_active
        and user.unit_id == bureau.pk
        and user.has_role(Role.SUPERVISOR)
    )


def can_manage_mechanism(user: User, region: Region) -> bool:
    """The region's own copyright bureau (its supervisors and officers) edits its mechanism."""
    if is_system_admin(user):
        return True
    if not user.is_active or user.unit_id is None or not user.has_role(*MECHANISM_EDITOR_ROLES):
        return False
    bureau = bureau_of_region(region)
    return bureau is not None and user.unit_id == bureau.pk


# ---------------------------------------------------------------------------------------------
# Departments


def clean_text(value: str, *, label: str, max_length: int = 100) -> str:
    text = " ".join((value or "").split())
    if not text:
        raise ValidationError(_("%(label)s不能为空。") % {"label": label})
    if len(text) > max_length:
        raise ValidationError(_("%(label)s不能超过%(n)d个字。") % {"label": label, "n": max_length})
    return text


@transaction.atomic
def add_department(*, actor: User, unit: Unit, name: str) -> Department:
    _require(can_manage_unit(actor, unit), _("无权修改该单位。"))
    name = clean_text(name, label=_("部门名称"))
    if Department.objects.filter(unit=unit, name=name).exists():
        raise ValidationError(_("本单位已有名为“%(name)s”的部门。") % {"name": name})
    department = Department.objects.create(unit=unit, name=name)
    audit.record(
        actor=actor, action=AuditAction.CREATE, obj=department, after=audit.snapshot(department)
    )
    return department


@transaction.atomic
def rename_department(*, actor: User, department: Department, name: str) -> Department:
    _require(can_manage_unit(actor, department.unit), _("无权修改该单位。"))
    department = Department.objects.select_for_update().get(pk=department.pk)
    name = clean_text(name, label=_("部门名称"))
    clash = Department.objects.filter(unit_id=department.unit_id, name=name)
    if clash.exclude(pk=department.pk).exists():
        raise ValidationError(_("本单位已有名为“%(name)s”的部门。") % {"name": name})
    before = audit.snapshot(department)
    department.name = name
    department.save(update_fields=["name", "updated"])
    audit.record(
        actor=actor,
        action=AuditAction.UPDATE,
        obj=department,
        before=before,
        after=audit.snapshot(department),
    )
    return department


# ---------------------------------------------------------------------------------------------
# Region working mechanism (§一: 领导机构 and member units with their duties)

MECHANISM_FIELDS = frozenset({"role", "person_name", "post", "unit", "duties"})
MECHANISM_DENIED = "只有本级著作权行政管理部门可以维护工作机制。"


def _check_mechanism_member(member: MechanismMember) -> None:
    member.person_name = (member.person_name or "").strip()
    if member.role not in MechanismRole.values:
        raise ValidationError(_("未知的职责类别。"))
    if member.role == MechanismRole.MEMBER_UNIT and member.unit is None:
        raise ValidationError(_("成员单位须选择单位。"))
    if member.role != MechanismRole.MEMBER_UNIT and not member.person_name:
        raise ValidationError(_("领导机构成员须填写姓名。"))
    if member.unit is not None and not member.unit.region.path.startswith(member.region.path):
        raise ValidationError(_("成员单位须属于本行政区划。"))
    member.full_clean()


@transaction.atomic
def add_mechanism_member(
    *,
    actor: User | None,
    region: Region,
    role: str,
    person_name: str = "",
    post: str = "",
    unit: Unit | None = None,
    duties: str = "",
) -> MechanismMember:
    if actor is not None:
        _require(can_manage_mechanism(actor, region), _(MECHANISM_DENIED))
    member = MechanismMember(
        region=region, role=role, person_name=person_name, post=post, unit=unit, duties=duties
    )
    _check_mechanism_member(member)
    member.save()
    audit.record(
        actor=actor,
        action=AuditAction.CREATE,
        obj=member,
        unit_id=unit.pk if unit else None,
        after=audit.snapshot(member),
    )
    return member


@transaction.atomic
def update_mechanism_member(
    *, actor: User, member: MechanismMember, **changes: Any
) -> MechanismMember:
    _require(can_manage_mechanism(actor, member.region), _(MECHANISM_DENIED))
    unknown = set(changes) - MECHANISM_FIELDS
    if unknown:
        raise ValidationError(_("不可修改的字段：%(f)s") % {"f": ", ".join(sorted(unknown))})
    member = MechanismMember.objects.select_for_update().get(pk=member.pk)
    before = audit.snapshot(member)
    for key, value in changes.items():
        setattr(member, key, value)
    _check_mechanism_member(member)
    member.save()
    audit.record(
        actor=actor,
        action=AuditAction.UPDATE,
        obj=member,
        before=before,
        after=audit.snapshot(member),
    )
    return member


@transaction.atomic
def remove_mechanism_member(*, actor: User, member: MechanismMember) -> None:
    _require(can_manage_mechanism(actor, member.region), _(MECHANISM_DENIED))
    before = audit.snapshot(member)
    member_id, text = member.pk, str(member)
    member.delete()
    audit.record(
        actor=actor,
        action=AuditAction.DELETE,
        object_type="orgs.mechanismmember",
        object_id=member_id,
        object_repr=text,
        before=before,
    )


# ---------------------------------------------------------------------------------------------
# Deployment meetings (§一: each year's 部署 through a work meeting)

# Extension -> the leading bytes such a file starts with. Minutes are scans or office files;
# checking the content stops, say, a renamed executable from being stored and served.
MINUTES_SIGNATURES: dict[str, tuple[bytes, ...]] = {
    "pdf": (b"%PDF-",),
    "ofd": (b"PK\x03\x04",),
    "docx": (b"PK\x03\x04",),
    "doc": (b"\xd0\xcf\x11\xe0",),
    "wps": (b"\xd0\xcf\x11\xe0",),
    "jpg": (b"\xff\xd8\xff",),
    "jpeg": (b"\xff\xd8\xff",),
    "png": (b"\x89PNG\r\n\x1a\n",),
}
MINUTES_MAX_BYTES = 10 * 1024 * 1024


def validate_minutes_file(upload: Any) -> None:
    name = getattr(upload, "name", "") or ""
    ext = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    if ext not in MINUTES_SIGNATURES:
        raise ValidationError(
            _("会议纪要仅支持以下格式：%(types)s。")
            % {"types": "、".join(e.upper() for e in MINUTES_SIGNATURES)}
        )
    size = getattr(upload, "size", 0) or 0
    if size > MINUTES_MAX_BYTES:
        raise ValidationError(
            _("会议纪要文件不能超过%(mb)dMB。") % {"mb": MINUTES_MAX_BYTES // (1024 * 1024)}
        )
    if size == 0:
        raise ValidationError(_("会议纪要文件为空。"))
    upload.seek(0)
    head = upload.read(16)
    upload.seek(0)
    if not any(head.startswith(sig) for sig in MINUTES_SIGNATURES[ext]):
        raise ValidationError(_("文件内容与扩展名（%(ext)s）不符。") % {"ext": ext.upper()})


@transaction.atomic
def record_meeting(
    *,
    actor: User | None,
    unit: Unit,
    date: datetime.date,
    title: str,
    attendees: str = "",
    minutes: Any = None,
) -> DeploymentMeeting:
    if actor is not None:
        _require(can_manage_unit(actor, unit), _("无权修改该单位。"))
    title = clean_text(title, label=_("会议名称"), max_length=200)
    if minutes is not None:
        validate_minutes_file(minutes)
    meeting = DeploymentMeeting(
        unit=unit, year=date.year, date=date, title=title, attendees=(attendees or "").strip()
    )
    meeting.full_clean(exclude=["minutes"])
    if minutes is not None:
        meeting.minutes.save(minutes.name, minutes, save=False)
    try:
        meeting.save()
        audit.record(
            actor=actor, action=AuditAction.CREATE, obj=meeting, after=audit.snapshot(meeting)
        )
    except Exception:
        # Django has no rollback hook: remove the stored file ourselves if the row fails.
        if meeting.minutes:
            meeting.minutes.storage.delete(meeting.minutes.name)
        raise
    return meeting


@transaction.atomic
def delete_meeting(*, actor: User, meeting: DeploymentMeeting) -> None:
    _require(can_manage_unit(actor, meeting.unit), _("无权修改该单位。"))
    before = audit.snapshot(meeting)
    meeting_id, text, unit_id = meeting.pk, str(meeting), meeting.unit_id
    storage, name = meeting.minutes.storage, meeting.minutes.name
    meeting.delete()
    audit.record(
        actor=actor,
        action=AuditAction.DELETE,
        object_type="orgs.deploymentmeeting",
        object_id=meeting_id,
        object_repr=text,
        unit_id=unit_id,
        before=before,
    )
    if name:
        # The file goes only once the row is gone for good.
        transaction.on_commit(lambda: storage.delete(name))
