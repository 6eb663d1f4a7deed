import io
from collections import Counter

import pytest
from django.core.management import call_command

from zhengban.orgs.choices import Role, UnitType
from zhengban.orgs.models import (
    Department,
    DeploymentMeeting,
    MechanismMember,
    OfficerListSubmission,
    Region,
    Unit,
    User,
)

LISTED = [
    "sysadmin",
    "secadmin",
    "auditadmin",
    "supervisor",
    "city_supervisor",
    "officer",
    "staff",
    "head",
    "finance",
    "auditor",
]


def counts():
    return (
        Region.objects.count(),
        Unit.objects.count(),
        User.objects.count(),
        Department.objects.count(),
        MechanismMember.objects.count(),
        DeploymentMeeting.objects.count(),
        OfficerListSubmission.objects.count(),
    )


@pytest.mark.django_db
def test_demo_is_complete_and_idempotent(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    out = io.StringIO()
    call_command("demo", stdout=out)
    first = counts()
    assert first == (12, 62, 204, 209, 70, 103, 119)
    call_command("demo", stdout=io.StringIO())
    assert counts() == first

    levels = Counter(Region.objects.values_list("level", flat=True))
    assert levels == {"province": 1, "city": 3, "county": 8}
    assert Unit.objects.filter(is_copyright_bureau=True).count() == 12
    assert set(Unit.objects.values_list("unit_type", flat=True)) == set(UnitType.values)
    for username in LISTED:
        user = User.objects.get(username=username)
        assert user.check_password("Demo-Passw0rd!"), username
        assert f"  {username}" in out.getvalue()
    assert sorted(User.objects.get(username="officer").role_set) == ["approver", "sam_officer"]
    assert User.objects.get(username="city_supervisor").unit.name == "济南市版权局"
    # Every role has someone.
    held = set(User.objects.values_list("role_grants__role", flat=True))
    assert held == set(Role.values)
    statuses = Counter(
        OfficerListSubmission.objects.filter(year=max_year()).values_list("status", flat=True)
    )
    assert statuses == {"received": 31, "submitted": 12, "draft": 8, "returned": 6}
    officer_unit = User.objects.get(username="officer").unit
    assert officer_unit.meetings.exclude(minutes="").count() >= 1


def max_year():
    return max(OfficerListSubmission.objects.values_list("year", flat=True))
