""".reg and XLSX/CSV imports for machines without an agent.

xp-Uninstall.reg: the agent's tests (agent/tests/test_regfile.py) establish 534 Uninstall
entries, 116 without DisplayName (never shown, nothing to record), 62 shown in Programs and
Features (57 programs + 5 visible KB hotfixes, which the agent classes as updates),
57 system components (30 of them not updates), 298 updates listed under their parent,
1 hidden WGA hotfix. Stored: 418 named entries = 57 application + 331 update + 30
system_component.
"""

import csv
import io

import pytest
from django.core.exceptions import PermissionDenied
from django.urls import reverse
from openpyxl import Workbook

from zhengban.core.models import AuditLogEntry
from zhengban.inventory import imports
from zhengban.inventory.choices import InventorySource
from zhengban.inventory.models import Device, Installation
from zhengban.inventory.parsers import InventoryError
from zhengban.inventory.testing import REGISTRY_SAMPLES


def _kinds(device):
    qs = Installation.objects.filter(device=device)
    return {
        k: qs.filter(kind=k).count()
        for k in ("application", "update", "system_component", "hidden", "os")
    }


@pytest.mark.django_db
def test_xp_reg_export_gives_what_windows_lists(org):
    data = (REGISTRY_SAMPLES / "xp-Uninstall.reg").read_bytes()
    result = imports.import_regfile(
        actor=org.officer_a, unit=org.unit_a, hostname="XP-01", data=data
    )
    device = result.device
    assert device.last_source == InventorySource.REGFILE
    assert Installation.objects.filter(device=device).count() == 418
    assert _kinds(device) == {
        "application": 57,
        "update": 331,
        "system_component": 30,
        "hidden": 0,
        "os": 0,
    }
    assert (
        AuditLogEntry.objects.filter(object_type="inventory.device", action="import").count() == 1
    )
    # Importing the same export again for the same computer name: same device, no events.
    again = imports.import_regfile(
        actor=org.officer_a, unit=org.unit_a, hostname="xp-01", data=data
    )
    assert again.device.pk == device.pk
    assert (again.installed, again.removed, again.version_changed) == (0, 0, 0)
    assert Device.objects.count() == 1


@pytest.mark.django_db
def test_reg_import_refuses_garbage_and_other_units(org):
    with pytest.raises(InventoryError) as err:
        imports.import_regfile(actor=org.officer_a, unit=org.unit_a, hostname="X", data=b"hello")
    assert err.value.field == "file"
    with pytest.raises(PermissionDenied):
        imports.import_regfile(
            actor=org.officer_a,
            unit=org.unit_b,
            hostname="X",
            data=(REGISTRY_SAMPLES / "10_russian-Uninstall.reg").read_bytes(),
        )
    assert Device.objects.count() == 0


def _xlsx(rows):
    wb = Workbook()
    ws = wb.active
    for row in rows:
        ws.append(row)
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


HEADER = ["计算机名*", "序列号", "操作系统", "系统版本", "软件名称*", "版本", "发行商", "安装日期"]


@pytest.mark.django_db
def test_table_import_groups_rows_by_computer(org):
    data = _xlsx(
        [
            HEADER,
            [
                "PC-1",
                "SN001",
                "Microsoft Windows 10 专业版",
                "22H2",
                "WPS Office",
                "12.1",
                "金山办公",
                "2024-03-01",
            ],
            [None, None, None, None, "7-Zip", "23.01", "Igor Pavlov", None],
            ["PC-2", None, None, None, "<script>x</script>", "1", None, None],
        ]
    )
    results = imports.import_table(
        actor=org.officer_a, unit=org.unit_a, filename="list.xlsx", data=data
    )
    assert [r.device.hostname for r in results] == ["PC-1", "PC-2"]
    pc1 = results[0].device
    assert pc1.serial_number == "SN001"
    assert sorted(Installation.objects.filter(device=pc1).values_list("kind", "name")) == [
        ("application", "7-Zip"),
        ("application", "WPS Office"),
        ("os", "Microsoft Windows 10 专业版"),
    ]


@pytest.mark.django_db
def test_table_import_is_all_or_nothing(org):
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(HEADER)
    writer.writerow(["PC-1", "", "", "", "WPS Office", "12", "", ""])
    writer.writerow(["PC-2", "", "", "", "7-Zip", "23", "", "not a date"])
    with pytest.raises(InventoryError) as err:
        imports.import_table(
            actor=org.officer_a,
            unit=org.unit_a,
            filename="x.csv",
            data=out.getvalue().encode("gb18030"),
        )
    assert err.value.field == "第3行"
    assert Device.objects.count() == 0


@pytest.mark.django_db
def test_import_page_and_template(client, org):
    client.force_login(org.officer_a)
    template = client.get(reverse("inventory:import"), {"template": "xlsx"})
    assert template.status_code == 200
    data = (REGISTRY_SAMPLES / "mssql-Uninstall.reg").read_bytes()
    response = client.post(
        reverse("inventory:import"),
        {
            "unit": org.unit_a.pk,
            "kind": "regfile",
            "hostname": "SQL-01",
            "file": io.BytesIO(data),
        },
    )
    assert response.status_code == 302
    device = Device.objects.get(hostname="SQL-01")
    assert response["Location"] == reverse("inventory:device_detail", args=[device.pk])
    bad = client.post(
        reverse("inventory:import"),
        {"unit": org.unit_a.pk, "kind": "regfile", "hostname": "Y", "file": io.BytesIO(b"junk")},
    )
    assert bad.status_code == 400
    assert "file: " in bad.content.decode()
