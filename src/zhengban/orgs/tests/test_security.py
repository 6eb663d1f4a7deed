import datetime

import pytest
from django.conf import settings
from django.contrib.sessions.models import Session
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from zhengban.core.models import AuditLogEntry
from zhengban.orgs import services
from zhengban.orgs.testing import TEST_PASSWORD

LOCKED_TEXT = "登录失败次数过多，账号已被临时锁定。"


def login(client, username: str, password: str):
    return client.post("/login/", {"username": username, "password": password})


# --- password policy -----------------------------------------------------------------------


@pytest.mark.django_db
def test_password_too_few_character_classes(org):
    with pytest.raises(ValidationError) as excinfo:
        services.set_password(actor=org.sysadmin, user=org.staff_a, password="onlylowercase")
    assert excinfo.value.messages == ["密码须包含大写字母、小写字母、数字和符号中的至少 3 类。"]


@pytest.mark.django_db
def test_password_too_short_reports_both_rules(org):
    with pytest.raises(ValidationError) as excinfo:
        services.set_password(actor=org.sysadmin, user=org.staff_a, password="qzx")
    assert excinfo.value.messages[1:] == ["密码须包含大写字母、小写字母、数字和符号中的至少 3 类。"]
    assert len(excinfo.value.messages) == 2


@pytest.mark.django_db
def test_password_too_short_message_is_chinese(org):
    with pytest.raises(ValidationError) as excinfo:
        services.set_password(actor=org.sysadmin, user=org.staff_a, password="Ab1!")
    assert excinfo.value.messages == ["密码长度太短。密码必须包含至少 10 个字符。"]


@pytest.mark.django_db
def test_password_reset_applies_policy_and_new_password_works(org, client):
    services.set_password(actor=org.sysadmin, user=org.staff_a, password="Neu-Passw0rt-2024")
    assert login(client, "staff_a", TEST_PASSWORD).status_code == 200  # form again: refused
    response = login(client, "staff_a", "Neu-Passw0rt-2024")
    assert (response.status_code, response["Location"]) == (302, "/")
    entry = AuditLogEntry.objects.filter(action="update", object_id=str(org.staff_a.pk)).get()
    assert (entry.actor_name, entry.message, entry.before, entry.after) == (
        "sysadmin",
        "重置密码",
        None,
        None,
    )


@pytest.mark.django_db
def test_own_password_change_applies_policy(org, client):
    client.force_login(org.staff_a)
    response = client.post(
        "/password/",
        {
            "old_password": TEST_PASSWORD,
            "new_password1": "lowercaseonly",
            "new_password2": "lowercaseonly",
        },
    )
    assert response.status_code == 200
    assert response.context["form"].errors["new_password2"] == [
        "密码须包含大写字母、小写字母、数字和符号中的至少 3 类。"
    ]


# --- lockout --------------------------------------------------------------------------------


@pytest.mark.django_db
def test_lockout_after_failure_limit_even_with_right_password(org, client):
    assert settings.AXES_FAILURE_LIMIT == 5
    for _attempt in range(4):
        response = login(client, "officer_a", "wrong-password")
        assert response.status_code == 200
        assert LOCKED_TEXT not in response.content.decode()
    response = login(client, "officer_a", "wrong-password")
    assert response.status_code == 429
    assert LOCKED_TEXT in response.content.decode()
    response = login(client, "officer_a", TEST_PASSWORD)
    assert response.status_code == 429
    assert LOCKED_TEXT in response.content.decode()
    assert "_auth_user_id" not in client.session
    assert services.locked_usernames() == {"officer_a"}


@pytest.mark.django_db
def test_lockout_is_per_account_not_per_address(org, client):
    for _attempt in range(5):
        login(client, "officer_a", "wrong-password")
    # A colleague behind the same NAT address still signs in.
    response = login(client, "officer_b", TEST_PASSWORD)
    assert (response.status_code, response["Location"]) == (302, "/")


@pytest.mark.django_db
def test_sysadmin_unlocks_account(org, client):
    for _attempt in range(5):
        login(client, "officer_a", "wrong-password")
    assert services.locked_usernames() == {"officer_a"}
    assert services.unlock_account(actor=org.sysadmin, user=org.officer_a) == 1
    assert services.locked_usernames() == set()
    response = login(client, "officer_a", TEST_PASSWORD)
    assert (response.status_code, response["Location"]) == (302, "/")
    entry = AuditLogEntry.objects.filter(message__startswith="解除登录锁定").get()
    assert (entry.actor_name, entry.object_id) == ("sysadmin", str(org.officer_a.pk))


@pytest.mark.django_db
def test_only_sysadmin_unlocks(org):
    for actor in (org.secadmin, org.audit_admin, org.officer_a):
        with pytest.raises(PermissionDenied):
            services.unlock_account(actor=actor, user=org.staff_a)


# --- session timeout ------------------------------------------------------------------------


@pytest.mark.django_db
def test_idle_session_timeout_is_thirty_minutes_and_renewed(org, client):
    login(client, "officer_a", TEST_PASSWORD)
    response = client.get("/")
    assert response.status_code == 200
    session = response.wsgi_request.session
    assert session.get_expiry_age() == 1800
    assert session.get_expire_at_browser_close() is True
    # A request pushes a lagging expiry forward (IdleSessionMiddleware renews it once it has
    # fallen SESSION_RENEW_SECONDS behind): idle, not absolute.
    stored = Session.objects.get(session_key=session.session_key)
    Session.objects.filter(pk=stored.pk).update(
        expire_date=timezone.now() + datetime.timedelta(seconds=60)
    )
    client.get("/")
    renewed = Session.objects.get(session_key=session.session_key).expire_date
    assert renewed > timezone.now() + datetime.timedelta(seconds=1700)


@pytest.mark.django_db
def test_expired_session_redirects_to_login(org, client):
    login(client, "officer_a", TEST_PASSWORD)
    assert client.get("/orgs/units/").status_code == 200
    key = client.session.session_key
    Session.objects.filter(session_key=key).update(
        expire_date=timezone.now() - datetime.timedelta(seconds=1)
    )
    response = client.get("/orgs/units/")
    assert (response.status_code, response["Location"]) == (302, "/login/?next=/orgs/units/")


# --- login audit ----------------------------------------------------------------------------


@pytest.mark.django_db
def test_login_logout_and_failed_login_are_audited(org, client):
    # The org builder wrote entries of its own; count from here.
    start = AuditLogEntry.objects.order_by("-id").values_list("id", flat=True).first()
    login(client, "officer_a", "wrong-password")
    login(client, "officer_a", TEST_PASSWORD)
    client.post("/logout/")
    entries = list(
        AuditLogEntry.objects.filter(id__gt=start)
        .order_by("id")
        .values_list("action", "actor_name", "object_repr", "unit_id", "ip_address")
    )
    assert entries == [
        ("login_failed", "", "officer_a", None, "127.0.0.1"),
        ("login", "officer_a", "officer_a", org.unit_a.pk, "127.0.0.1"),
        ("logout", "officer_a", "officer_a", org.unit_a.pk, "127.0.0.1"),
    ]


@pytest.mark.django_db
def test_own_password_change_is_audited(client, org):
    from zhengban.core.models import AuditLogEntry
    from zhengban.orgs.testing import TEST_PASSWORD

    client.force_login(org.staff_a)
    response = client.post(
        "/password/",
        {
            "old_password": TEST_PASSWORD,
            "new_password1": "Xy-new-Passw0rd",
            "new_password2": "Xy-new-Passw0rd",
        },
    )
    assert response.status_code == 302
    entry = AuditLogEntry.objects.filter(actor_name="staff_a", message="修改本人密码").get()
    assert (entry.action, entry.object_id) == ("update", str(org.staff_a.pk))


@pytest.mark.django_db
def test_secadmin_cannot_revoke_own_role(org):
    from django.core.exceptions import PermissionDenied

    with pytest.raises(PermissionDenied):
        services.revoke_role(actor=org.secadmin, user=org.secadmin, role="secadmin")
    assert list(org.secadmin.role_grants.values_list("role", flat=True)) == ["secadmin"]
