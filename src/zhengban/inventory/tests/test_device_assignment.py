"""使用人账号: the account a device is assigned to, set on the device's edit page through
``services.update_device``; only an active account of the device's own unit qualifies."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from zhengban.core.filtersets import LARGE_CHOICES
from zhengban.core.models import AuditLogEntry
from zhengban.inventory import services
from zhengban.inventory.models import Device
from zhengban.inventory.tests.test_pages import make_device
from zhengban.orgs.models import User
from zhengban.orgs.testing import make_person

pytestmark = pytest.mark.django_db


@pytest.fixture
def people(org):
    org.zhang = make_person("zhang_a", org.unit_a, full_name="张三")
    org.gone = make_person("gone_a", org.unit_a, full_name="离职人员", is_active=False)
    org.child = make_person("child_a", org.unit_a_child, full_name="国库中心职员")
    org.device = make_device(org.unit_a, "pc-assign", 1)
    return org


def edit(client, device, **fields):
    data = {"assigned_name": "", "asset_number": "", "device_type": "desktop", **fields}
    return client.post(reverse("inventory:device_edit", args=[device.pk]), data)


def device_updates(device) -> int:
    return AuditLogEntry.objects.filter(
        object_type="inventory.device", object_id=str(device.pk), action="update"
    ).count()


def test_the_edit_page_offers_the_active_accounts_of_the_devices_unit(client, people):
    client.force_login(people.officer_a)
    response = client.get(reverse("inventory:device_edit", args=[people.device.pk]))
    assert response.status_code == 200
    field = response.context["form"]["assigned_user"]
    assert [(str(value), label) for value, label in field.field.choices] == [
        ("", "---------"),
        (str(people.head_a.pk), "head_a"),
        (str(people.officer_a.pk), "officer_a"),
        (str(people.staff_a.pk), "staff_a"),
        (str(people.zhang.pk), "张三（zhang_a）"),
    ]
    assert '<select name="assigned_user"' in response.content.decode()


def test_an_officer_assigns_an_account_and_the_device_page_shows_it(client, people):
    client.force_login(people.officer_a)
    response = edit(client, people.device, assigned_user=people.zhang.pk, assigned_name="张三")
    assert response.status_code == 302
    device = Device.objects.get(pk=people.device.pk)
    assert (device.assigned_user_id, device.assigned_name) == (people.zhang.pk, "张三")
    entry = AuditLogEntry.objects.get(object_type="inventory.device", action="update")
    assert (entry.actor_id, entry.before["assigned_user_id"], entry.after["assigned_user_id"]) == (
        people.officer_a.pk,
        None,
        people.zhang.pk,
    )
    # Governance finds the person's devices by the account.
    assert list(Device.objects.filter(assigned_user=people.zhang)) == [device]
    page = client.get(reverse("inventory:device_detail", args=[device.pk])).content.decode()
    assert '<dd data-testid="assigned-user">张三（zhang_a）</dd>' in page
    # The edit page starts from the assigned account; an empty choice unassigns it.
    form = client.get(reverse("inventory:device_edit", args=[device.pk])).context["form"]
    assert form["assigned_user"].value() == people.zhang.pk
    assert edit(client, device).status_code == 302
    assert Device.objects.get(pk=device.pk).assigned_user_id is None
    page = client.get(reverse("inventory:device_detail", args=[device.pk])).content.decode()
    assert '<dd data-testid="assigned-user">—</dd>' in page


@pytest.mark.parametrize("who", ["officer_b", "child", "gone", "sysadmin"])
def test_an_account_outside_the_unit_or_deactivated_is_a_form_error(client, people, who):
    client.force_login(people.officer_a)
    person = getattr(people, who)
    response = edit(client, people.device, assigned_user=person.pk)
    assert response.status_code == 400
    assert response.context["form"].errors == {"assigned_user": ["所选账号不是本单位的在用账号。"]}
    assert Device.objects.get(pk=people.device.pk).assigned_user_id is None
    assert device_updates(people.device) == 0


def test_update_device_refuses_another_units_account_itself(people):
    for person, message in (
        (people.officer_b, "使用人账号不属于该终端所在单位。"),
        (people.child, "使用人账号不属于该终端所在单位。"),
        (people.sysadmin, "使用人账号不属于该终端所在单位。"),
        (people.gone, "使用人账号已停用。"),
    ):
        with pytest.raises(ValidationError) as refused:
            services.update_device(
                actor=people.officer_a, device=people.device, assigned_user=person
            )
        assert refused.value.message_dict == {"assigned_user": [message]}, person.username
    assert Device.objects.get(pk=people.device.pk).assigned_user_id is None
    assert device_updates(people.device) == 0


def test_the_service_reads_the_accounts_unit_afresh(people):
    # The form's copy of the account says unit_a; the account has since moved to unit_b.
    stale = User.objects.get(pk=people.zhang.pk)
    User.objects.filter(pk=people.zhang.pk).update(unit=people.unit_b)
    with pytest.raises(ValidationError) as refused:
        services.update_device(actor=people.officer_a, device=people.device, assigned_user=stale)
    assert refused.value.message_dict == {"assigned_user": ["使用人账号不属于该终端所在单位。"]}


def test_a_device_keeps_its_deactivated_account_through_other_edits(client, people):
    services.update_device(actor=people.officer_a, device=people.device, assigned_user=people.zhang)
    User.objects.filter(pk=people.zhang.pk).update(is_active=False)
    client.force_login(people.officer_a)
    form = client.get(reverse("inventory:device_edit", args=[people.device.pk])).context["form"]
    assert (str(people.zhang.pk), "张三（zhang_a）（已停用）") in [
        (str(value), label) for value, label in form.fields["assigned_user"].choices
    ]
    response = edit(client, people.device, assigned_user=people.zhang.pk, asset_number="ZC-9")
    assert response.status_code == 302
    device = Device.objects.get(pk=people.device.pk)
    assert (device.assigned_user_id, device.asset_number) == (people.zhang.pk, "ZC-9")
    # Another device cannot be given the deactivated account.
    other = make_device(people.unit_a, "pc-other", 1)
    assert edit(client, other, assigned_user=people.zhang.pk).status_code == 400


def test_a_large_unit_takes_the_user_name_instead_of_a_drop_down(client, people):
    User.objects.bulk_create(
        User(username=f"p{n:04d}", full_name=f"职员{n}", unit=people.unit_a, password="!")
        for n in range(LARGE_CHOICES)
    )
    client.force_login(people.officer_a)
    url = reverse("inventory:device_edit", args=[people.device.pk])
    page = client.get(url).content.decode()
    assert '<input type="text" name="assigned_user" placeholder="用户名"' in page
    assert "p0007" not in page  # no option per person
    assert "本单位人员较多，请输入使用人账号的用户名；留空表示不关联账号。" in page

    assert edit(client, people.device, assigned_user=" p0007 ").status_code == 302
    device = Device.objects.get(pk=people.device.pk)
    assert device.assigned_user.username == "p0007"
    form = client.get(url).context["form"]
    assert form["assigned_user"].value() == "p0007"
    for name in ("officer_b", "child_a", "gone_a", str(people.zhang.pk), "nobody"):
        response = edit(client, device, assigned_user=name)
        assert response.status_code == 400, name
        assert response.context["form"].errors == {
            "assigned_user": ["所选账号不是本单位的在用账号。"]
        }
    assert Device.objects.get(pk=device.pk).assigned_user.username == "p0007"


def test_a_device_keeps_an_account_that_moved_to_another_unit_until_changed(client, people):
    services.update_device(actor=people.officer_a, device=people.device, assigned_user=people.zhang)
    User.objects.filter(pk=people.zhang.pk).update(unit=people.unit_b)
    client.force_login(people.officer_a)
    form = client.get(reverse("inventory:device_edit", args=[people.device.pk])).context["form"]
    labels = dict((str(v), label) for v, label in form.fields["assigned_user"].choices)
    assert labels[str(people.zhang.pk)] == "张三（zhang_a）（已调离本单位）"
    assert form.initial["assigned_user"] == people.zhang
    response = edit(client, people.device, assigned_user=people.zhang.pk, asset_number="ZC-10")
    assert response.status_code == 302
    device = Device.objects.get(pk=people.device.pk)
    assert (device.assigned_user_id, device.asset_number) == (people.zhang.pk, "ZC-10")
    # Another device of the unit cannot be given it.
    other = make_device(people.unit_a, "pc-other", 1)
    assert edit(client, other, assigned_user=people.zhang.pk).status_code == 400
