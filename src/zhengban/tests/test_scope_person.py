"""The person limit of the scoping mechanism: who gets it (``User.scope``) and what it adds to
a model's filter (``scope_q``). The scoping matrix proves it page by page."""

from __future__ import annotations

import dataclasses

import pytest
from django.db.models import Q

from zhengban.catalog.models import Product
from zhengban.core.scoping import Scope, scope_q
from zhengban.governance.models import ConfigurationSpec, SelfReport, SoftwareRequest, Violation
from zhengban.inventory.models import Device, Installation, InstallationEvent
from zhengban.licensing.models import Allocation, CompliancePosition
from zhengban.orgs.choices import Role
from zhengban.orgs.models import Region, Unit, User
from zhengban.orgs.testing import make_person

STAFF = Scope("unit", unit_path="/3/", unit_id=3, region_id=9, person_id=7)
OFFICER = dataclasses.replace(STAFF, person_id=None)


def test_a_person_limited_scope_keeps_only_their_own_rows_of_models_naming_a_person():
    assert scope_q(Device, STAFF) == Q(unit__path__startswith="/3/") & Q(assigned_user=7)
    assert scope_q(Installation, STAFF) == Q(device__unit__path__startswith="/3/") & Q(
        device__assigned_user=7
    )
    assert scope_q(InstallationEvent, STAFF) == Q(device__unit__path__startswith="/3/") & Q(
        device__assigned_user=7
    )
    assert scope_q(SoftwareRequest, STAFF) == Q(unit__path__startswith="/3/") & Q(requester=7)
    assert scope_q(SelfReport, STAFF) == Q(campaign__unit__path__startswith="/3/") & Q(person=7)
    # Several paths: any one of them makes the row the person's.
    assert scope_q(Violation, STAFF) == Q(unit__path__startswith="/3/") & (
        Q(person=7) | Q(assignee=7)
    )
    assert scope_q(Allocation, STAFF) == Q(unit__path__startswith="/3/") & (
        Q(device__assigned_user=7) | Q(person=7)
    )


def test_models_without_a_person_show_the_person_limited_scope_the_whole_unit():
    assert scope_q(Unit, STAFF) == Q(path__startswith="/3/")
    assert scope_q(User, STAFF) == Q(unit__path__startswith="/3/")
    assert scope_q(Region, STAFF) == Q(pk=9)
    assert scope_q(CompliancePosition, STAFF) == Q(unit__path__startswith="/3/")
    assert scope_q(Product, STAFF) == Q(owner_unit__path__startswith="/3/")
    assert not hasattr(ConfigurationSpec, "scope_person_path")


def test_without_a_person_limit_the_filters_are_unchanged():
    assert scope_q(Device, OFFICER) == Q(unit__path__startswith="/3/")
    assert scope_q(Violation, OFFICER) == Q(unit__path__startswith="/3/")
    region = Scope("region", region_path="/370000/", region_id=1)
    assert scope_q(Device, region) == Q(unit__region__path__startswith="/370000/")
    assert scope_q(Device, Scope.everything()) is None
    assert scope_q(Device, Scope.nothing()) == Q(pk__in=[])


@pytest.mark.django_db
def test_only_people_without_a_unit_wide_role_are_person_limited(org):
    def limit(user: User) -> tuple[str, int | None]:
        scope = User.objects.get(pk=user.pk).scope
        return scope.kind, scope.person_id

    unit = org.unit_a
    approver = make_person("approver_a", unit, Role.APPROVER)
    staff_approver = make_person("staff_approver_a", unit, Role.STAFF, Role.APPROVER)
    staff_officer = make_person("staff_officer_a", unit, Role.STAFF, Role.SAM_OFFICER)
    staff_head = make_person("staff_head_a", unit, Role.STAFF, Role.HEAD)
    roleless = make_person("roleless_a", unit)
    staff_finance = make_person("staff_finance_a", unit, Role.STAFF, Role.FINANCE)

    assert limit(org.staff_a) == ("unit", org.staff_a.pk)
    assert limit(roleless) == ("unit", roleless.pk)
    for person in (org.officer_a, org.head_a, approver, staff_approver, staff_officer, staff_head):
        assert limit(person) == ("unit", None), person.username
    assert limit(staff_finance) == ("region", None)
    assert limit(org.supervisor_a) == ("region", None)
    assert limit(org.sysadmin) == ("all", None)
