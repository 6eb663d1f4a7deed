"""Re-importing an edited file: existing units (matched by credit code) are updated."""

import io

import pytest
from openpyxl import Workbook, load_workbook

from zhengban.core.models import AuditLogEntry
from zhengban.orgs.importer import (
    RowOutcome,
    build_result_report,
    build_template,
    import_orgs,
)
from zhengban.orgs.models import Department, Unit, User
from zhengban.orgs.validators import make_credit_code

A = make_credit_code("370102", 701)
B = make_credit_code("370102", 702, prefix="12")
C = make_credit_code("370102", 703)
D = make_credit_code("370200", 704, prefix="13")


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


def unit_row(
    name,
    code,
    region="370102",
    kind="政府机关",
    parent="",
    headcount=30,
    depts="",
    lead="",
    head="王强",
):
    # 单位名称 信用代码 类型 区划 上级 编制 地址 版权局 第一责任人 职务 部门 牵头部门 负责人 职务 电话
    return [name, code, kind, region, parent, headcount, "", "否", head, "局长", depts, lead,
            "赵敏", "科长", "0531-1"]  # fmt: skip


ORIGINAL = [
    unit_row("历下区审计局", A, depts="办公室、信息科", lead="信息科"),  # row 2
    unit_row("历下区档案馆", B, kind="事业单位", parent=A),  # row 3
    unit_row("历下区统计局", C),  # row 4
]
PEOPLE = [["zhangsan", "张三", A, "信息科", "科员", "", "zs@example.cn", ""]]


def audit_updates():
    return list(
        AuditLogEntry.objects.filter(action="update", object_type="orgs.unit")
        .order_by("pk")
        .values_list("object_repr", "message")
    )


@pytest.mark.django_db
def test_edited_file_updates_creates_and_reports_each_row(org):
    first = import_orgs(actor=org.sysadmin, file=workbook(ORIGINAL, PEOPLE))
    assert first.errors == []
    assert (first.units_created, first.departments_created, first.people_created) == (3, 2, 1)
    audit_unit = Unit.objects.get(credit_code=A)

    edited = [
        # renamed, headcount changed, a new department that becomes the lead
        unit_row("历下区审计局（新）", A, headcount=35, depts="办公室、财务科", lead="财务科"),
        ORIGINAL[1],  # unchanged
        # moved to another region and under A
        unit_row("历下区统计局", C, region="370200", parent=A),
        unit_row("青岛市妇联", D, region="370200", kind="人民团体"),  # new
    ]
    result = import_orgs(actor=org.sysadmin, file=workbook(edited, PEOPLE), filename="b.xlsx")
    assert result.errors == []
    assert (
        result.units_created,
        result.units_updated,
        result.units_unchanged,
        result.departments_created,
        result.people_created,
        result.people_unchanged,
    ) == (1, 2, 1, 1, 0, 1)
    assert result.outcomes == {
        ("单位", 2): RowOutcome("updated", ["单位名称", "编制人数", "部门", "牵头部门"]),
        ("单位", 3): RowOutcome("unchanged"),
        ("单位", 4): RowOutcome("updated", ["行政区划代码", "上级单位信用代码"]),
        ("单位", 5): RowOutcome("created"),
        ("人员", 2): RowOutcome("unchanged"),
    }
    assert result.summary() == (
        "导入成功：新建单位1个、更新2个、无变化1个，新建部门1个，新建人员0人、无变化1人。"
    )

    audit_unit.refresh_from_db()
    assert (audit_unit.name, audit_unit.headcount, audit_unit.lead_department.name) == (
        "历下区审计局（新）",
        35,
        "财务科",
    )
    # Departments are added, never removed: 信息科 still holds 张三.
    assert sorted(audit_unit.departments.values_list("name", flat=True)) == [
        "信息科",
        "办公室",
        "财务科",
    ]
    assert User.objects.get(username="zhangsan").department.name == "信息科"
    stats = Unit.objects.get(credit_code=C)
    assert (stats.region.code, stats.parent, stats.path) == (
        "370200",
        audit_unit,
        f"{audit_unit.path}{stats.pk}/",
    )
    assert Unit.objects.filter(credit_code__in=[A, B, C, D]).count() == 4

    assert audit_updates() == [
        ("历下区审计局（新）", "批量导入更新：单位名称、编制人数、部门、牵头部门；新增部门：财务科"),
        ("历下区统计局", "批量导入更新：行政区划代码、上级单位信用代码"),
    ]  # fmt: skip
    entry = AuditLogEntry.objects.filter(action="update", object_id=str(stats.pk)).get()
    assert (entry.actor_name, entry.before["parent_id"], entry.after["parent_id"]) == (
        "sysadmin",
        None,
        audit_unit.pk,
    )
    entry = AuditLogEntry.objects.filter(action="import").order_by("pk").last()
    assert (entry.object_repr, entry.after) == (
        "b.xlsx",
        {
            "units": 1,
            "units_updated": 2,
            "units_unchanged": 1,
            "departments": 1,
            "people": 0,
            "people_unchanged": 1,
        },
    )

    report = load_workbook(io.BytesIO(build_result_report(result)))
    units_sheet = list(report["单位"].iter_rows(values_only=True))
    assert units_sheet[0][-1] == "结果"
    assert [r[-1] for r in units_sheet[1:]] == [
        "更新：单位名称、编制人数、部门、牵头部门",
        "无变化",
        "更新：行政区划代码、上级单位信用代码",
        "新建",
    ]
    assert [r[-1] for r in report["人员"].iter_rows(values_only=True)] == ["结果", "无变化"]

    # The same file once more changes nothing and writes no unit record.
    updates = len(audit_updates())
    again = import_orgs(actor=org.sysadmin, file=workbook(edited, PEOPLE))
    assert (again.errors, again.units_created, again.units_updated, again.units_unchanged) == (
        [],
        0,
        0,
        4,
    )
    assert len(audit_updates()) == updates


def sparse_workbook(rows):
    """A hand-made file with only some columns: the others must stay as they are."""
    wb = Workbook()
    wb.active.title = "单位"
    wb["单位"].append(
        ["单位名称", "统一社会信用代码", "单位类型", "行政区划代码", "上级单位信用代码"]
    )
    for row in rows:
        wb["单位"].append(row)
    wb.create_sheet("人员").append(["用户名", "姓名", "单位信用代码"])
    buf = io.BytesIO()
    wb.save(buf)
    buf.seek(0)
    return buf


@pytest.mark.django_db
def test_move_takes_affiliated_bodies_along_and_absent_columns_stay(org):
    unit_a, child = org.unit_a, org.unit_a_child
    Unit.objects.filter(pk=unit_a.pk).update(head_name="李明")
    row = ["历下区财政局", unit_a.credit_code, "政府机关", "370200", org.unit_b.credit_code]
    result = import_orgs(actor=org.sysadmin, file=sparse_workbook([row]))
    assert result.errors == []
    assert result.outcomes == {
        ("单位", 2): RowOutcome("updated", ["行政区划代码", "上级单位信用代码"])
    }
    unit_a.refresh_from_db()
    child.refresh_from_db()
    assert (unit_a.path, child.path) == (
        f"{org.unit_b.path}{unit_a.pk}/",
        f"{org.unit_b.path}{unit_a.pk}/{child.pk}/",
    )
    # Columns the file does not have keep their values.
    assert (unit_a.headcount, unit_a.head_name, unit_a.is_copyright_bureau) == (40, "李明", False)
    assert audit_updates() == [
        ("历下区财政局", "批量导入更新：行政区划代码、上级单位信用代码；下属单位1个随之移动")
    ]
    # The moved subtree is now in the other officer's scope.
    assert set(Unit.objects.visible_to(org.officer_b).values_list("pk", flat=True)) == {
        org.unit_b.pk,
        unit_a.pk,
        child.pk,
    }


def state():
    return (
        list(Unit.objects.order_by("pk").values_list("name", "parent_id", "path", "headcount")),
        Department.objects.count(),
        User.objects.count(),
        AuditLogEntry.objects.count(),
    )


@pytest.mark.django_db
def test_a_bad_row_keeps_every_update_out(org):
    before = state()
    rows = [
        ["历下区财政局（改）", org.unit_a.credit_code, "政府机关", "370102", ""],  # good
        ["青岛市教育局", org.unit_b.credit_code, "政府机关", "999999", ""],  # bad region
    ]
    result = import_orgs(actor=org.sysadmin, file=sparse_workbook(rows))
    assert [(e.row, e.message) for e in result.errors] == [
        (3, "行政区划代码“999999”不存在或不在您的管辖范围内。")
    ]
    assert (result.units_updated, result.outcomes) == (0, {})
    assert state() == before


@pytest.mark.django_db
def test_a_unit_cannot_go_under_its_own_affiliate(org):
    before = state()
    # The affiliate is not in the file: caught while checking.
    row = [
        "历下区财政局",
        org.unit_a.credit_code,
        "政府机关",
        "370102",
        org.unit_a_child.credit_code,
    ]
    result = import_orgs(actor=org.sysadmin, file=sparse_workbook([row]))
    assert [(e.row, e.message) for e in result.errors] == [
        (2, f"上级单位{org.unit_a_child.credit_code}是本单位的下属单位。")
    ]
    # Both in the file, each naming the other: a cycle.
    rows = [
        row,
        ["历下区财政局国库支付中心", org.unit_a_child.credit_code, "事业单位", "370102",
         org.unit_a.credit_code],
    ]  # fmt: skip
    result = import_orgs(actor=org.sysadmin, file=sparse_workbook(rows))
    assert [(e.row, e.message) for e in result.errors] == [(2, "上级单位关系存在循环。")]
    assert state() == before


@pytest.mark.django_db
def test_existing_person_with_other_details_is_refused(org):
    first = import_orgs(actor=org.sysadmin, file=workbook(ORIGINAL, PEOPLE))
    assert first.errors == []
    before = state()
    people = [["zhangsan", "张三", A, "办公室", "科员", "", "zs@example.cn", ""]]
    result = import_orgs(actor=org.sysadmin, file=workbook(ORIGINAL, people))
    assert [(e.sheet, e.row, e.message) for e in result.errors] == [
        ("人员", 2, "用户名zhangsan已存在于平台中，且与本行信息不同（导入不修改已有人员）。")
    ]
    assert state() == before
