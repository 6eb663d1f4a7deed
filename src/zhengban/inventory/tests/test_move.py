"""Handing a device to another unit (调剂): who may, what follows the device, what licensing
and the agents' tokens make of it."""

from __future__ import annotations

import json

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse
from django.utils import timezone

from zhengban.core import hooks
from zhengban.core.models import AuditLogEntry
from zhengban.inventory import services
from zhengban.inventory.models import Device, DeviceMAC, DeviceMove
from zhengban.inventory.testing import GLPI_EXAMPLES
from zhengban.orgs.models import Department, User

pytestmark = pytest.mark.django_db


@pytest.fixture
def changed():
    """Every DEVICE_CHANGED as fired: its keyword arguments."""
    calls: list[dict] = []

    def record(**kwargs):
        calls.append(kwargs)

    hooks.register(hooks.DEVICE_CHANGED, record)
    yield calls
    hooks._handlers[hooks.DEVICE_CHANGED].remove(record)


@pytest.fixture
def world(org):
    org.dept_a = Department.objects.create(unit=org.unit_a, name="办公室")
    org.dept_child = Department.objects.create(unit=org.unit_a_child, name="综合科")
    org.dept_b = Department.objects.create(unit=org.unit_b, name="信息中心")
    org.device = services.ingest_inventory(
        unit=org.unit_a,
        document=_document("computer_3.json"),
    ).device
    org.device = services.update_device(
        actor=org.officer_a,
        device=org.device,
        department=org.dept_a,
        assigned_user=org.staff_a,
        assigned_name="张三",
        asset_number="ZC-7",
    )
    return org


def _document(name: str):
    from zhengban.inventory import parsers

    return parsers.document_from_json(json.loads((GLPI_EXAMPLES / name).read_bytes()))


def test_an_officer_moves_a_device_within_their_subtree(world, changed):
    device = services.move_device(
        actor=world.officer_a,
        device=world.device,
        unit=world.unit_a_child,
        department=world.dept_child,
        reason=" 国库支付中心新增岗位 ",
    )
    device.refresh_from_db()
    assert (device.unit_id, device.department_id) == (world.unit_a_child.pk, world.dept_child.pk)
    # staff_a works in unit_a: the account and its name stay behind; the asset number goes.
    assert (device.assigned_user_id, device.assigned_name, device.asset_number) == (
        None,
        "",
        "ZC-7",
    )
    assert list(
        DeviceMove.objects.values_list(
            "device_id", "from_unit_id", "to_unit_id", "actor_id", "reason"
        )
    ) == [
        (
            device.pk,
            world.unit_a.pk,
            world.unit_a_child.pk,
            world.officer_a.pk,
            "国库支付中心新增岗位",
        )
    ]
    entry = AuditLogEntry.objects.filter(object_id=str(device.pk)).order_by("-pk").first()
    assert (entry.action, entry.actor_id) == ("update", world.officer_a.pk)
    assert entry.before == {
        "unit_id": world.unit_a.pk,
        "department_id": world.dept_a.pk,
        "assigned_user_id": world.staff_a.pk,
        "assigned_name": "张三",
    }
    assert entry.after == {
        "unit_id": world.unit_a_child.pk,
        "department_id": world.dept_child.pk,
        "assigned_user_id": None,
        "assigned_name": "",
    }
    assert (
        entry.message
        == "移交终端：历下区财政局 → 历下区财政局国库支付中心；原因：国库支付中心新增岗位"
    )
    assert [(c["device"].pk, c["fields"], c["old_unit_id"]) for c in changed] == [
        (
            device.pk,
            {"unit", "department", "assigned_user", "assigned_name"},
            world.unit_a.pk,
        )
    ]


def test_the_administrator_moves_anywhere_and_a_person_of_the_new_unit_stays(world, changed):
    # The device's person transferred to unit_b first (a device is only ever assigned to an
    # account of its own unit; the account then changed units), and the device follows.
    User.objects.filter(pk=world.staff_a.pk).update(unit=world.unit_b)
    changed.clear()
    device = services.move_device(
        actor=world.sysadmin, device=world.device, unit=world.unit_b, reason="调剂"
    )
    device.refresh_from_db()
    assert (device.unit_id, device.department_id, device.assigned_user_id) == (
        world.unit_b.pk,
        None,
        world.staff_a.pk,
    )
    assert device.assigned_name == "张三"
    assert [(c["fields"], c["old_unit_id"]) for c in changed] == [
        ({"unit", "department"}, world.unit_a.pk)
    ]


@pytest.mark.parametrize(
    "who, target, department, reason, error",
    [
        ("officer_a", "unit_b", None, "调剂", PermissionDenied),  # not theirs
        ("officer_b", "unit_b", None, "调剂", PermissionDenied),  # the device is not theirs
        ("supervisor_province", "unit_b", None, "调剂", PermissionDenied),  # oversees only
        ("staff_a", "unit_a_child", None, "调剂", PermissionDenied),
        ("officer_a", "unit_a", None, "调剂", ValidationError),  # already there
        ("officer_a", "unit_a_child", "dept_a", "调剂", ValidationError),  # another unit's
        ("officer_a", "unit_a_child", None, "  ", ValidationError),  # no reason
        ("officer_a", "unit_a_child", None, "因" * 201, ValidationError),
    ],
)
def test_refusals_change_nothing(world, changed, who, target, department, reason, error):
    with pytest.raises(error):
        services.move_device(
            actor=getattr(world, who),
            device=world.device,
            unit=getattr(world, target),
            department=getattr(world, department) if department else None,
            reason=reason,
        )
    world.device.refresh_from_db()
    assert (world.device.unit_id, world.device.department_id) == (
        world.unit_a.pk,
        world.dept_a.pk,
    )
    assert (DeviceMove.objects.count(), changed) == (0, [])


def test_licensing_positions_follow_the_device(world):
    from zhengban.licensing import services as licensing
    from zhengban.licensing.models import CompliancePosition, ComplianceResult, RecomputeRequest

    device = world.device
    licensing.recompute_units([world.unit_a.pk, world.unit_b.pk])

    def figures():
        return sorted(
            CompliancePosition.objects.filter(
                unit__in=[world.unit_a, world.unit_b], required__gt=0
            ).values_list("unit_id", "product__key", "required")
        )

    def judged_units():
        return set(ComplianceResult.objects.filter(device=device).values_list("unit_id", flat=True))

    # The example computer's one product that needs a licence, counted per install.
    assert figures() == [(world.unit_a.pk, "anaconda", 6)]
    assert judged_units() == {world.unit_a.pk}

    services.move_device(actor=world.sysadmin, device=device, unit=world.unit_b, reason="调剂")
    licensing.drain_recompute_queue()
    assert RecomputeRequest.objects.count() == 0
    assert figures() == [(world.unit_b.pk, "anaconda", 6)]
    assert judged_units() == {world.unit_b.pk}
    # Nothing left for a full recompute of either unit to change.
    assert licensing.recompute_units([world.unit_a.pk, world.unit_b.pk]) == 0


# --------------------------------------------------------------------------- pages


def test_the_device_page_offers_the_move_to_those_who_may(world, client):
    url = reverse("inventory:device_detail", args=[world.device.pk])
    client.force_login(world.officer_a)
    assert b'data-testid="device-move"' in client.get(url).content
    client.force_login(world.staff_a)
    assert b'data-testid="device-move"' not in client.get(url).content


def test_the_move_form_lists_the_units_in_scope_and_moves(world, client):
    url = reverse("inventory:device_move", args=[world.device.pk])
    client.force_login(world.officer_a)
    response = client.get(url)
    assert response.status_code == 200
    form = response.context["form"]
    assert list(form.fields["unit"].queryset) == [world.unit_a_child]
    assert list(form.fields["department"].queryset) == [world.dept_child]
    # A department of another unit, and no reason: shown on the form, nothing moved.
    response = client.post(url, {"unit": world.unit_a_child.pk, "department": world.dept_a.pk})
    assert response.status_code == 400
    errors = response.context["form"].errors
    assert sorted(errors) == ["department", "reason"]
    response = client.post(url, {"unit": world.unit_b.pk, "reason": "调剂"})
    assert response.status_code == 400
    assert list(response.context["form"].errors) == ["unit"]
    assert DeviceMove.objects.count() == 0

    response = client.post(
        url,
        {"unit": world.unit_a_child.pk, "department": world.dept_child.pk, "reason": "调剂"},
        follow=True,
    )
    assert response.redirect_chain == [
        (reverse("inventory:device_detail", args=[world.device.pk]), 302)
    ]
    assert [str(m) for m in response.context["messages"]] == [
        "终端已移交到“历下区财政局国库支付中心”。"
    ]
    world.device.refresh_from_db()
    assert (world.device.unit_id, world.device.department_id) == (
        world.unit_a_child.pk,
        world.dept_child.pk,
    )
    # The device page tells the hand-over.
    moved = DeviceMove.objects.get().moved
    html = response.content.decode()
    start = html.index('data-testid="device-moves"')
    items = html[start : html.index("</ul>", start)]
    assert items.count("<li>") == 1
    assert (
        f"{timezone.localtime(moved):%Y-%m-%d %H:%M} · 历下区财政局 → 历下区财政局国库支付中心 · "
        f"{world.officer_a} · 调剂</li>"
    ) in items


def test_the_move_form_outside_scope(world, client):
    url = reverse("inventory:device_move", args=[world.device.pk])
    client.force_login(world.officer_b)  # cannot see the device
    assert client.get(url).status_code == 404
    assert client.post(url, {"unit": world.unit_b.pk, "reason": "调剂"}).status_code == 404
    client.force_login(world.staff_a)  # sees it, manages nothing
    assert client.get(url).status_code == 403
    assert client.post(url, {"unit": world.unit_a_child.pk, "reason": "调剂"}).status_code == 403
    client.force_login(world.supervisor_a)  # oversees it, manages nothing
    assert client.get(url).status_code == 403
    assert DeviceMove.objects.count() == 0


# --------------------------------------------------------------------------- agents


def test_agents_follow_the_new_units_token_and_the_old_one_is_refused(world, client):
    _row, old_token = services.create_enrollment_token(actor=None, unit=world.unit_a)
    _row, new_token = services.create_enrollment_token(actor=None, unit=world.unit_b)
    macs = sorted(world.device.macs.values_list("mac", flat=True))
    assert len(macs) == 2
    services.move_device(
        actor=world.sysadmin, device=world.device, unit=world.unit_b, reason="调剂"
    )
    # Its MACs are looked up within its unit, which they follow.
    assert list(DeviceMAC.objects.order_by("mac").values_list("mac", "unit_id")) == [
        (mac, world.unit_b.pk) for mac in macs
    ]

    def post(token, name):
        return client.generic(
            "POST",
            reverse("inventory:ingest", args=[token]),
            (GLPI_EXAMPLES / name).read_bytes(),
            content_type="application/json",
        )

    # The new unit's token updates the same device.
    response = post(new_token, "computer_3_updated.json")
    assert (response.status_code, response.json()) == (200, {"status": "ok", "expiration": 24})
    assert list(Device.objects.values_list("pk", "unit_id")) == [(world.device.pk, world.unit_b.pk)]
    assert world.device.reports.count() == 2
    # The old unit's token, with a new body or the body last stored: refused by name, and
    # no second device in the unit that gave it away.
    for name in ("computer_3.json", "computer_3_updated.json"):
        response = post(old_token, name)
        assert response.status_code == 403
        moved_on = DeviceMove.objects.get().moved.astimezone().strftime("%Y-%m-%d")
        assert response.json() == {
            "status": "error",
            "message": f"token: 该终端已于 {moved_on} 移交到“青岛市教育局”，"
            "本单位不能再上报它；请改用新单位的注册令牌，或在新单位导入。",
        }
    assert list(Device.objects.values_list("pk", "unit_id")) == [(world.device.pk, world.unit_b.pk)]
    assert world.device.reports.count() == 2
    # Moved back, the old unit's token reports it again.
    services.move_device(
        actor=world.sysadmin, device=world.device, unit=world.unit_a, reason="归还"
    )
    assert post(old_token, "computer_3.json").status_code == 200
    assert list(Device.objects.values_list("pk", "unit_id")) == [(world.device.pk, world.unit_a.pk)]


def test_a_move_into_a_unit_where_the_agent_already_reports_is_refused(world, client, changed):
    # The machine's agent was given the child unit's token before anyone moved it.
    twin = services.ingest_inventory(
        unit=world.unit_a_child, document=_document("computer_3.json")
    ).device
    assert twin.pk != world.device.pk
    url = reverse("inventory:device_move", args=[world.device.pk])
    client.force_login(world.officer_a)
    response = client.post(url, {"unit": world.unit_a_child.pk, "reason": "调剂"})
    assert response.status_code == 400
    assert response.context["form"].errors == {
        "unit": [
            f"“历下区财政局国库支付中心”已有同一客户端上报的终端“LF014”（编号 {twin.pk}），"
            "同一终端不能在一个单位登记两次。"
        ]
    }
    world.device.refresh_from_db()
    assert world.device.unit_id == world.unit_a.pk
    assert (DeviceMove.objects.count(), changed) == (0, [])
