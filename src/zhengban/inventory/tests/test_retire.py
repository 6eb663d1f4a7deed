"""Retiring a device (终端退役): who may, what the audit log says, how an agent's report puts
it back in service (the unchanged-repeat shortcuts included), the list's 状态 filter, the
pages and the API."""

from __future__ import annotations

import io
import json
import re
import zlib

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from openpyxl import load_workbook

from zhengban.core import hooks
from zhengban.core.models import AuditLogEntry
from zhengban.inventory import parsers, services
from zhengban.inventory.choices import DeviceStatus
from zhengban.inventory.home import devices_panel
from zhengban.inventory.models import Device, InventoryReport
from zhengban.inventory.testing import GLPI_EXAMPLES, XML_SAMPLES, make_device

pytestmark = pytest.mark.django_db

COMPUTER = (GLPI_EXAMPLES / "computer_3.json").read_bytes()
SAMPLE = (XML_SAMPLES / "1.xml").read_bytes()  # FusionInventory, with an agent device id


@pytest.fixture
def changed():
    """Every DEVICE_CHANGED as fired: (device id, fields)."""
    calls: list[tuple[int, set[str]]] = []

    def record(*, device, fields, **kwargs):
        calls.append((device.pk, set(fields)))

    hooks.register(hooks.DEVICE_CHANGED, record)
    yield calls
    hooks._handlers[hooks.DEVICE_CHANGED].remove(record)


@pytest.fixture
def token(org) -> str:
    return services.create_enrollment_token(actor=None, unit=org.unit_a)[1]


@pytest.fixture
def device(org):
    doc = parsers.document_from_json(json.loads(COMPUTER))
    return services.ingest_inventory(unit=org.unit_a, document=doc).device


def _entries(device) -> list[tuple]:
    return list(
        AuditLogEntry.objects.filter(object_type="inventory.device", object_id=str(device.pk))
        .order_by("pk")
        .values_list("actor_id", "action", "before", "after", "message")
    )


def read_xlsx_rows(content: bytes) -> list[list]:
    sheet = load_workbook(io.BytesIO(content)).active
    return [list(row) for row in sheet.iter_rows(values_only=True)]


# --------------------------------------------------------------------------- services


def test_an_officer_retires_and_reinstates_a_device(org, device, changed):
    row = services.retire_device(actor=org.officer_a, device=device, reason="  主板损坏报废 ")
    stored = Device.objects.get(pk=device.pk)
    assert stored.retired is not None and stored.retired == row.retired
    assert stored.retired_reason == "主板损坏报废"
    assert list(Device.objects.in_service()) == []
    audit = _entries(device)
    assert len(audit) == 1
    actor, action, before, after, message = audit[0]
    assert (actor, action, message) == (org.officer_a.pk, "update", "终端退役；原因：主板损坏报废")
    assert before == {"retired": None, "retired_reason": ""}
    assert after == {"retired": after["retired"], "retired_reason": "主板损坏报废"}
    assert after["retired"] is not None
    assert changed == [(device.pk, {"retired"})]

    services.reinstate_device(actor=org.officer_a, device=stored)
    stored.refresh_from_db()
    assert (stored.retired, stored.retired_reason) == (None, "")
    assert list(Device.objects.in_service()) == [stored]
    actor, action, before, after, message = _entries(device)[1]
    assert (actor, action, message) == (org.officer_a.pk, "update", "终端恢复在用")
    assert before == {"retired": audit[0][3]["retired"], "retired_reason": "主板损坏报废"}
    assert after == {"retired": None, "retired_reason": ""}
    assert changed == [(device.pk, {"retired"}), (device.pk, {"retired"})]


@pytest.mark.parametrize(
    "who, reason, error",
    [
        ("officer_b", "报废", PermissionDenied),  # another unit's officer
        ("staff_a", "报废", PermissionDenied),  # the unit's staff
        ("head_a", "报废", PermissionDenied),  # the unit's head manages no devices
        ("officer_a", "   ", ValidationError),
        ("officer_a", "长" * 201, ValidationError),
    ],
)
def test_refusals_change_nothing(org, device, changed, who, reason, error):
    with pytest.raises(error) as exc:
        services.retire_device(actor=getattr(org, who), device=device, reason=reason)
    if error is ValidationError:
        expected = "请填写退役原因。" if not reason.strip() else "退役原因不能超过 200 个字符。"
        assert exc.value.message_dict == {"reason": [expected]}
    else:
        assert str(exc.value) == "无权退役该终端。"
    device.refresh_from_db()
    assert (device.retired, device.retired_reason, _entries(device), changed) == (None, "", [], [])


def test_retiring_twice_and_reinstating_a_device_in_service_are_refused(org, device, changed):
    with pytest.raises(ValidationError) as exc:
        services.reinstate_device(actor=org.officer_a, device=device)
    assert exc.value.messages == ["终端“LF014”在用，无需恢复。"]
    services.retire_device(actor=org.sysadmin, device=device, reason="丢失")
    retired = Device.objects.get(pk=device.pk).retired
    with pytest.raises(ValidationError) as exc:
        services.retire_device(actor=org.officer_a, device=device, reason="报废")
    day = timezone.localtime(retired).strftime("%Y-%m-%d")
    assert exc.value.messages == [f"终端“LF014”已于 {day} 退役。"]
    for who in ("officer_b", "staff_a"):
        with pytest.raises(PermissionDenied) as denied:
            services.reinstate_device(actor=getattr(org, who), device=device)
        assert str(denied.value) == "无权恢复该终端。"
    device.refresh_from_db()
    assert (device.retired, device.retired_reason) == (retired, "丢失")
    assert len(_entries(device)) == 1
    assert changed == [(device.pk, {"retired"})]


def test_the_database_requires_a_reason_exactly_when_retired(org, device):
    for retired, reason in ((timezone.now(), ""), (None, "报废")):
        with pytest.raises(IntegrityError), transaction.atomic():
            Device.objects.filter(pk=device.pk).update(retired=retired, retired_reason=reason)


# --------------------------------------------------------------------------- agents


def test_a_full_inventory_reinstates_a_retired_device(org, device, changed):
    services.retire_device(actor=org.officer_a, device=device, reason="报废")
    changed.clear()
    ingested: list[int] = []

    def seen(*, device, **kwargs):
        ingested.append(device.pk)

    hooks.register(hooks.INVENTORY_INGESTED, seen)
    try:
        doc = parsers.document_from_json(
            json.loads((GLPI_EXAMPLES / "computer_3_updated.json").read_bytes())
        )
        result = services.ingest_inventory(unit=org.unit_a, document=doc)
    finally:
        hooks._handlers[hooks.INVENTORY_INGESTED].remove(seen)
    assert result.device.pk == device.pk and not result.created
    device.refresh_from_db()
    assert (device.retired, device.retired_reason) == (None, "")
    actor, action, before, after, message = _entries(device)[-1]
    assert (actor, action, message) == (None, "update", "退役终端再次上报，自动恢复在用")
    assert after == {"retired": None, "retired_reason": ""}
    assert before["retired_reason"] == "报废"
    assert changed == [(device.pk, {"retired"})]
    assert ingested == [device.pk]


def test_a_byte_identical_repeat_over_http_reinstates_a_retired_device(org, token, client):
    url = reverse("inventory:ingest", args=[token])

    def post():
        response = client.generic("POST", url, COMPUTER, content_type="application/json")
        assert (response.status_code, response.json()) == (200, {"status": "ok", "expiration": 24})

    post()
    device = Device.objects.get()
    assert device.payload_hash != ""
    post()  # the shortcut: last_seen only
    assert InventoryReport.objects.count() == 1
    services.retire_device(actor=org.officer_a, device=device, reason="报废")
    post()  # the very same body: the full path, not the one-statement shortcut
    device.refresh_from_db()
    assert (device.retired, device.retired_reason) == (None, "")
    assert InventoryReport.objects.filter(device=device).count() == 2
    assert _entries(device)[-1][4] == "退役终端再次上报，自动恢复在用"
    post()  # in service again: the shortcut again
    assert InventoryReport.objects.count() == 2


def test_a_volatile_only_repeat_reinstates_a_retired_device(org, token, client):
    url = reverse("inventory:ingest", args=[token])

    def post(xml: bytes) -> None:
        response = client.generic(
            "POST", url, zlib.compress(xml), content_type="application/x-compress-zlib"
        )
        assert b"no_account_update" in zlib.decompress(response.content)

    def volatile(xml: bytes, n: int) -> bytes:
        return re.sub(rb"<FREE>(\d+)</FREE>", lambda m: b"<FREE>%d</FREE>" % (int(m[1]) + n), xml)

    post(SAMPLE)
    device = Device.objects.get()
    post(volatile(SAMPLE, 1))  # the agent shortcut: last_seen only
    assert InventoryReport.objects.count() == 1
    services.retire_device(actor=org.officer_a, device=device, reason="重复记录")
    post(volatile(SAMPLE, 2))
    device.refresh_from_db()
    assert (device.retired, device.retired_reason) == (None, "")
    assert InventoryReport.objects.count() == 2


def test_the_xml_quick_path_does_not_skip_a_retired_device(org):
    services.ingest_xml(unit=org.unit_a, payload=SAMPLE)
    device = Device.objects.get()
    services.retire_device(actor=org.officer_a, device=device, reason="报废")
    changed = SAMPLE.replace(b"<FREE>", b"<FREE>1", 1)
    assert changed != SAMPLE
    services.ingest_xml(unit=org.unit_a, payload=changed)
    device.refresh_from_db()
    assert (device.retired, InventoryReport.objects.count()) == (None, 2)


def test_an_import_of_a_retired_device_is_refused_by_name(org, device):
    services.retire_device(actor=org.officer_a, device=device, reason="报废")
    device.refresh_from_db()
    doc = parsers.document_from_json(json.loads(COMPUTER))
    with pytest.raises(parsers.InventoryError) as exc:
        services.ingest_inventory(unit=org.unit_a, document=doc, actor=org.officer_a)
    day = timezone.localtime(device.retired).strftime("%Y-%m-%d")
    assert exc.value.status == 409
    assert exc.value.message == (
        f"终端“LF014”已于 {day} 退役，不能导入其软件清单；如仍在使用，请先在终端页面恢复在用。"
    )
    device.refresh_from_db()
    assert device.retired_reason == "报废"


# --------------------------------------------------------------------------- lists


@pytest.fixture
def fleet(org):
    keep = make_device(org.unit_a, "A-在用")
    gone = make_device(org.unit_a, "B-退役")
    services.retire_device(actor=org.officer_a, device=gone, reason="报废")
    gone.refresh_from_db()
    return keep, gone


def _listed(client, query: str = "") -> list[str]:
    response = client.get(reverse("inventory:device_list") + query)
    assert response.status_code == 200
    return [d.hostname for d in response.context["table"].data]


def test_the_list_shows_devices_in_service_unless_asked(org, fleet, client):
    keep, gone = fleet
    client.force_login(org.officer_a)
    assert _listed(client) == ["A-在用"]
    assert _listed(client, "?status=") == ["A-在用"]
    assert _listed(client, "?stale_days=0") == ["A-在用"]
    assert _listed(client, "?status=in_service") == ["A-在用"]
    assert _listed(client, "?status=retired") == ["B-退役"]
    assert _listed(client, "?status=all") == ["A-在用", "B-退役"]
    response = client.get(reverse("inventory:device_list") + "?status=nonsense")
    assert response.status_code == 200 and list(response.context["table"].data) == []
    form = client.get(reverse("inventory:device_list")).context["filter"].form
    assert [(k, str(v)) for k, v in form.fields["status"].choices] == [
        ("in_service", "在用"),
        ("retired", "已退役"),
        ("all", "全部"),
    ]
    assert DeviceStatus.values == ["in_service", "retired", "all"]
    html = client.get(reverse("inventory:device_list") + "?status=all").content.decode()
    day = timezone.localtime(gone.retired).strftime("%Y-%m-%d")
    assert f"<td >已退役（{day}）</td>" in html or f">已退役（{day}）</td>" in html
    assert ">在用</td>" in html


def test_the_export_has_the_status_column(org, fleet, client):
    _keep, gone = fleet
    client.force_login(org.officer_a)
    response = client.get(reverse("inventory:device_list") + "?status=all&export=xlsx")
    assert response.status_code == 200
    rows = read_xlsx_rows(response.content)
    assert rows[0][:2] == ["计算机名", "状态"]
    day = timezone.localtime(gone.retired).strftime("%Y-%m-%d")
    assert [r[:2] for r in rows[1:]] == [["A-在用", "在用"], ["B-退役", f"已退役（{day}）"]]
    default = read_xlsx_rows(client.get(reverse("inventory:device_list") + "?export=xlsx").content)
    assert [r[:2] for r in default[1:]] == [["A-在用", "在用"]]


def test_the_api_lists_every_device_unless_asked(org, fleet, client):
    _keep, gone = fleet
    client.force_login(org.officer_a)

    def names(query: str = "") -> list[tuple]:
        response = client.get(reverse("device-list") + query)
        assert response.status_code == 200
        return [
            (d["hostname"], d["retired"] is not None, d["retired_reason"])
            for d in response.json()["results"]
        ]

    assert names() == [("A-在用", False, ""), ("B-退役", True, "报废")]
    assert names("?status=in_service") == [("A-在用", False, "")]
    assert names("?status=retired") == [("B-退役", True, "报废")]
    assert names("?status=all") == names()
    detail = client.get(reverse("device-detail", args=[gone.pk])).json()
    assert (parse_datetime(detail["retired"]), detail["retired_reason"]) == (gone.retired, "报废")


def test_the_home_panel_counts_devices_in_service(org, fleet):
    keep, gone = fleet
    old = timezone.now() - timezone.timedelta(days=40)
    Device.objects.filter(pk__in=[keep.pk, gone.pk]).update(first_seen=old, last_seen=old)
    panel = devices_panel(org.officer_a)
    assert [(str(label), n) for label, n, _url in panel.figures] == [
        ("终端总数", 1),
        ("超过30天未上报", 1),
        ("含未识别软件", 0),
    ]


# --------------------------------------------------------------------------- pages


def test_the_device_page_offers_retirement_to_those_who_may(org, device, client):
    url = reverse("inventory:device_detail", args=[device.pk])
    client.force_login(org.officer_a)
    html = client.get(url).content.decode()
    assert 'data-testid="device-retire"' in html
    assert 'data-testid="device-reinstate"' not in html
    assert 'data-testid="device-retired"' not in html
    for who in ("staff_a", "head_a"):
        client.force_login(getattr(org, who))
        response = client.get(url)
        if response.status_code == 200:
            assert b'data-testid="device-retire"' not in response.content


def test_the_retire_form_retires_and_the_page_reinstates(org, device, client):
    retire = reverse("inventory:device_retire", args=[device.pk])
    detail = reverse("inventory:device_detail", args=[device.pk])
    client.force_login(org.officer_a)
    response = client.get(retire)
    assert response.status_code == 200
    assert list(response.context["form"].fields) == ["reason"]
    response = client.post(retire, {"reason": "  "})
    assert response.status_code == 400
    assert response.context["form"].errors == {"reason": ["该字段是必填项。"]}
    assert Device.objects.get(pk=device.pk).retired is None

    response = client.post(retire, {"reason": "主板损坏"}, follow=True)
    assert response.redirect_chain == [(detail, 302)]
    assert [str(m) for m in response.context["messages"]] == [
        "终端已退役，不再计入合规和终端列表。"
    ]
    device.refresh_from_db()
    day = timezone.localtime(device.retired).strftime("%Y-%m-%d")
    html = response.content.decode()
    assert f'data-testid="device-retired">已退役（{day}，主板损坏）</span>' in html
    assert 'data-testid="device-reinstate"' in html
    assert 'data-testid="device-retire"' not in html
    # Retiring it again: the service's refusal on the form.
    response = client.post(retire, {"reason": "报废"})
    assert response.status_code == 400
    assert response.context["form"].non_field_errors() == [f"终端“LF014”已于 {day} 退役。"]

    reinstate = reverse("inventory:device_reinstate", args=[device.pk])
    assert client.get(reinstate).status_code == 405
    response = client.post(reinstate, follow=True)
    assert response.redirect_chain == [(detail, 302)]
    assert [str(m) for m in response.context["messages"]] == ["终端已恢复在用。"]
    device.refresh_from_db()
    assert (device.retired, device.retired_reason) == (None, "")
    response = client.post(reinstate, follow=True)
    assert [str(m) for m in response.context["messages"]] == ["终端“LF014”在用，无需恢复。"]


def test_the_retirement_pages_outside_scope(org, device, client):
    retire = reverse("inventory:device_retire", args=[device.pk])
    reinstate = reverse("inventory:device_reinstate", args=[device.pk])
    missing = reverse("inventory:device_retire", args=[device.pk + 1000])
    client.force_login(org.officer_a)
    assert client.get(missing).status_code == 404
    client.force_login(org.officer_b)  # cannot see the device
    assert client.get(retire).status_code == 404
    assert client.post(retire, {"reason": "报废"}).status_code == 404
    assert client.post(reinstate).status_code == 404
    client.force_login(org.supervisor_a)  # oversees it, manages nothing
    assert client.get(retire).status_code == 403
    assert client.post(retire, {"reason": "报废"}).status_code == 403
    assert client.post(reinstate).status_code == 403
    assert Device.objects.get(pk=device.pk).retired is None
    assert _entries(device) == []


def test_a_products_device_list_leaves_retired_devices_out(org, fleet):
    from zhengban.catalog.models import Product
    from zhengban.inventory.catalog_provider import product_devices
    from zhengban.inventory.models import Installation

    seven = Product.objects.get(key="7zip")
    for d in fleet:
        Installation.objects.create(
            device=d,
            kind="application",
            name="7-Zip 23.01 (x64)",
            version="23.01",
            raw_key=services.raw_key("7-Zip 23.01 (x64)", "", "23.01", "windows"),
            product=seven,
            first_seen=d.first_seen,
        )
    count, rows = product_devices(user=org.officer_a, product_id=seven.pk, limit=10)
    assert (count, [r["name"] for r in rows]) == (1, ["A-在用"])


@pytest.mark.django_db
def test_a_new_machine_with_a_retired_machines_name_is_a_new_device(org):
    """Replacement PCs often keep the scrapped one's name: the agent must not take over the
    retired record (and bring it back), nor be kept by it from the live one."""
    doc = parsers.document_from_json(json.loads((GLPI_EXAMPLES / "computer_3.json").read_bytes()))
    old = make_device(org.unit_a, doc.hostname, last_source="spreadsheet")
    services.retire_device(actor=org.officer_a, device=old, reason="报废，已更换新机")
    result = services.ingest_inventory(unit=org.unit_a, document=doc)
    old.refresh_from_db()
    assert (result.created, result.device.pk == old.pk, old.retired is not None) == (
        True,
        False,
        True,
    )

    # A retired duplicate and the live imported record of one name: the live one is taken.
    Device.objects.filter(pk=result.device.pk).delete()
    live = make_device(org.unit_a, doc.hostname, last_source="spreadsheet")
    result = services.ingest_inventory(unit=org.unit_a, document=doc)
    assert (result.created, result.device.pk) == (False, live.pk)
    assert Device.objects.filter(hostname=doc.hostname).count() == 2


@pytest.mark.django_db
def test_a_retired_duplicate_loses_a_tie_to_the_record_in_service(org):
    """Two records known by the same MAC only (a duplicate left behind, then retired): the
    report updates the one in service, even when the retired one reported last."""
    mac = "00:1a:2b:3c:4d:5e"
    live = make_device(org.unit_a, "PC-LIVE", last_source="spreadsheet")
    duplicate = make_device(org.unit_a, "PC-OLD", last_source="spreadsheet")
    for device in (live, duplicate):
        device.macs.create(unit=org.unit_a, mac=mac)
    Device.objects.filter(pk=duplicate.pk).update(last_seen=timezone.now())
    services.retire_device(actor=org.officer_a, device=duplicate, reason="重复记录")
    doc = parsers.document_from_json(
        {
            "deviceid": "pc-live-2026-11-28-10-00-00",
            "content": {
                "versionclient": "GLPI-Agent_v1.7",
                "hardware": {"name": "PC-LIVE"},
                "networks": [{"description": "eth0", "mac": mac}],
                "softwares": [{"name": "7-Zip", "version": "23.01"}],
            },
        }
    )
    result = services.ingest_inventory(unit=org.unit_a, document=doc)
    duplicate.refresh_from_db()
    assert (result.created, result.device.pk, duplicate.retired is not None) == (
        False,
        live.pk,
        True,
    )
