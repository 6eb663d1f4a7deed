import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from zhengban.core.models import AuditLogEntry
from zhengban.orgs import services
from zhengban.orgs.choices import Role
from zhengban.orgs.models import Region, RoleGrant, Unit
from zhengban.orgs.testing import make_person
from zhengban.orgs.validators import validate_credit_code


def names(qs):
    return sorted(str(o) for o in qs)


@pytest.mark.django_db
def test_unit_scope_covers_own_unit_and_affiliates(org):
    assert names(Unit.objects.visible_to(org.officer_a)) == [
        "历下区财政局",
        "历下区财政局国库支付中心",
    ]
    assert names(Unit.objects.visible_to(org.officer_b)) == ["青岛市教育局"]
    assert names(Region.objects.visible_to(org.officer_a)) == ["历下区"]


@pytest.mark.django_db
def test_supervisor_scope_is_region_subtree(org):
    assert names(Unit.objects.visible_to(org.supervisor_a)) == [
        "历下区财政局",
        "历下区财政局国库支付中心",
        "济南市版权局",
    ]
    assert Unit.objects.visible_to(org.supervisor_province).count() == 6
    assert names(Region.objects.visible_to(org.supervisor_a)) == ["历下区", "济南市"]


@pytest.mark.django_db
def test_three_admins_cannot_be_combined(org):
    with pytest.raises(ValidationError):
        services.grant_role(actor=org.secadmin, user=org.sysadmin, role=Role.AUDIT_ADMIN)
    with pytest.raises(ValidationError):
        services.grant_role(actor=org.secadmin, user=org.officer_a, role=Role.SYSADMIN)
    # Even bypassing the service, the database refuses a second platform role.
    with pytest.raises(IntegrityError), transaction.atomic():
        RoleGrant.objects.create(user=org.sysadmin, role=Role.SECADMIN)
    assert sorted(org.sysadmin.role_grants.values_list("role", flat=True)) == ["sysadmin"]


@pytest.mark.django_db
def test_only_secadmin_grants_roles_and_it_is_audited(org):
    from django.core.exceptions import PermissionDenied

    with pytest.raises(PermissionDenied):
        services.grant_role(actor=org.sysadmin, user=org.staff_a, role=Role.APPROVER)
    services.grant_role(actor=org.secadmin, user=org.staff_a, role=Role.APPROVER)
    entry = AuditLogEntry.objects.filter(action="grant").latest("id")
    assert (entry.actor_name, entry.after) == (
        "secadmin",
        {"user": org.staff_a.pk, "role": "approver"},
    )


@pytest.mark.django_db
def test_audit_log_is_append_only(org):
    entry = AuditLogEntry.objects.first()
    with pytest.raises(Exception, match="append-only"), transaction.atomic():
        AuditLogEntry.objects.filter(pk=entry.pk).update(actor_name="someone else")
    with pytest.raises(Exception, match="append-only"), transaction.atomic():
        AuditLogEntry.objects.filter(pk=entry.pk).delete()


@pytest.mark.parametrize(
    "code,ok",
    [
        ("91350100M000100Y43", True),
        ("11100000000013127A", False),
        ("91350100M000100Y4", False),
        ("91350100M000100Y4I", False),
    ],
)
def test_credit_code_validation(code, ok):
    if ok:
        validate_credit_code(code)
    else:
        with pytest.raises(ValidationError):
            validate_credit_code(code)


@pytest.mark.django_db
def test_people_without_unit_role_see_nothing(org):
    nobody = make_person("nobody", None)
    assert Unit.objects.visible_to(nobody).count() == 0
