"""A region goes back to inheriting its licensing policy: the service, its audit record, who
may do it, and the button on the policy page."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from django.contrib.messages import get_messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse

from zhengban.core.models import AuditLogEntry
from zhengban.licensing import services
from zhengban.licensing.models import LicensingPolicy
from zhengban.orgs.choices import Role
from zhengban.orgs.testing import make_person

INHERIT_BUTTON = b'data-testid="policy-inherit"'


def _rows(response) -> dict[str, tuple[str, str, str]]:
    """The policy table: field → (value, origin, fallback) as shown."""
    html = response.content.decode()
    out = {}
    for name, cells in re.findall(r'<tr data-field="(\w+)">(.*?)</tr>', html, re.S):
        texts = [
            " ".join(re.sub(r"<[^>]+>", "", c).split())
            for c in re.findall(r"<td>(.*?)</td>", cells, re.S)
        ]
        out[name] = tuple(texts[1:])
    return out


def _messages(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def test_clear_policy_inherits_again_with_an_audit_record(org):
    services.set_policy(actor=None, region=org.province, office_cap=Decimal("500"))
    services.set_policy(
        actor=org.supervisor_a,
        region=org.city_a,
        office_cap=Decimal("550"),
        service_life_years=6,
    )
    assert services.policy_for(org.county_a1).office_cap == Decimal("550")

    now = services.clear_policy(actor=org.supervisor_a, region=org.city_a)

    assert (now.region, now.office_cap, now.service_life_years) == (org.province, Decimal("500"), 5)
    assert list(LicensingPolicy.objects.values_list("region__name", flat=True)) == ["山东省"]
    # The county below inherited from the city: now from the province.
    assert services.policy_for(org.county_a1).office_cap == Decimal("500")
    entry = AuditLogEntry.objects.filter(object_type="licensing.licensingpolicy").latest("pk")
    assert (entry.actor_name, entry.action, entry.object_repr, entry.after) == (
        "supervisor_a",
        "delete",
        str(LicensingPolicy(region=org.city_a)),
        None,
    )
    assert {k: entry.before[k] for k in ("region_id", "office_cap", "service_life_years")} == {
        "region_id": org.city_a.pk,
        "office_cap": "550.00",
        "service_life_years": 6,
    }


def test_clear_policy_refuses_others_and_regions_without_their_own(org):
    services.set_policy(actor=None, region=org.province, office_cap=Decimal("500"))
    for actor in (org.officer_a, org.supervisor_a, org.head_a):
        with pytest.raises(PermissionDenied):
            services.clear_policy(actor=actor, region=org.province)
    assert LicensingPolicy.objects.count() == 1
    with pytest.raises(ValidationError) as refused:
        services.clear_policy(actor=org.supervisor_a, region=org.city_a)
    assert refused.value.messages == ["本区划未设定自己的标准。"]
    # The province bureau's officer (and the system administrator) may.
    bureau_officer = make_person("bureau_officer", org.province_bureau, Role.SAM_OFFICER)
    services.clear_policy(actor=bureau_officer, region=org.province)
    assert LicensingPolicy.objects.count() == 0
    services.set_policy(actor=None, region=org.city_b, office_cap=Decimal("450"))
    assert services.clear_policy(actor=org.sysadmin, region=org.city_b).office_cap == Decimal("600")
    assert (
        AuditLogEntry.objects.filter(
            object_type="licensing.licensingpolicy", action="delete"
        ).count()
        == 2
    )


def test_inherit_button_on_the_policy_page(client, org):
    services.set_policy(actor=None, region=org.province, office_cap=Decimal("500"))
    page = reverse("licensing:policy_region", args=[org.city_a.pk])
    inherit = reverse("licensing:policy_inherit", args=[org.city_a.pk])
    client.force_login(org.supervisor_a)
    # Nothing of its own to drop: no button.
    assert INHERIT_BUTTON not in client.get(page).content
    services.set_policy(actor=org.supervisor_a, region=org.city_a, office_cap=Decimal("550"))
    html = client.get(page).content.decode()
    assert (
        f'<form method="post" action="{inherit}" class="inline" '
        "onsubmit=\"return confirm('删除本区划自己的标准,恢复沿用上级区划的标准？')\">"
    ) in html
    assert ">恢复沿用上级标准</button>" in html
    assert _rows(client.get(page))["office_cap"] == ("550.00 元", "本区划设定", "500.00")

    assert client.get(inherit).status_code == 405  # POST only
    response = client.post(inherit)
    assert (response.status_code, response["Location"]) == (302, page)
    assert _messages(response) == ["已恢复沿用上级区划的标准。"]
    assert not LicensingPolicy.objects.filter(region=org.city_a).exists()
    after = client.get(page)
    assert _rows(after)["office_cap"] == ("500.00 元", "继承自山东省", "600")
    assert INHERIT_BUTTON not in after.content
    # A second submit (another tab) says there is nothing to drop.
    response = client.post(inherit)
    assert (response.status_code, _messages(response)) == (302, ["本区划未设定自己的标准。"])


def test_inherit_is_only_for_the_regions_own_bureau(client, org):
    for region in (org.province, org.city_a, org.county_a1):
        services.set_policy(actor=None, region=region, office_cap=Decimal("550"))
    # The unit's officer sees the county's own policy without the button, and may not post.
    client.force_login(org.officer_a)
    assert INHERIT_BUTTON not in client.get(reverse("licensing:policy")).content
    county = reverse("licensing:policy_inherit", args=[org.county_a1.pk])
    assert client.post(county).status_code == 403
    # The city bureau may not clear the county below it, nor see the province.
    client.force_login(org.supervisor_a)
    assert client.post(county).status_code == 403
    assert (
        client.post(reverse("licensing:policy_inherit", args=[org.province.pk])).status_code == 404
    )
    assert client.post(reverse("licensing:policy_inherit", args=[987654321])).status_code == 404
    assert LicensingPolicy.objects.count() == 3
