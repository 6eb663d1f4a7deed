import pytest
from django.core.exceptions import PermissionDenied

from zhengban.core.models import AuditLogEntry
from zhengban.orgs import services
from zhengban.orgs.choices import UnitType
from zhengban.orgs.models import Unit
from zhengban.orgs.validators import make_credit_code


def fields(org, serial):
    return {
        "name": f"历下区测试局{serial}",
        "credit_code": make_credit_code("370102", serial),
        "unit_type": UnitType.GOVERNMENT_AGENCY,
        "region": org.county_a1,
    }


@pytest.mark.django_db
@pytest.mark.parametrize("who", ["officer_a", "supervisor_province", "secadmin", "head_a"])
def test_service_refuses_actors_without_the_right(org, who):
    units, entries = Unit.objects.count(), AuditLogEntry.objects.count()
    with pytest.raises(PermissionDenied, match="只有系统管理员可以新建单位。"):
        services.create_unit(actor=getattr(org, who), **fields(org, 801))
    assert (Unit.objects.count(), AuditLogEntry.objects.count()) == (units, entries)


@pytest.mark.django_db
def test_deactivated_system_admin_is_refused(org):
    org.sysadmin.is_active = False
    org.sysadmin.save(update_fields=["is_active"])
    with pytest.raises(PermissionDenied):
        services.create_unit(actor=org.sysadmin, **fields(org, 802))
    assert not Unit.objects.filter(credit_code=make_credit_code("370102", 802)).exists()


@pytest.mark.django_db
def test_system_admin_and_the_server_itself_may(org):
    unit = services.create_unit(actor=org.sysadmin, departments=["办公室"], **fields(org, 803))
    entry = AuditLogEntry.objects.get(action="create", object_type="orgs.unit", object_id=unit.pk)
    assert (entry.actor_name, unit.departments.count()) == ("sysadmin", 1)
    unit = services.create_unit(actor=None, **fields(org, 804))
    entry = AuditLogEntry.objects.get(action="create", object_type="orgs.unit", object_id=unit.pk)
    assert entry.actor_name == ""
