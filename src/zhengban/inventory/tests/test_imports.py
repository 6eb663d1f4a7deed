""".reg and XLSX/CSV imports for machines without an agent.

xp-Uninstall.reg: the agent's tests (agent/tests/test_regfile.py) establish 534 Uninstall
entries, 116 without DisplayName (never shown, nothing to record), 62 shown in Programs and
Features (57 programs + 5 visible KB hotfixes, which the agent classes as updates),
57 system components (30 of them not updates), 298 updates listed under their parent,
1 hidden WGA hotfix. Stored: 418 named entries = 57 application + 331 update + 30
system_component.
"""

import csv
import datetime
import io
import json

import pytest
from django.core.exceptions import PermissionDenied
from django.urls import reverse
from django.utils import timezone
from openpyxl import Workbook

from zhengban.core.models import AuditLogEntry
from zhengban.inventory import imports, parsers, services
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


def _xlsx_with_sheet(sheet_xml_edit) -> bytes:
    """The template-shaped workbook with its sheet's XML changed by ``sheet_xml_edit``."""
    import zipfile

    source = zipfile.ZipFile(io.BytesIO(_xlsx([HEADER, ["PC-1", "", "", "", "WPS", "1", "", ""]])))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as target:
        for item in source.infolist():
            data = source.read(item.filename)
            if item.filename == "xl/worksheets/sheet1.xml":
                data = sheet_xml_edit(data.decode()).encode()
            target.writestr(item, data)
    return out.getvalue()


@pytest.mark.django_db
def test_an_xlsx_that_inflates_past_the_cap_is_refused_before_openpyxl_reads_it(org, settings):
    from openpyxl import load_workbook

    from zhengban.core.tests.test_exports import with_shared_strings

    settings.ZHENGBAN = {**settings.ZHENGBAN, "XLSX_MAX_UNCOMPRESSED_BYTES": 1024 * 1024}
    row = ["PC-1", "", "", "", "WPS Office", "12.1", "", ""]
    bomb = with_shared_strings(_xlsx([HEADER, row]), 2 * 1024 * 1024)
    audits = AuditLogEntry.objects.count()
    with pytest.raises(InventoryError) as err:
        imports.import_table(actor=org.officer_a, unit=org.unit_a, filename="x.xlsx", data=bomb)
    assert (err.value.field, err.value.message, err.value.status) == (
        "file",
        "XLSX 文件解压后超过 1 MB，请删去多余的内容或分成几个文件导入。",
        413,
    )
    assert (Device.objects.count(), AuditLogEntry.objects.count()) == (0, audits)

    # The template as people download and fill it passes under the same cap.
    wb = load_workbook(io.BytesIO(imports.template_workbook()))
    wb.worksheets[0].append(row)
    filled = io.BytesIO()
    wb.save(filled)
    (result,) = imports.import_table(
        actor=org.officer_a, unit=org.unit_a, filename="x.xlsx", data=filled.getvalue()
    )
    assert list(
        Installation.objects.filter(device=result.device).values_list("name", "version")
    ) == [("WPS Office", "12.1")]


@pytest.mark.django_db
def test_a_damaged_sheet_is_a_clear_error_not_a_crash(org):
    # The workbook opens; its sheet's XML is cut in half, or a number cell holds text.
    for edit in (
        lambda xml: xml[: len(xml) // 2],
        lambda xml: xml.replace(
            "</row></sheetData>", '<c r="I2" t="n"><v>abc</v></c></row></sheetData>'
        ),
    ):
        with pytest.raises(InventoryError) as err:
            imports.import_table(
                actor=org.officer_a, unit=org.unit_a, filename="x.xlsx", data=_xlsx_with_sheet(edit)
            )
        assert (err.value.field, err.value.status) == ("file", 400)
    assert Device.objects.count() == 0


@pytest.mark.django_db
def test_a_sheet_declaring_every_column_is_read_at_the_templates_width(org):
    # A 6 KB file whose <dimension> declares 16,384 columns: read-only openpyxl would pad
    # each row to all of them (about 125 KB of memory per row).
    def edit(xml: str) -> str:
        import re

        return re.sub(r'<dimension ref="[^"]*" ?/>', '<dimension ref="A1:XFD3"/>', xml)

    data = _xlsx_with_sheet(edit)
    assert 'ref="A1:XFD3"' in imports_sheet_xml(data)
    rows = imports._rows_from_file("x.xlsx", data)
    assert [len(r) for r in rows] == [len(imports.TEMPLATE_COLUMNS) + 20] * 2
    (result,) = imports.import_table(
        actor=org.officer_a, unit=org.unit_a, filename="x.xlsx", data=data
    )
    assert result.device.hostname == "PC-1"


def imports_sheet_xml(data: bytes) -> str:
    import zipfile

    return zipfile.ZipFile(io.BytesIO(data)).read("xl/worksheets/sheet1.xml").decode()


@pytest.mark.django_db
def test_rows_past_the_limit_stop_the_read(org, settings):
    settings.ZHENGBAN = {**settings.ZHENGBAN, "INVENTORY_MAX_SOFTWARE": 1}
    rows = [HEADER] + [["PC-1", "", "", "", f"App {i}", "1", "", ""] for i in range(11)]
    with pytest.raises(InventoryError) as err:
        imports.import_table(
            actor=org.officer_a, unit=org.unit_a, filename="x.xlsx", data=_xlsx(rows)
        )
    assert (err.value.field, err.value.status) == ("file", 413)
    # Ten data rows (ten times the software limit) are still taken.
    assert (
        len(
            imports.import_table(
                actor=org.officer_a, unit=org.unit_a, filename="x.xlsx", data=_xlsx(rows[:11])
            )[0].device.installations.all()
        )
        == 10
    )


@pytest.mark.django_db
def test_a_csv_field_over_the_csv_modules_limit_names_its_line(org):
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(HEADER)
    writer.writerow(["PC-1", "", "", "", "WPS", "1", "", ""])
    writer.writerow(["PC-1", "", "", "", "N" * 200_000, "1", "", ""])
    with pytest.raises(InventoryError) as err:
        imports.import_table(
            actor=org.officer_a, unit=org.unit_a, filename="x.csv", data=out.getvalue().encode()
        )
    assert err.value.field == "第3行"
    assert err.value.message.startswith("CSV 格式错误：field larger than field limit")
    assert Device.objects.count() == 0


def _csv(rows) -> bytes:
    out = io.StringIO()
    csv.writer(out).writerows(rows)
    return out.getvalue().encode("utf-8-sig")


@pytest.mark.django_db
def test_two_names_with_one_serial_are_refused_naming_the_row(org):
    data = _csv(
        [
            HEADER,
            ["PC-4", "SNX", "", "", "WPS Office", "12", "", ""],
            ["PC-5", "snx", "", "", "7-Zip", "23", "", ""],
        ]
    )
    with pytest.raises(InventoryError) as err:
        imports.import_table(actor=org.officer_a, unit=org.unit_a, filename="x.csv", data=data)
    assert (err.value.field, err.value.message) == (
        "第3行",
        "序列号“snx”已用于计算机“PC-4”，同一序列号不能对应两个计算机名。",
    )
    assert Device.objects.count() == 0


@pytest.mark.django_db
def test_an_error_while_storing_names_the_computer(org):
    from zhengban.inventory.services import move_device

    imports.import_table(
        actor=org.officer_a,
        unit=org.unit_a,
        filename="x.csv",
        data=_csv([HEADER, ["PC-X", "SN-MOVED-1", "", "", "WPS Office", "12", "", ""]]),
    )
    move_device(
        actor=org.officer_a,
        device=Device.objects.get(),
        unit=org.unit_a_child,
        reason="调拨",
    )
    rows = [
        HEADER,
        ["PC-OK", "", "", "", "7-Zip", "23", "", ""],
        ["PC-X", "SN-MOVED-1", "", "", "WPS Office", "12", "", ""],
    ]
    with pytest.raises(InventoryError) as err:
        imports.import_table(
            actor=org.officer_a, unit=org.unit_a, filename="x.csv", data=_csv(rows)
        )
    assert (err.value.field, err.value.status) == ("计算机“PC-X”", 403)
    assert err.value.message.endswith(
        "本单位不能再上报它；请改用新单位的注册令牌，或在新单位导入。"
    )
    assert list(Device.objects.values_list("hostname", flat=True)) == ["PC-X"]  # no PC-OK


@pytest.mark.django_db
def test_dates_headers_and_blank_rows_as_people_write_them(org):
    import datetime

    header = [
        "计算机名 *",
        "序列号",
        "操作系统",
        "系统版本",
        "软件名称＊",
        "版本",
        "发行商",
        "安装日期",
    ]
    rows = [
        header,
        ["PC-1", "", "", "", "A", "1", "", 45352],  # Excel's day number, "General" cell
        ["", "", "", "", "B", "1", "", "2024年3月1日"],
        ["  ", " ", "", "", "  ", "", "", ""],  # spaces only: skipped like an empty row
        ["", "", "", "", "C", "1", "", "2024.3.1"],
        ["", "", "", "", "D", "1", "", "45352"],
        ["", "", "", "", "E", "1", "", datetime.datetime(2024, 3, 1, 0, 0)],
        ["", "", "", "", "F", "1", "", 20240301],  # a number in Windows' InstallDate form
        ["", "", "", "", "G", "1", "", 45352.75],  # a day number with a time of day
    ]
    (doc,) = imports.documents_from_table("x.xlsx", _xlsx(rows))
    assert [(s.name, s.install_date) for s in doc.software] == [
        (name, datetime.date(2024, 3, 1)) for name in "ABCDEFG"
    ]
    # A date cell outside what an install date can be is refused as a text one is.
    for bad in (datetime.datetime(1900, 1, 1), 100, "1900-01-01"):
        with pytest.raises(InventoryError) as err:
            imports.documents_from_table(
                "x.xlsx", _xlsx([header, ["PC-1", "", "", "", "A", "1", "", bad]])
            )
        assert err.value.field == "第2行"


@pytest.mark.django_db
def test_reg_exports_carry_the_exporting_windows_architecture(org):
    from collections import Counter

    xp = imports.document_from_regfile(
        (REGISTRY_SAMPLES / "xp-Uninstall.reg").read_bytes(), hostname="XP-01"
    )
    assert Counter(s.arch for s in xp.software) == {"i586": 418}  # 32-bit Windows XP
    # No sign either way (one key of a 64-bit Windows, with x64 programs): 64-bit, as the
    # agent assumes.
    mssql = imports.document_from_regfile(
        (REGISTRY_SAMPLES / "mssql-Uninstall.reg").read_bytes(), hostname="SQL"
    )
    assert {s.arch for s in mssql.software} == {"x86_64"}
    # Programs under "Program Files (x86)": a 64-bit Windows, whose own view is x86_64.
    win10 = imports.document_from_regfile(
        (REGISTRY_SAMPLES / "10_russian-Uninstall.reg").read_bytes(), hostname="W10"
    )
    assert {s.arch for s in win10.software} == {"x86_64"}


def _hkcu_reg(version: str, *, machine: str = "") -> bytes:
    """A user's HKEY_CURRENT_USER Uninstall export (UTF-16, as regedit writes it), with the
    machine-wide ``machine`` key (HKLM) as well when given."""
    uninstall = "Software\\Microsoft\\Windows\\CurrentVersion\\Uninstall"
    text = (
        "Windows Registry Editor Version 5.00\r\n\r\n"
        f"[HKEY_CURRENT_USER\\{uninstall}\\DingTalk]\r\n"
        f'"DisplayName"="钉钉"\r\n"DisplayVersion"="{version}"\r\n'
        '"UninstallString"="C:\\\\dt\\\\uninst.exe"\r\n\r\n'
    )
    if machine:
        text += (
            f"[HKEY_LOCAL_MACHINE\\{uninstall}\\{machine}]\r\n"
            f'"DisplayName"="{machine}"\r\n"DisplayVersion"="1.0"\r\n'
            '"UninstallString"="C:\\\\x\\\\uninst.exe"\r\n'
        )
    return b"\xff\xfe" + text.encode("utf-16-le")


@pytest.mark.django_db
def test_each_users_current_user_export_is_its_own_install_owned_by_the_file_name(org):
    files = [_hkcu_reg("7.0", machine="7-Zip"), _hkcu_reg("6.5", machine="7-Zip")]
    result = imports.import_regfile(
        actor=org.officer_a,
        unit=org.unit_a,
        hostname="PC-SHARED",
        data=files,
        names=["zhangsan.reg", "C:\\导出\\lisi.REG"],
    )
    # The machine-wide key in both files is one install; each user's key is their own.
    assert sorted(
        Installation.objects.filter(device=result.device).values_list("name", "version", "owner")
    ) == [("7-Zip", "1.0", ""), ("钉钉", "6.5", "lisi"), ("钉钉", "7.0", "zhangsan")]

    # Without the files' names (and one user exporting twice, under one name) the users are
    # told apart by their files' order.
    doc = imports.document_from_regfile(files, hostname="PC-SHARED")
    assert sorted((s.name, s.version, s.owner) for s in doc.software) == [
        ("7-Zip", "1.0", ""),
        ("钉钉", "6.5", "用户2"),
        ("钉钉", "7.0", "用户1"),
    ]
    doc = imports.document_from_regfile(
        files, hostname="PC-SHARED", names=["zhangsan.reg", "zhangsan.reg"]
    )
    assert sorted((s.name, s.version, s.owner) for s in doc.software) == [
        ("7-Zip", "1.0", ""),
        ("钉钉", "6.5", "zhangsan"),
    ]


@pytest.mark.django_db
def test_the_import_page_names_each_users_installs_after_the_uploaded_file(client, org):
    client.force_login(org.officer_a)
    zhang, li = io.BytesIO(_hkcu_reg("7.0", machine="7-Zip")), io.BytesIO(_hkcu_reg("6.5"))
    zhang.name, li.name = "zhangsan.reg", "lisi.reg"
    response = client.post(
        reverse("inventory:import"),
        {"unit": org.unit_a.pk, "kind": "regfile", "hostname": "PC-SHARED", "file": [zhang, li]},
    )
    assert response.status_code == 302
    device = Device.objects.get(hostname="PC-SHARED")
    assert sorted(
        Installation.objects.filter(device=device).values_list("name", "version", "owner")
    ) == [("7-Zip", "1.0", ""), ("钉钉", "6.5", "lisi"), ("钉钉", "7.0", "zhangsan")]


@pytest.mark.django_db
def test_several_reg_exports_of_one_computer_in_one_upload(client, org):
    files = [
        (REGISTRY_SAMPLES / name).read_bytes()
        for name in ("mssql-Uninstall.reg", "10_russian-Uninstall.reg")
    ]
    one = [len(imports.document_from_regfile(f, hostname="X").software) for f in files]
    client.force_login(org.officer_a)
    response = client.post(
        reverse("inventory:import"),
        {
            "unit": org.unit_a.pk,
            "kind": "regfile",
            "hostname": "PC64",
            # The same key twice (the first file again) is taken once.
            "file": [io.BytesIO(files[0]), io.BytesIO(files[1]), io.BytesIO(files[0])],
        },
    )
    assert response.status_code == 302
    device = Device.objects.get(hostname="PC64")
    assert Installation.objects.filter(device=device).count() == sum(one)
    # A table is one file at a time.
    response = client.post(
        reverse("inventory:import"),
        {
            "unit": org.unit_a.pk,
            "kind": "table",
            "file": [io.BytesIO(b"a"), io.BytesIO(b"b")],
        },
    )
    assert response.status_code == 400
    assert "表格导入一次只能上传一个文件。" in response.content.decode()
    # No file at all: the form says so.
    for kind in ("table", "regfile"):
        response = client.post(
            reverse("inventory:import"), {"unit": org.unit_a.pk, "kind": kind, "hostname": "Y"}
        )
        assert response.status_code == 400
        assert response.context["form"].errors["file"] == ["该字段是必填项。"]


def test_the_template_keeps_versions_and_serials_as_typed():
    from openpyxl import load_workbook

    sheet = load_workbook(io.BytesIO(imports.template_workbook())).active
    formats = {
        attr: sheet.column_dimensions[chr(ord("A") + i)].number_format
        for i, (_h, attr) in enumerate(imports.TEMPLATE_COLUMNS)
    }
    assert formats == {
        "hostname": "@",
        "serial_number": "@",
        "os_name": "@",
        "os_version": "@",
        "name": "@",
        "version": "@",
        "publisher": "@",
        "install_date": "General",
    }
    assert sheet.max_row == 1  # headers only: the example is on the second sheet
    example = load_workbook(io.BytesIO(imports.template_workbook())).worksheets[1]
    assert example["F2"].number_format == "@"  # the example's version cell
    assert example["A2"].value == "PC-001"


def _agent_doc(hostname, *, deviceid="caiwu-01-2026", serial="PF0ABCDE", software=("7-Zip",)):
    body = {
        "deviceid": deviceid,
        "content": {
            "versionclient": "GLPI-Agent_v1.4",
            "hardware": {"name": hostname, "uuid": "4C4C4544-0051-3510-8052-B4C04F4E5632"},
            "bios": {"ssn": serial},
            "operatingsystem": {"full_name": "Microsoft Windows 10 专业版"},
            "softwares": [{"name": name, "version": "1"} for name in software],
        },
    }
    return parsers.document_from_json(parsers.parse_json(json.dumps(body).encode()))


@pytest.mark.django_db
def test_an_agent_takes_over_the_machine_imported_by_name(org):
    rows = [
        HEADER,
        ["caiwu-01", "", "", "", "WPS Office", "12", "", ""],
        ["caiwu-01", "", "", "", "7-Zip", "1", "", ""],
    ]
    (imported,) = imports.import_table(
        actor=org.officer_a, unit=org.unit_a, filename="x.csv", data=_csv(rows)
    )
    result = services.ingest_inventory(unit=org.unit_a, document=_agent_doc("CAIWU-01"))
    assert (result.device.pk, result.created) == (imported.device.pk, False)
    assert result.match_rank == services.RANK_HOSTNAME_ONLY
    # 7-Zip stays; WPS Office is gone; the OS, which the file did not name, is new.
    assert (result.installed, result.removed, result.version_changed) == (1, 1, 0)
    device = Device.objects.get()
    assert (device.agent_device_id, device.serial_number, device.last_source) == (
        "caiwu-01-2026",
        "PF0ABCDE",
        "glpi_json",
    )


@pytest.mark.django_db
def test_an_agent_does_not_guess_between_two_imported_namesakes(org):
    rows = [HEADER, ["PC", "", "", "", "WPS Office", "12", "", ""]]
    imports.import_table(actor=org.officer_a, unit=org.unit_a, filename="x.csv", data=_csv(rows))
    Device.objects.create(
        unit=org.unit_a,
        hostname="pc",
        first_seen=timezone.now(),
        last_seen=timezone.now(),
        last_source="spreadsheet",
    )
    result = services.ingest_inventory(unit=org.unit_a, document=_agent_doc("PC"))
    assert result.created
    assert Device.objects.count() == 3


@pytest.mark.django_db
def test_an_import_cannot_overwrite_what_an_agent_reports(org):
    reported = services.ingest_inventory(
        unit=org.unit_a, document=_agent_doc("CAIWU-01", software=("7-Zip", "WPS Office"))
    ).device
    rows = [HEADER, ["CAIWU-01", "", "", "", "7-Zip", "1", "", ""]]
    with pytest.raises(InventoryError) as err:
        imports.import_table(
            actor=org.officer_a, unit=org.unit_a, filename="x.csv", data=_csv(rows)
        )
    day = timezone.localtime(reported.last_seen).strftime("%Y-%m-%d")
    assert (err.value.field, err.value.status, err.value.message) == (
        "计算机“CAIWU-01”",
        409,
        f"该终端由客户端上报（最近一次 {day}），软件清单以客户端为准，不能用导入覆盖；"
        "客户端停止上报 30 天后方可导入。",
    )
    assert Installation.objects.filter(device=reported).count() == 3  # 2 programs and the OS
    # An agent silent for longer than that no longer holds the list.
    Device.objects.filter(pk=reported.pk).update(
        first_seen=timezone.now() - datetime.timedelta(days=40),
        last_seen=timezone.now() - datetime.timedelta(days=31),
    )
    (result,) = imports.import_table(
        actor=org.officer_a, unit=org.unit_a, filename="x.csv", data=_csv(rows)
    )
    assert (result.device.pk, result.removed) == (reported.pk, 1)


@pytest.mark.django_db
def test_a_machine_moved_away_is_not_taken_back_through_an_imported_namesake(org):
    device = services.ingest_inventory(unit=org.unit_a, document=_agent_doc("CAIWU-01")).device
    services.move_device(actor=org.officer_a, device=device, unit=org.unit_a_child, reason="调剂")
    rows = [HEADER, ["CAIWU-01", "", "", "", "WPS Office", "12", "", ""]]
    imports.import_table(actor=org.officer_a, unit=org.unit_a, filename="x.csv", data=_csv(rows))
    with pytest.raises(InventoryError) as err:
        services.ingest_inventory(unit=org.unit_a, document=_agent_doc("CAIWU-01"))
    assert (err.value.field, err.value.status) == ("token", 403)
    assert sorted(Device.objects.values_list("unit_id", "agent_device_id")) == sorted(
        [(org.unit_a_child.pk, "caiwu-01-2026"), (org.unit_a.pk, "")]
    )
