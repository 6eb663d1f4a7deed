"""The §一 pages: what each person may see and change, and that another unit's objects are
a 404 with nothing changed."""

import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from zhengban.core.models import AuditLogEntry, Notification
from zhengban.orgs import responsibility
from zhengban.orgs.choices import MechanismRole
from zhengban.orgs.models import (
    Department,
    DeploymentMeeting,
    MechanismMember,
    OfficerListSubmission,
    Unit,
)
from zhengban.orgs.submissions import create_or_update_draft, submit
from zhengban.orgs.testing import make_credit_code, make_person

YEAR = timezone.localdate().year
PDF = b"%PDF-1.4\n%%EOF\n"


def login(client, user):
    client.force_login(user)
    return client


def state():
    return (
        list(Unit.objects.order_by("pk").values_list("name", "headcount", "officer_name")),
        list(Department.objects.order_by("pk").values_list("name", flat=True)),
        DeploymentMeeting.objects.count(),
        MechanismMember.objects.count(),
        list(OfficerListSubmission.objects.values_list("status", "officers")),
        Notification.objects.count(),
    )


@pytest.mark.django_db
def test_other_units_objects_are_404_and_nothing_changes(org, client, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    b = org.unit_b
    dept_b = Department.objects.create(unit=b, name="办公室")
    meeting_b = responsibility.record_meeting(
        actor=None,
        unit=b,
        date=timezone.localdate(),
        title="部署会",
        minutes=SimpleUploadedFile("m.pdf", PDF),
    )
    draft_b = create_or_update_draft(
        actor=org.officer_b,
        unit=b,
        year=YEAR,
        officers=[{"name": "王", "phone": "1"}],
    )
    submit(actor=org.officer_b, submission=draft_b)
    member_b = responsibility.add_mechanism_member(
        actor=None, region=org.city_b, role=MechanismRole.LEADER, person_name="赵"
    )
    login(client, org.officer_a)
    before = state()
    gets = [
        f"/orgs/units/{b.pk}/",
        f"/orgs/units/{b.pk}/edit/",
        f"/orgs/units/{b.pk}/meetings/new/",
        f"/orgs/meetings/{meeting_b.pk}/minutes/",
        f"/orgs/units/{b.pk}/submissions/{YEAR}/",
        f"/orgs/regions/{org.city_b.pk}/",
        f"/orgs/mechanism/{member_b.pk}/edit/",
        f"/orgs/bureaus/{org.bureau_b.pk}/submissions/",
    ]
    for url in gets:
        assert client.get(url).status_code == 404, url
    posts = [
        (f"/orgs/units/{b.pk}/edit/", {"name": "改名", "unit_type": "government_agency"}),
        (f"/orgs/units/{b.pk}/departments/", {"name": "新部门"}),
        (f"/orgs/departments/{dept_b.pk}/rename/", {"name": "改名"}),
        (f"/orgs/meetings/{meeting_b.pk}/delete/", {}),
        (f"/orgs/units/{b.pk}/submissions/{YEAR}/", {"action": "submit"}),
        (f"/orgs/submissions/{draft_b.pk}/receive/", {}),
        (f"/orgs/submissions/{draft_b.pk}/return/", {"reason": "x"}),
        (f"/orgs/mechanism/{member_b.pk}/delete/", {}),
        (f"/orgs/regions/{org.city_b.pk}/mechanism/new/", {"role": "member", "person_name": "x"}),
        (f"/orgs/bureaus/{org.bureau_b.pk}/remind/", {"year": YEAR}),
    ]
    for url, data in posts:
        assert client.post(url, data).status_code == 404, url
    assert state() == before


@pytest.mark.django_db
def test_officer_edits_own_unit_and_staff_may_not(org, client):
    dept = Department.objects.create(unit=org.unit_a, name="信息科")
    data = {
        "name": "历下区财政局",
        "unit_type": "government_agency",
        "headcount": 42,
        "address": "",
        "head_name": "王强",
        "head_post": "局长",
        "lead_department": dept.pk,
        "officer_name": "赵敏",
        "officer_post": "科长",
        "officer_phone": "0531-1",
    }
    assert (
        login(client, org.staff_a).post(f"/orgs/units/{org.unit_a.pk}/edit/", data).status_code
        == 403
    )
    response = login(client, org.officer_a).post(f"/orgs/units/{org.unit_a.pk}/edit/", data)
    assert response.status_code == 302
    unit = Unit.objects.get(pk=org.unit_a.pk)
    assert (unit.headcount, unit.head_name, unit.lead_department, unit.officer_phone) == (
        42,
        "王强",
        dept,
        "0531-1",
    )
    entry = AuditLogEntry.objects.filter(object_type="orgs.unit", action="update").latest("id")
    assert {k: v for k, v in entry.before.items() if k != "updated"} == {
        "head_name": "",
        "head_post": "",
        "headcount": 40,
        "lead_department_id": None,
        "officer_name": "",
        "officer_phone": "",
        "officer_post": "",
    }
    # Another unit's department is not on offer as lead department.
    other = Department.objects.create(unit=org.unit_b, name="办公室")
    response = client.post(
        f"/orgs/units/{org.unit_a.pk}/edit/", {**data, "lead_department": other.pk}
    )
    assert response.status_code == 200
    assert "lead_department" in response.context["form"].errors


@pytest.mark.django_db
def test_departments_add_and_rename_with_htmx(org, client):
    login(client, org.officer_a)
    url = f"/orgs/units/{org.unit_a.pk}/departments/"
    response = client.post(url, {"name": " 信息科 "}, HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    assert "信息科" in response.content.decode()
    response = client.post(url, {"name": "信息科"}, HTTP_HX_REQUEST="true")
    assert "本单位已有名为“信息科”的部门。" in response.content.decode()
    dept = Department.objects.get(unit=org.unit_a)
    client.post(f"/orgs/departments/{dept.pk}/rename/", {"name": "信息中心"})
    assert list(Department.objects.filter(unit=org.unit_a).values_list("name", flat=True)) == [
        "信息中心"
    ]
    assert login(client, org.head_a).post(url, {"name": "x"}).status_code == 403


@pytest.mark.django_db
def test_create_unit_form_validates_credit_code(org, client):
    data = {
        "name": "历下区统计局",
        "credit_code": "11370102000000099X",
        "unit_type": "government_agency",
        "region": org.county_a1.pk,
        "headcount": 10,
    }
    assert login(client, org.officer_a).get("/orgs/units/new/").status_code == 403
    login(client, org.sysadmin)
    response = client.post("/orgs/units/new/", data)
    code = make_credit_code("370102", 99)
    assert response.context["form"].errors["credit_code"] == [
        f"统一社会信用代码校验位错误：应为{code[17]}，实为X。"
    ]
    response = client.post("/orgs/units/new/", {**data, "credit_code": code.lower()})
    assert response.status_code == 302
    assert Unit.objects.get(name="历下区统计局").credit_code == code
    response = client.post("/orgs/units/new/", {**data, "credit_code": code})
    assert response.context["form"].errors["credit_code"] == [
        "该统一社会信用代码已被其他单位使用。"
    ]


@pytest.mark.django_db
def test_meeting_upload_limits(org, client, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    login(client, org.officer_a)
    url = f"/orgs/units/{org.unit_a.pk}/meetings/new/"
    base = {"date": f"{YEAR}-03-01", "title": "部署会", "attendees": "全体"}
    cases = [
        (SimpleUploadedFile("a.exe", b"MZ"), "会议纪要仅支持以下格式：PDF、OFD、DOCX、DOC、WPS、JPG、JPEG、PNG。"),
        (SimpleUploadedFile("a.pdf", b"MZ\x90\x00"), "文件内容与扩展名（PDF）不符。"),
        (SimpleUploadedFile("a.pdf", b"%PDF" + b"0" * (10 * 1024 * 1024)), "会议纪要文件不能超过10MB。"),
    ]  # fmt: skip
    for upload, message in cases:
        response = client.post(url, {**base, "minutes": upload})
        assert response.context["form"].non_field_errors() == [message]
    assert DeploymentMeeting.objects.count() == 0
    assert list(tmp_path.rglob("*.*")) == []
    response = client.post(url, {**base, "minutes": SimpleUploadedFile("纪要.pdf", PDF)})
    assert response.status_code == 302
    meeting = DeploymentMeeting.objects.get()
    assert (meeting.year, meeting.unit, meeting.title) == (YEAR, org.unit_a, "部署会")
    download = client.get(f"/orgs/meetings/{meeting.pk}/minutes/")
    assert b"".join(download.streaming_content) == PDF
    # The supervisor of the region may read it too; another unit may not.
    assert (
        login(client, org.supervisor_a).get(f"/orgs/meetings/{meeting.pk}/minutes/").status_code
        == 200
    )
    assert (
        login(client, org.officer_b).get(f"/orgs/meetings/{meeting.pk}/minutes/").status_code == 404
    )


@pytest.mark.django_db
def test_mechanism_is_edited_by_the_regions_own_bureau(org, client):
    url = f"/orgs/regions/{org.city_a.pk}/mechanism/new/"
    data = {"role": "member_unit", "unit": org.unit_a.pk, "duties": "保障经费"}
    assert login(client, org.supervisor_province).post(url, data).status_code == 403
    assert login(client, org.officer_a).post(url, data).status_code == 404  # not its region
    response = login(client, org.supervisor_a).post(url, data)
    assert response.status_code == 302
    member = MechanismMember.objects.get()
    assert (member.region, member.role, member.unit, member.duties) == (
        org.city_a,
        "member_unit",
        org.unit_a,
        "保障经费",
    )
    response = client.post(url, {"role": "leader", "person_name": ""})
    assert response.context["form"].non_field_errors() == ["领导机构成员须填写姓名。"]
    page = client.get(f"/orgs/regions/{org.city_a.pk}/")
    assert page.context["bureau"] == org.bureau_a
    assert page.context["unit_total"] == 3
    assert [(c.name, c.unit_total) for c in page.context["children"]] == [("历下区", 2)]


@pytest.mark.django_db
def test_submission_pages_and_bureau_overview(org, client):
    login(client, org.officer_a)
    assert (
        client.get("/orgs/submissions/").url == f"/orgs/units/{org.unit_a.pk}/submissions/{YEAR}/"
    )
    url = f"/orgs/units/{org.unit_a.pk}/submissions/{YEAR}/"
    form = {
        "officers-TOTAL_FORMS": "2",
        "officers-INITIAL_FORMS": "0",
        "officers-0-name": "张伟",
        "officers-0-post": "科长",
        "officers-0-phone": "",
        "officers-0-department": "信息科",
        "action": "submit",
    }
    response = client.post(url, form)
    assert response.context["errors"] == ["第1行（张伟）：请填写联系电话。"]
    assert OfficerListSubmission.objects.count() == 0  # draft and submit are one step
    response = client.post(url, {**form, "officers-0-phone": "0531-1"})
    assert response.status_code == 302
    s = OfficerListSubmission.objects.get()
    assert (s.status, s.officers) == (
        "submitted",
        [{"name": "张伟", "post": "科长", "phone": "0531-1", "department": "信息科"}],
    )
    login(client, org.supervisor_a)
    assert (
        client.get("/orgs/submissions/").url
        == f"/orgs/bureaus/{org.bureau_a.pk}/submissions/?year={YEAR}"
    )
    page = client.get(f"/orgs/bureaus/{org.bureau_a.pk}/submissions/?year={YEAR}")
    assert [(r.unit.name, r.status) for r in page.context["rows"]] == [
        ("济南市版权局", "not_started"),
        ("历下区财政局", "submitted"),
        ("历下区财政局国库支付中心", "not_started"),
    ]
    assert (page.context["progress"].done, page.context["progress"].percent) == (1, 33)
    client.post(f"/orgs/submissions/{s.pk}/return/", {"reason": "请补充"})
    s.refresh_from_db()
    assert (s.status, s.return_reason) == ("returned", "请补充")
    response = client.post(f"/orgs/bureaus/{org.bureau_a.pk}/remind/", {"year": YEAR})
    assert response.status_code == 302
    # unit_a (returned) and nobody else with an officer.
    assert list(Notification.objects.values_list("recipient__username", flat=True)) == [
        "officer_a",
        "officer_a",
    ]
    # The province supervisor sees the city bureau's page but may not act on it.
    login(client, org.supervisor_province)
    assert (
        client.get(f"/orgs/bureaus/{org.bureau_a.pk}/submissions/").context["is_supervisor"]
        is False
    )
    assert client.post(f"/orgs/submissions/{s.pk}/receive/").status_code == 403


@pytest.mark.django_db
def test_import_page_reports_errors_and_offers_the_report(org, client, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    from zhengban.orgs.tests.test_import import BAD_CHECK, unit_row, workbook

    assert login(client, org.officer_a).get("/orgs/import/").status_code == 403
    login(client, org.sysadmin)
    template = client.get("/orgs/import/template.xlsx")
    assert template["Content-Type"].startswith("application/vnd.openxmlformats")
    upload = SimpleUploadedFile("units.xlsx", workbook([unit_row("坏单位", BAD_CHECK)]).getvalue())
    response = client.post("/orgs/import/", {"file": upload})
    assert [e.row for e in response.context["result"].errors] == [2]
    report_url = f"/orgs/import/reports/{response.context['report_id']}.xlsx"
    assert client.get(report_url).status_code == 200
    # Another session cannot fetch it.
    assert login(client.__class__(), org.secadmin).get(report_url).status_code == 404
    assert Unit.objects.filter(name="坏单位").count() == 0
    bad = SimpleUploadedFile("units.csv", io.BytesIO(b"a,b").getvalue())
    response = client.post("/orgs/import/", {"file": bad})
    assert response.context["form"].errors["file"] == ["请上传由模板填写的 .xlsx 文件。"]


@pytest.mark.django_db
def test_home_panels(org, client):
    make_person("no_roles", org.unit_a)
    login(client, org.officer_a)
    titles = [p.title for p in client.get("/").context["panels"]]
    assert "本单位：历下区财政局" in titles and "我的信息" in titles
    login(client, org.supervisor_a)
    panel = next(p for p in client.get("/").context["panels"] if p.title == "辖区概况")
    assert panel.figures[0][:2] == ("辖区单位", 3)
    assert [f[:2] for f in panel.figures[-2:]] == [("名单已报送", 0), ("名单未报送", 3)]
    login(client, org.sysadmin)
    panel = next(p for p in client.get("/").context["panels"] if p.title == "平台账号")
    assert panel.figures[0][:2] == ("账号", 10)


@pytest.mark.django_db
def test_import_page_after_a_good_file_shows_counts_and_the_per_row_result(
    org, client, settings, tmp_path
):
    settings.MEDIA_ROOT = tmp_path
    from openpyxl import load_workbook

    from zhengban.orgs.tests.test_import import GOOD_1, unit_row, workbook

    login(client, org.sysadmin)
    body = workbook([unit_row("新单位甲", GOOD_1)]).getvalue()
    response = client.post("/orgs/import/", {"file": SimpleUploadedFile("u.xlsx", body)})
    assert response.context["result"].units_created == 1
    assert "新建单位1个、更新0个、无变化0个" in response.content.decode()
    report = client.get(f"/orgs/import/reports/{response.context['report_id']}.xlsx")
    sheet = load_workbook(io.BytesIO(report.content))["单位"]
    assert sheet.cell(row=2, column=sheet.max_column).value == "新建"
    # The same file again: nothing changes, and the page says so.
    again = client.post("/orgs/import/", {"file": SimpleUploadedFile("u.xlsx", body)})
    assert (again.context["result"].units_created, again.context["result"].units_unchanged) == (
        0,
        1,
    )


@pytest.mark.django_db
def test_unit_list_fast_rows_render_exactly_what_django_tables2_renders(org, rf):
    import re

    from django.template.loader import render_to_string

    from zhengban.orgs.tables import UnitTable

    Unit.objects.filter(pk=org.unit_a.pk).update(head_name="王五 <i>", officer_phone="0531&1")
    request = rf.get("/")
    request.user = org.supervisor_province

    def cells(fast: bool) -> list[str]:
        table = UnitTable(Unit.objects.visible_to(org.supervisor_province).order_by("pk"))
        table.fast_rows = fast
        table.paginate(per_page=50)
        html = render_to_string("core/table.html", {"table": table}, request=request)
        body = html[html.index("<tbody>") : html.index("</tbody>")]
        return re.findall(r"<tr[^>]*>(.*?)</tr>", body, flags=re.S)

    fast, slow = cells(True), cells(False)
    assert len(fast) == Unit.objects.count()
    assert fast == slow
    assert any("王五 &lt;i&gt;" in row and "0531&amp;1" in row for row in fast)
