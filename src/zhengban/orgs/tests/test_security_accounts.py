"""The three platform operators' pages: each can do its own job and nothing else."""

import io

import pytest
from django.utils import timezone
from openpyxl import load_workbook

from zhengban.core.models import AuditLogEntry
from zhengban.orgs import services
from zhengban.orgs.choices import Role
from zhengban.orgs.models import RoleGrant, User
from zhengban.orgs.testing import TEST_PASSWORD

NEW_PASSWORD = "Xin-Mima-2024!"


def as_user(client, user):
    client.force_login(user)
    return client


def new_account_form(**overrides):
    data = {
        "username": "zhang_san",
        "full_name": "张三",
        "unit": "",
        "department": "",
        "post": "科员",
        "phone": "0531-88880000",
        "email": "",
        "password1": NEW_PASSWORD,
        "password2": NEW_PASSWORD,
    }
    data.update(overrides)
    return data


# --- who may open which page ----------------------------------------------------------------

ACCOUNT_PAGES = ["/orgs/accounts/", "/orgs/accounts/new/", "/orgs/accounts/{pk}/"]
ROLE_PAGES = ["/orgs/roles/", "/orgs/roles/{pk}/"]
AUDIT_PAGES = ["/audit-log/", "/audit-log/?export=xlsx", "/audit-log/{entry}/"]


@pytest.mark.django_db
@pytest.mark.parametrize(
    "username,allowed",
    [
        ("sysadmin", {"accounts"}),
        ("secadmin", {"roles"}),
        ("auditadmin", {"audit"}),
        ("officer_a", set()),
        ("head_a", set()),
        ("supervisor_p", set()),
    ],
)
def test_each_operator_opens_only_its_own_pages(org, client, username, allowed):
    as_user(client, User.objects.get(username=username))
    entry = AuditLogEntry.objects.first().pk
    pages = {"accounts": ACCOUNT_PAGES, "roles": ROLE_PAGES, "audit": AUDIT_PAGES}
    for job, urls in pages.items():
        for url in urls:
            url = url.format(pk=org.staff_a.pk, entry=entry)
            expected = 200 if job in allowed else 403
            assert client.get(url).status_code == expected, url


@pytest.mark.django_db
def test_menu_shows_each_operator_its_own_entries(org, client):
    def system_menu(user):
        page = as_user(client, user).get("/").content.decode()
        return [label for label in ("账号管理", "角色管理", "审计日志") if label in page]

    assert system_menu(org.sysadmin) == ["账号管理"]
    assert system_menu(org.secadmin) == ["角色管理"]
    assert system_menu(org.audit_admin) == ["审计日志"]
    assert system_menu(org.officer_a) == []


# --- 系统管理员: accounts ----------------------------------------------------------------------


@pytest.mark.django_db
def test_sysadmin_creates_account_without_roles(org, client):
    form = new_account_form(unit=org.unit_a.pk)
    response = as_user(client, org.sysadmin).post("/orgs/accounts/new/", form)
    account = User.objects.get(username="zhang_san")
    assert (response.status_code, response["Location"]) == (302, f"/orgs/accounts/{account.pk}/")
    assert (account.full_name, account.unit, account.post, account.is_active) == (
        "张三",
        org.unit_a,
        "科员",
        True,
    )
    assert account.check_password(NEW_PASSWORD)
    assert list(account.role_grants.all()) == []
    entry = AuditLogEntry.objects.get(action="create", object_id=str(account.pk))
    assert entry.actor_name == "sysadmin"
    assert entry.after["username"] == "zhang_san"
    assert "password" not in entry.after


@pytest.mark.django_db
def test_account_with_weak_password_is_refused_and_nothing_written(org, client):
    as_user(client, org.sysadmin)
    before = (User.objects.count(), AuditLogEntry.objects.count())
    form = new_account_form(password1="weakpassword", password2="weakpassword")
    response = client.post("/orgs/accounts/new/", form)
    assert response.status_code == 200
    assert response.context["form"].errors == {
        "password1": ["密码须包含大写字母、小写字母、数字和符号中的至少 3 类。"]
    }
    assert (User.objects.count(), AuditLogEntry.objects.count()) == before


@pytest.mark.django_db
def test_account_department_must_belong_to_its_unit(org, client):
    from zhengban.orgs.models import Department

    dept_b = Department.objects.create(unit=org.unit_b, name="办公室")
    form = new_account_form(unit=org.unit_a.pk, department=dept_b.pk)
    response = as_user(client, org.sysadmin).post("/orgs/accounts/new/", form)
    assert response.context["form"].errors == {"password1": ["部门必须属于所选单位。"]}
    assert not User.objects.filter(username="zhang_san").exists()


@pytest.mark.django_db
def test_sysadmin_edits_account_and_audit_has_before_and_after(org, client):
    data = {"full_name": "李四", "unit": org.unit_a.pk, "department": "", "post": "科长"}
    data |= {"phone": "", "email": ""}
    response = as_user(client, org.sysadmin).post(f"/orgs/accounts/{org.staff_a.pk}/", data)
    assert response.status_code == 302
    org.staff_a.refresh_from_db()
    assert (org.staff_a.full_name, org.staff_a.post) == ("李四", "科长")
    entry = AuditLogEntry.objects.get(action="update", object_id=str(org.staff_a.pk))
    assert (entry.before, entry.after) == (
        {"full_name": "staff_a", "post": ""},
        {"full_name": "李四", "post": "科长"},
    )


@pytest.mark.django_db
def test_sysadmin_resets_password_with_policy(org, client):
    as_user(client, org.sysadmin)
    url = f"/orgs/accounts/{org.staff_a.pk}/password/"
    response = client.post(url, {"password1": "short", "password2": "short"})
    assert response.status_code == 200
    assert (
        "密码须包含大写字母、小写字母、数字和符号中的至少 3 类。"
        in (response.context["password_form"].errors["password1"])
    )
    response = client.post(url, {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD})
    assert (response.status_code, response["Location"]) == (
        302,
        f"/orgs/accounts/{org.staff_a.pk}/",
    )
    org.staff_a.refresh_from_db()
    assert org.staff_a.check_password(NEW_PASSWORD)


@pytest.mark.django_db
def test_sysadmin_deactivates_and_the_account_can_no_longer_sign_in(org, client):
    as_user(client, org.sysadmin).post(f"/orgs/accounts/{org.staff_a.pk}/deactivate/")
    org.staff_a.refresh_from_db()
    assert org.staff_a.is_active is False
    client.logout()
    response = client.post("/login/", {"username": "staff_a", "password": TEST_PASSWORD})
    assert response.status_code == 200
    assert "_auth_user_id" not in client.session
    as_user(client, org.sysadmin).post(f"/orgs/accounts/{org.staff_a.pk}/activate/")
    org.staff_a.refresh_from_db()
    assert org.staff_a.is_active is True


@pytest.mark.django_db
def test_sysadmin_unlocks_a_locked_account_from_its_page(org, client):
    for _attempt in range(5):
        client.post("/login/", {"username": "officer_a", "password": "wrong"})
    page = as_user(client, org.sysadmin).get(f"/orgs/accounts/{org.officer_a.pk}/")
    assert "已锁定" in page.content.decode()
    listing = client.get("/orgs/accounts/?q=officer_a").content.decode()
    assert "已锁定" in listing
    client.post(f"/orgs/accounts/{org.officer_a.pk}/unlock/")
    assert services.locked_usernames() == set()
    client.logout()
    response = client.post("/login/", {"username": "officer_a", "password": TEST_PASSWORD})
    assert response.status_code == 302


@pytest.mark.django_db
def test_sysadmin_cannot_touch_other_operator_accounts_or_itself(org, client):
    as_user(client, org.sysadmin)
    for target in (org.secadmin, org.audit_admin, org.sysadmin):
        response = client.post(
            f"/orgs/accounts/{target.pk}/password/",
            {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD},
        )
        assert response.status_code == 403
        assert client.post(f"/orgs/accounts/{target.pk}/deactivate/").status_code == 403
        target.refresh_from_db()
        assert target.check_password(TEST_PASSWORD) and target.is_active


@pytest.mark.django_db
def test_sysadmin_cannot_grant_roles(org, client):
    as_user(client, org.sysadmin)
    response = client.post(f"/orgs/roles/{org.staff_a.pk}/", {"role": Role.APPROVER})
    assert response.status_code == 403
    response = client.post(f"/orgs/roles/{org.officer_a.pk}/revoke/", {"role": Role.APPROVER})
    assert response.status_code == 403
    assert sorted(org.staff_a.role_grants.values_list("role", flat=True)) == ["staff"]
    assert RoleGrant.objects.filter(user=org.officer_a, role=Role.APPROVER).exists()


@pytest.mark.django_db
def test_secadmin_and_audit_admin_cannot_create_or_change_accounts(org, client):
    for actor in (org.secadmin, org.audit_admin, org.officer_a):
        as_user(client, actor)
        response = client.post("/orgs/accounts/new/", new_account_form())
        assert response.status_code == 403
        response = client.post(
            f"/orgs/accounts/{org.staff_a.pk}/password/",
            {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD},
        )
        assert response.status_code == 403
        assert client.post(f"/orgs/accounts/{org.staff_a.pk}/deactivate/").status_code == 403
    assert not User.objects.filter(username="zhang_san").exists()
    org.staff_a.refresh_from_db()
    assert org.staff_a.is_active and org.staff_a.check_password(TEST_PASSWORD)


# --- 安全管理员: roles -------------------------------------------------------------------------


@pytest.mark.django_db
def test_secadmin_lists_accounts_with_roles(org, client):
    response = as_user(client, org.secadmin).get("/orgs/roles/?q=officer_a")
    rows = [[str(v) for v in row] for row in response.context["table"].as_values()]
    assert rows == [
        ["用户名", "姓名", "单位", "角色", "有效"],
        ["officer_a", "officer_a", "历下区财政局", "具体负责人、审批人", "True"],
    ]


@pytest.mark.django_db
def test_secadmin_grants_and_revokes_roles(org, client):
    as_user(client, org.secadmin)
    response = client.post(f"/orgs/roles/{org.staff_a.pk}/", {"role": Role.APPROVER})
    assert (response.status_code, response["Location"]) == (302, f"/orgs/roles/{org.staff_a.pk}/")
    assert sorted(org.staff_a.role_grants.values_list("role", flat=True)) == ["approver", "staff"]
    response = client.post(f"/orgs/roles/{org.staff_a.pk}/revoke/", {"role": Role.STAFF})
    assert response.status_code == 302
    assert sorted(org.staff_a.role_grants.values_list("role", flat=True)) == ["approver"]
    actions = list(
        AuditLogEntry.objects.filter(actor_name="secadmin", action__in=["grant", "revoke"])
        .order_by("id")
        .values_list("action", "before", "after")
    )
    assert actions == [
        ("grant", None, {"user": org.staff_a.pk, "role": "approver"}),
        ("revoke", {"user": org.staff_a.pk, "role": "staff"}, None),
    ]


@pytest.mark.django_db
def test_role_page_shows_separation_of_duties_error(org, client):
    as_user(client, org.secadmin)
    response = client.post(f"/orgs/roles/{org.audit_admin.pk}/", {"role": Role.SYSADMIN})
    assert response.status_code == 200
    assert response.context["form"].errors == {
        "role": ["三员分立：系统管理员、安全管理员、审计管理员不得由同一账号兼任。"]
    }
    response = client.post(f"/orgs/roles/{org.secadmin.pk}/", {"role": Role.STAFF})
    assert response.status_code == 403  # no self-grant
    assert sorted(org.audit_admin.role_grants.values_list("role", flat=True)) == ["audit_admin"]
    assert sorted(org.secadmin.role_grants.values_list("role", flat=True)) == ["secadmin"]


# --- 审计管理员: the log -----------------------------------------------------------------------


@pytest.mark.django_db
def test_audit_log_detail_shows_before_and_after(org, client):
    services.update_unit(actor=org.officer_a, unit=org.unit_a, headcount=45, head_name="王五")
    entry = AuditLogEntry.objects.get(action="update", object_type="orgs.unit")
    response = as_user(client, org.audit_admin).get(f"/audit-log/{entry.pk}/")
    assert response.context["changes"] == [
        ("head_name", "", "王五"),
        ("headcount", 40, 45),
        ("updated", entry.before["updated"], entry.after["updated"]),
    ]
    assert "王五" in response.content.decode()


@pytest.mark.django_db
def test_audit_log_xlsx_export_exact(org, client):
    services.grant_role(actor=org.secadmin, user=org.staff_a, role=Role.APPROVER)
    services.revoke_role(actor=org.secadmin, user=org.staff_a, role=Role.APPROVER)
    response = as_user(client, org.audit_admin).get(
        "/audit-log/?export=xlsx&actor_name=secadmin&object_type=orgs.rolegrant"
    )
    assert response.status_code == 200
    assert response["Content-Type"] == (
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    )
    sheet = load_workbook(io.BytesIO(response.content)).active
    rows = [list(row) for row in sheet.iter_rows(values_only=True)]
    grant, revoke = AuditLogEntry.objects.filter(
        actor_name="secadmin", action__in=["grant", "revoke"]
    ).order_by("id")

    def stamp(entry):
        # A date cell in local time, to the second.
        return timezone.localtime(entry.timestamp).replace(tzinfo=None, microsecond=0)

    pk = org.staff_a.pk
    assert rows == [
        [
            "时间",
            "操作人",
            "操作",
            "对象类型",
            "对象ID",
            "对象",
            "变更前",
            "变更后",
            "IP地址",
            "说明",
        ],
        [
            stamp(revoke),
            "secadmin",
            "撤销",
            "orgs.rolegrant",
            None,
            "staff_a · approver",
            f'{{"role": "approver", "user": {pk}}}',
            None,
            None,
            None,
        ],
        [
            stamp(grant),
            "secadmin",
            "授权",
            "orgs.rolegrant",
            str(grant.object_id),
            "staff_a · 审批人",
            None,
            f'{{"role": "approver", "user": {pk}}}',
            None,
            None,
        ],
    ]
    # The export itself is audited.
    export = AuditLogEntry.objects.filter(action="export").get()
    assert (export.actor_name, export.object_type) == ("auditadmin", "core.auditlogentry")
