import io
import json

import pytest
from django.core.management import CommandError, call_command
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from zhengban.core.models import AuditLogEntry
from zhengban.orgs import services


def run_token(*args: str) -> str:
    out = io.StringIO()
    call_command("token", *args, stdout=out)
    return out.getvalue().strip()


def token_client(key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


@pytest.mark.django_db
def test_token_create_prints_a_working_token(org):
    key = run_token("create", "--user", "officer_a")
    assert key == Token.objects.get(user=org.officer_a).key
    assert len(key) == 40
    response = token_client(key).get("/api/v1/units/")
    assert response.status_code == 200
    assert sorted(u["name"] for u in response.json()["results"]) == [
        "历下区财政局",
        "历下区财政局国库支付中心",
    ]
    entry = AuditLogEntry.objects.filter(object_type="authtoken.token").get()
    assert (entry.action, entry.object_repr, entry.message) == (
        "create",
        "API令牌 · officer_a",
        "签发API令牌",
    )
    # The key itself never reaches the log.
    assert key not in json.dumps([entry.before, entry.after, entry.message])


@pytest.mark.django_db
def test_token_create_twice_needs_rotate_and_rotation_kills_the_old_key(org):
    old = run_token("create", "--user", "officer_a")
    with pytest.raises(CommandError, match="该账号已有令牌；如需更换请使用 --rotate。"):
        run_token("create", "--user", "officer_a")
    assert Token.objects.get(user=org.officer_a).key == old
    new = run_token("create", "--user", "officer_a", "--rotate")
    assert new != old
    assert token_client(old).get("/api/v1/units/").status_code == 401
    assert token_client(new).get("/api/v1/units/").status_code == 200


@pytest.mark.django_db
def test_token_revoke(org):
    key = run_token("create", "--user", "officer_a")
    assert run_token("revoke", "--user", "officer_a") == "已撤销 officer_a 的API令牌。"
    assert Token.objects.filter(user=org.officer_a).count() == 0
    assert token_client(key).get("/api/v1/units/").status_code == 401
    with pytest.raises(CommandError, match="该账号没有API令牌。"):
        run_token("revoke", "--user", "officer_a")


@pytest.mark.django_db
def test_token_for_unknown_user_is_a_clear_error_with_nonzero_exit(org):
    with pytest.raises(CommandError, match="没有用户名为 'ghost' 的账号。") as excinfo:
        run_token("create", "--user", "ghost")
    assert excinfo.value.returncode == 1
    assert Token.objects.count() == 0


@pytest.mark.django_db
def test_inactive_users_token_is_refused(org):
    key = run_token("create", "--user", "officer_a")
    services.deactivate_account(actor=org.sysadmin, user=org.officer_a)
    response = token_client(key).get("/api/v1/units/")
    assert response.status_code == 401
    assert Token.objects.filter(key=key).exists()


@pytest.mark.django_db
def test_api_refuses_anonymous_and_bad_tokens(org):
    assert APIClient().get("/api/v1/units/").status_code == 401
    assert token_client("0" * 40).get("/api/v1/units/").status_code == 401


@pytest.mark.django_db
def test_openapi_document(org):
    client = APIClient()
    client.force_authenticate(org.officer_a)
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    doc = json.loads(response.content)
    assert doc["openapi"].startswith("3.")
    assert doc["info"]["title"] == "zhengban API"
    for path in [
        "/api/v1/regions/",
        "/api/v1/regions/{id}/",
        "/api/v1/units/",
        "/api/v1/units/{id}/",
        "/api/v1/people/",
        "/api/v1/people/{id}/",
    ]:
        assert path in doc["paths"], path
    assert "tokenAuth" in doc["components"]["securitySchemes"]
