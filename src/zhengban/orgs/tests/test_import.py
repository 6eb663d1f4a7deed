import io

import pytest
from django.core.exceptions import PermissionDenied
from django.core.management import call_command
from django.core.management.base import CommandError
from openpyxl import load_workbook

from zhengban.core.models import AuditLogEntry
from zhengban.orgs.importer import build_error_report, build_template, import_orgs
from zhengban.orgs.models import Department, Unit, User
from zhengban.orgs.validators import make_credit_code

GOOD_1 = make_credit_code("370102", 901)
GOOD_2 = make_credit_code("370102", 902, prefix="12")
GOOD_3 = make_credit_code("370200", 903, prefix="13")
BAD_CHECK = GOOD_1[:17] + ("0" if GOOD_1[17] != "0" else "1")


def workbook(units, people=()):
    wb = load_workbook(io.BytesIO(build_template()))
    for row in units:
        wb["单位"].append(list(row))
    for row in people:
        wb["人员"].append(list(row))
    buf = io.BytesIO()
    wb.save(buf)
    buf.seek(0)
    return buf


def unit_row(name, code, region="370102", kind="政府机关", parent="", depts="", lead=""):
    # 单位名称 信用代码 类型 区划 上级 编制 地址 版权局 第一责任人 职务 部门 牵头部门 负责人 职务 电话
    return [name, code, kind, region, parent, 30, "", "否", "王强", "局长", depts, lead,
            "赵敏", "科长", "0531-1"]  # fmt: skip


def snapshot():
    return (
        Unit.objects.count(),
        Department.objects.count(),
        User.objects.count(),
        AuditLogEntry.objects.count(),
    )


@pytest.mark.django_db
def test_bad_rows_write_nothing_and_are_reported_then_fixed_file_imports(org):
    rows = [
        unit_row("历下区审计局", GOOD_1, depts="办公室、信息科", lead="信息科"),  # row 2
        unit_row("历下区档案馆", GOOD_2, kind="事业单位", parent=GOOD_1),  # row 3
        unit_row("历下区统计局", BAD_CHECK),  # row 4: wrong check digit
        unit_row("青岛市妇联", GOOD_3, region="370200", kind="人民团体"),  # row 5
        unit_row("历下区某协会", make_credit_code("370102", 905), kind="协会", region="999999"),
    ]
    people = [
        ["zhangsan", "张三", GOOD_1, "信息科", "科员", "", "zs@example.cn", ""],  # row 2
        ["lisi", "李四", GOOD_1, "财务科", "", "", "bad-mail", ""],  # row 3
    ]
    before = snapshot()
    result = import_orgs(actor=org.sysadmin, file=workbook(rows, people))
    assert [(e.sheet, e.row, e.message) for e in result.errors] == [
        ("单位", 4, f"统一社会信用代码校验位错误：应为{GOOD_1[17]}，实为{BAD_CHECK[17]}。"),
        (
            "单位",
            6,
            "单位类型“协会”无效，应为：政府机关、其他国家机关、事业单位、人民团体、"
            "免予登记的社会团体；行政区划代码“999999”不存在或不在您的管辖范围内。",
        ),
        ("人员", 3, "部门“财务科”不是该单位的部门；电子邮箱格式不正确。"),
    ]
    assert str(result.errors[0]).startswith("单位第4行：")
    assert (result.units_created, result.people_created) == (0, 0)
    assert snapshot() == before

    # The report is the file's own rows with an error column.
    report = load_workbook(io.BytesIO(build_error_report(result)))
    unit_sheet = list(report["单位"].iter_rows(values_only=True))
    assert unit_sheet[0][-1] == "错误"
    assert [r[0] for r in unit_sheet[1:]] == [
        "历下区审计局",
        "历下区档案馆",
        "历下区统计局",
        "青岛市妇联",
        "历下区某协会",
    ]
    assert [bool(r[-1]) for r in unit_sheet[1:]] == [False, False, True, False, True]
    assert list(report["人员"].iter_rows(values_only=True))[2][-1] == (
        "部门“财务科”不是该单位的部门；电子邮箱格式不正确。"
    )

    fixed = [
        rows[0],
        rows[1],
        unit_row("历下区统计局", make_credit_code("370102", 904)),
        rows[3],
        unit_row("历下区某协会", make_credit_code("370102", 905), kind="免予登记的社会团体"),
    ]
    people[1] = ["lisi", "李四", GOOD_1, "办公室", "", "", "lisi@example.cn", ""]
    result = import_orgs(actor=org.sysadmin, file=workbook(fixed, people), filename="a.xlsx")
    assert result.errors == []
    assert (result.units_created, result.departments_created, result.people_created) == (5, 2, 2)
    audit_unit = Unit.objects.get(credit_code=GOOD_1)
    assert (audit_unit.lead_department.name, audit_unit.head_name, audit_unit.headcount) == (
        "信息科",
        "王强",
        30,
    )
    assert Unit.objects.get(credit_code=GOOD_2).parent == audit_unit
    assert Unit.objects.get(credit_code=GOOD_3).get_unit_type_display() == "人民团体"
    lisi = User.objects.get(username="lisi")
    assert (lisi.unit, lisi.department.name, lisi.has_usable_password()) == (
        audit_unit,
        "办公室",
        False,
    )
    entry = AuditLogEntry.objects.get(action="import", object_type="orgs.unit")
    assert (entry.actor_name, entry.object_repr, entry.after) == (
        "sysadmin",
        "a.xlsx",
        {
            "units": 5,
            "units_updated": 0,
            "units_unchanged": 0,
            "departments": 2,
            "people": 2,
            "people_unchanged": 0,
        },
    )
    # The same file again matches what is there: every row is unchanged, nothing is written.
    before = snapshot()
    again = import_orgs(actor=org.sysadmin, file=workbook(fixed, people))
    assert again.errors == []
    assert (again.units_created, again.units_updated, again.units_unchanged) == (0, 0, 5)
    assert (again.people_created, again.people_unchanged) == (0, 2)
    assert snapshot() == (before[0], before[1], before[2], before[3] + 1)  # the import record


@pytest.mark.django_db
def test_roles_need_the_security_admin_and_platform_roles_never_import(org):
    people = [
        ["wangwu", "王五", org.unit_a.credit_code, "", "", "", "", "具体负责人、审批人"],
        ["zhaoliu", "赵六", org.unit_a.credit_code, "", "", "", "", "系统管理员"],
    ]
    result = import_orgs(actor=org.sysadmin, file=workbook([], people))
    assert [(e.row, e.message) for e in result.errors] == [
        (2, "角色须由安全管理员授予，请清空“角色”列后再导入。"),
        (3, "三员角色“系统管理员”不能导入，请由安全管理员单独授予。"),
    ]  # fmt: skip
    result = import_orgs(actor=None, file=workbook([], people[:1]))
    assert result.errors == []
    assert sorted(User.objects.get(username="wangwu").role_set) == ["approver", "sam_officer"]


@pytest.mark.django_db
def test_only_system_admin_imports_and_not_outside_scope(org):
    with pytest.raises(PermissionDenied):
        import_orgs(actor=org.officer_a, file=workbook([unit_row("x", GOOD_1)]))


@pytest.mark.django_db
def test_not_a_workbook_and_missing_columns(org):
    result = import_orgs(actor=org.sysadmin, file=io.BytesIO(b"not a zip"))
    assert [str(e) for e in result.errors] == ["无法读取文件，请上传由模板填写的 .xlsx 文件。"]
    from openpyxl import Workbook

    wb = Workbook()
    wb.active.title = "单位"
    wb["单位"].append(["单位名称", "行政区划代码"])
    wb.create_sheet("人员").append(["用户名", "姓名", "单位信用代码"])
    buf = io.BytesIO()
    wb.save(buf)
    buf.seek(0)
    result = import_orgs(actor=org.sysadmin, file=buf)
    assert [str(e) for e in result.errors] == [
        "单位第1行：缺少必填列“统一社会信用代码”。",
        "单位第1行：缺少必填列“单位类型”。",
    ]


@pytest.mark.django_db
def test_a_workbook_that_inflates_past_the_cap_is_refused_before_openpyxl_reads_it(org, settings):
    from zhengban.core.tests.test_exports import with_shared_strings

    settings.ZHENGBAN = {**settings.ZHENGBAN, "XLSX_MAX_UNCOMPRESSED_BYTES": 1024 * 1024}
    good = workbook([unit_row("历下区统计局", GOOD_1, depts="办公室")]).getvalue()
    before = snapshot()
    result = import_orgs(
        actor=org.sysadmin, file=io.BytesIO(with_shared_strings(good, 2 * 1024 * 1024))
    )
    assert [str(e) for e in result.errors] == [
        "XLSX 文件解压后超过 1 MB，请删去多余的内容或分成几个文件导入。"
    ]
    assert (result.units_created, snapshot()) == (0, before)
    # The report of a refused file is the error alone.
    report = load_workbook(io.BytesIO(build_error_report(result)))
    assert [list(ws.values) for ws in report.worksheets] == [
        [("错误",), ("XLSX 文件解压后超过 1 MB，请删去多余的内容或分成几个文件导入。",)]
    ]

    # The template as people fill it passes under the same cap.
    result = import_orgs(actor=org.sysadmin, file=io.BytesIO(good))
    assert (result.errors, result.units_created) == ([], 1)
    assert Unit.objects.get(credit_code=GOOD_1).name == "历下区统计局"


@pytest.mark.django_db
def test_uploaded_headers_come_back_in_the_report_as_text_not_formulas(org):
    wb = load_workbook(workbook([unit_row("历下区统计局", BAD_CHECK)]))
    sheet = wb["单位"]
    header = sheet.cell(row=1, column=sheet.max_column + 1)
    # Stored as text in the upload; openpyxl would write it back as a live formula.
    header.value = '=HYPERLINK("http://evil.example/","点击查看")'
    header.data_type = "s"
    buf = io.BytesIO()
    wb.save(buf)
    buf.seek(0)
    result = import_orgs(actor=org.sysadmin, file=buf)
    assert [e.row for e in result.errors] == [2]
    report = load_workbook(io.BytesIO(build_error_report(result)))["单位"]
    cell = report.cell(row=1, column=header.column)
    assert (cell.value, cell.data_type) == ('\'=HYPERLINK("http://evil.example/","点击查看")', "s")
    assert report.cell(row=1, column=header.column + 1).value == "错误"
    assert [c.data_type for c in report[1]] == ["s"] * (header.column + 1)


@pytest.mark.django_db
def test_command_has_the_same_behaviour(org, tmp_path, capsys):
    bad = tmp_path / "bad.xlsx"
    bad.write_bytes(workbook([unit_row("历下区统计局", BAD_CHECK)]).getvalue())
    report = tmp_path / "report.xlsx"
    before = snapshot()
    with pytest.raises(CommandError, match="发现1处错误，未导入任何数据。"):
        call_command("import_orgs", str(bad), "--report", str(report))
    assert capsys.readouterr().err.splitlines()[0] == (
        f"单位第2行：统一社会信用代码校验位错误：应为{GOOD_1[17]}，实为{BAD_CHECK[17]}。"
    )
    assert snapshot() == before
    assert report.exists()

    good = tmp_path / "good.xlsx"
    good.write_bytes(workbook([unit_row("历下区统计局", GOOD_1, depts="办公室")]).getvalue())
    call_command("import_orgs", str(good))
    assert capsys.readouterr().out.strip() == (
        "导入成功：新建单位1个、更新0个、无变化0个，新建部门1个，新建人员0人、无变化0人。"
    )
    template = tmp_path / "t.xlsx"
    call_command("import_orgs", "--template", str(template))
    assert load_workbook(template).sheetnames == ["说明", "选项", "单位", "人员"]
