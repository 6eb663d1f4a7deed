"""Scoping-matrix factories and URL registrations for core and orgs, the two apps under
everything else. Later apps register theirs in their own `<app>/testing.py` (see
zhengban/core/testing.py for how)."""

from __future__ import annotations

import datetime
import itertools

from django.utils import timezone

from zhengban.core import audit
from zhengban.core.choices import AuditAction
from zhengban.core.models import AuditLogEntry, Notification
from zhengban.core.testing import register_factory, register_url
from zhengban.orgs import services
from zhengban.orgs.choices import MechanismRole, RegionLevel, Role, SubmissionStatus
from zhengban.orgs.models import (
    Department,
    DeploymentMeeting,
    MechanismMember,
    OfficerListSubmission,
    Region,
    RoleGrant,
    Unit,
    User,
)
from zhengban.orgs.testing import make_person, make_unit

_serial = itertools.count(1)


def _region(unit: Unit) -> Region:
    prefix = unit.region.code[:4]
    taken = set(Region.objects.filter(code__startswith=prefix).values_list("code", flat=True))
    code = next(f"{prefix}{i:02d}" for i in range(81, 100) if f"{prefix}{i:02d}" not in taken)
    return services.create_region(
        actor=None,
        code=code,
        name=f"{unit.name}辖区{code}",
        level=RegionLevel.COUNTY,
        parent=unit.region,
    )


def _person(unit: Unit) -> User:
    n = next(_serial)
    return make_person(f"matrix_b_{n}", unit, Role.STAFF, full_name=f"{unit.name}职员{n}")


def _audit_entry(unit: Unit) -> AuditLogEntry:
    return audit.record(
        actor=None,
        action=AuditAction.UPDATE,
        obj=unit,
        object_repr=f"{unit.name}审计记录",
        message=f"{unit.name}审计记录",
    )


register_factory(Region, _region)
register_factory(Unit, lambda unit: make_unit(unit.region, f"{unit.name}下属中心", parent=unit))
register_factory(Department, lambda unit: Department.objects.create(unit=unit, name=f"{unit}处"))
register_factory(User, _person)
register_factory(RoleGrant, lambda unit: _person(unit).role_grants.get())
register_factory(
    MechanismMember,
    lambda unit: MechanismMember.objects.create(
        region=unit.region,
        role=MechanismRole.MEMBER_UNIT,
        unit=unit,
        person_name=f"{unit.name}组员",
        duties=f"{unit.name}职责",
    ),
)
register_factory(
    DeploymentMeeting,
    lambda unit: DeploymentMeeting.objects.create(
        unit=unit, year=2024, date=datetime.date(2024, 3, 1), title=f"{unit.name}部署会议"
    ),
)
register_factory(
    OfficerListSubmission,
    lambda unit: OfficerListSubmission.objects.create(
        unit=unit,
        year=2024,
        status=SubmissionStatus.SUBMITTED,
        submitted_at=timezone.now(),
        officers=[{"name": f"{unit.name}负责人", "post": "科长", "phone": "", "department": ""}],
    ),
)
register_factory(AuditLogEntry, _audit_entry)
register_factory(
    Notification,
    lambda unit: Notification.objects.create(
        recipient=_person(unit), subject=f"{unit.name}通知", body=f"{unit.name}通知"
    ),
)


def _bureau_of(unit: Unit) -> dict[str, int]:
    # The bureau pages only accept a copyright bureau: use unit B's own region's bureau.
    return {"pk": Unit.objects.get(region=unit.region, is_copyright_bureau=True).pk}


# orgs' function views (they declare no model).
register_url("orgs:unit_edit", Unit)
register_url("orgs:department_add", Unit)
register_url("orgs:department_rename", Department)
register_url("orgs:meeting_create", Unit)
register_url("orgs:meeting_minutes", DeploymentMeeting)
register_url("orgs:meeting_delete", DeploymentMeeting)
register_url("orgs:mechanism_add", Region)
register_url("orgs:mechanism_edit", MechanismMember)
register_url("orgs:mechanism_delete", MechanismMember)
register_url("orgs:submission_unit", Unit, kwargs=lambda unit: {"pk": unit.pk, "year": 2024})
register_url("orgs:submission_receive", OfficerListSubmission)
register_url("orgs:submission_return", OfficerListSubmission)
register_url("orgs:bureau_submissions", Unit, kwargs=_bureau_of)
register_url("orgs:bureau_remind", Unit, kwargs=_bureau_of)
register_url(
    "orgs:import_report",
    skip="report ids are random per upload and kept in the uploader's session",
)
