"""What every page costs besides its own content: the session's idle timeout without a
write per request, the unread-notification badge and the menu, each cached with exact
invalidation."""

from __future__ import annotations

import datetime

import pytest
from django.conf import settings
from django.contrib.sessions.models import Session
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from zhengban.core import notifications
from zhengban.core.sessions import renewal_due
from zhengban.orgs import services as org_services
from zhengban.orgs.choices import Role
from zhengban.orgs.testing import TEST_PASSWORD

HOME = "/"


def sign_in(client, username: str) -> str:
    response = client.post("/login/", {"username": username, "password": TEST_PASSWORD})
    assert response.status_code == 302
    return client.cookies[settings.SESSION_COOKIE_NAME].value


def stored_expiry(key: str) -> datetime.datetime:
    return Session.objects.get(session_key=key).expire_date


def set_expiry(key: str, seconds_from_now: float) -> datetime.datetime:
    when = timezone.now() + datetime.timedelta(seconds=seconds_from_now)
    Session.objects.filter(session_key=key).update(expire_date=when)
    return when


def session_writes(client, url: str) -> list[str]:
    with CaptureQueriesContext(connection) as ctx:
        assert client.get(url).status_code == 200
    return [q["sql"] for q in ctx.captured_queries if q["sql"].startswith("UPDATE")]


# --- idle timeout ----------------------------------------------------------------------------


@pytest.mark.django_db
def test_settings_keep_a_thirty_minute_idle_timeout_renewed_at_most_once_a_minute():
    assert settings.SESSION_COOKIE_AGE == 1800
    assert settings.SESSION_RENEW_SECONDS == 60
    assert settings.SESSION_SAVE_EVERY_REQUEST is False
    assert settings.SESSION_ENGINE == "zhengban.core.sessions"


@pytest.mark.django_db
def test_pages_within_a_minute_of_the_last_write_do_not_write_the_session(org, client):
    key = sign_in(client, "officer_a")
    # A minute's slack less a little: the stored expiry is "fresh enough".
    fresh = set_expiry(key, 1800 - 50)
    assert session_writes(client, HOME) == []
    assert session_writes(client, HOME) == []
    assert stored_expiry(key) == fresh


@pytest.mark.django_db
def test_a_page_renews_the_session_once_it_is_a_minute_behind(org, client):
    key = sign_in(client, "officer_a")
    set_expiry(key, 1800 - 70)
    writes = session_writes(client, HOME)
    assert len(writes) == 1 and '"django_session"' in writes[0]
    renewed = stored_expiry(key)
    assert timezone.now() + datetime.timedelta(seconds=1790) < renewed
    assert renewed <= timezone.now() + datetime.timedelta(seconds=1800)
    # Renewed: the next page writes nothing.
    assert session_writes(client, HOME) == []


@pytest.mark.django_db
def test_idle_session_still_ends_after_the_timeout(org, client):
    key = sign_in(client, "officer_a")
    assert client.get(HOME).status_code == 200
    # Whatever the last write, the session never outlives activity by more than the timeout:
    # the stored expiry is at most 30 minutes and at least 29 minutes ahead of the last page.
    expiry = stored_expiry(key)
    now = timezone.now()
    assert now + datetime.timedelta(seconds=1800 - 60) <= expiry
    assert expiry <= now + datetime.timedelta(seconds=1800)
    # 30 idle minutes later (the stored expiry has passed): signed out.
    set_expiry(key, -1)
    response = client.get("/orgs/units/")
    assert (response.status_code, response["Location"]) == (302, "/login/?next=/orgs/units/")


@pytest.mark.django_db
def test_renewal_due_only_past_the_slack(org, client):
    key = sign_in(client, "officer_a")
    from zhengban.core.sessions import SessionStore

    now = timezone.now()
    set_expiry(key, 1800 - 59)
    session = SessionStore(key)
    session.load()
    assert renewal_due(session, now) is False
    set_expiry(key, 1800 - 61)
    session = SessionStore(key)
    session.load()
    assert renewal_due(session, now) is True
    # An unknown key: nothing stored, nothing to renew.
    session = SessionStore("x" * 32)
    session.load()
    assert renewal_due(session, now) is False


@pytest.mark.django_db
def test_logout_still_ends_the_session(org, client):
    key = sign_in(client, "officer_a")
    assert client.get(HOME).status_code == 200
    client.post(reverse("logout"))
    assert not Session.objects.filter(session_key=key).exists()
    assert client.get("/orgs/units/").status_code == 302


# --- unread-notification badge ---------------------------------------------------------------


@pytest.fixture
def badge_cache(settings):
    settings.NOTIFICATION_COUNT_CACHE_SECONDS = 60
    cache.clear()
    yield
    cache.clear()


def badge(client) -> int:
    response = client.get(HOME)
    assert response.status_code == 200
    return response.context["unread_notifications"]


def count_queries(client) -> int:
    with CaptureQueriesContext(connection) as ctx:
        client.get(HOME)
    return sum('"core_notification"' in q["sql"] for q in ctx.captured_queries)


@pytest.mark.django_db
def test_badge_follows_delivery_and_reading(org, client, badge_cache):
    sign_in(client, "officer_a")
    assert badge(client) == 0
    # Counted once, then reused.
    assert count_queries(client) == 0
    notifications.notify(users=[org.officer_a], subject="一")
    assert badge(client) == 1
    notifications.notify(users=[org.officer_a, org.head_a], subject="二")
    assert badge(client) == 2
    assert count_queries(client) == 0
    # Opening the list reads them all.
    assert client.get(reverse("core:notifications")).status_code == 200
    assert badge(client) == 0
    assert b'class="badge"' not in client.get(HOME).content


@pytest.mark.django_db
def test_badge_of_one_person_is_not_anothers(org, client, badge_cache):
    notifications.notify(users=[org.head_a], subject="给负责人")
    sign_in(client, "officer_a")
    assert badge(client) == 0
    client.post(reverse("logout"))
    sign_in(client, "head_a")
    assert badge(client) == 1


@pytest.mark.django_db
def test_mark_all_read_returns_the_number_read(org, badge_cache):
    notifications.notify(users=[org.officer_a], subject="一")
    notifications.notify(users=[org.officer_a], subject="二")
    assert notifications.unread_count(org.officer_a) == 2
    assert notifications.mark_all_read(user=org.officer_a) == 2
    assert notifications.unread_count(org.officer_a) == 0
    assert notifications.mark_all_read(user=org.officer_a) == 0


# --- menu ------------------------------------------------------------------------------------


def menu_names(client) -> list[str]:
    response = client.get(HOME)
    assert response.status_code == 200
    return [item.url_name for group in response.context["nav_menu"] for item in group["items"]]


@pytest.mark.django_db
def test_cached_menu_follows_role_changes(org, client, settings):
    settings.MENU_CACHE_SECONDS = 300
    cache.clear()
    sign_in(client, "officer_a")
    before = menu_names(client)
    assert "inventory:token_list" in before
    assert menu_names(client) == before  # from the cache
    org_services.revoke_role(actor=org.secadmin, user=org.officer_a, role=Role.SAM_OFFICER)
    after = menu_names(client)
    assert "inventory:token_list" not in after
    assert "governance:spec_list" not in after
    org_services.grant_role(actor=org.secadmin, user=org.officer_a, role=Role.SAM_OFFICER)
    assert menu_names(client) == before


@pytest.mark.django_db
def test_menu_and_badge_are_worked_out_once_per_request(org, client, settings):
    settings.MENU_CACHE_SECONDS = 0
    settings.NOTIFICATION_COUNT_CACHE_SECONDS = 0
    sign_in(client, "officer_a")
    # The unit list renders a table too ({% render_table %} runs the context processors
    # again): one count of unread notifications all the same.
    client.get("/orgs/units/")
    with CaptureQueriesContext(connection) as ctx:
        assert client.get("/orgs/units/").status_code == 200
    counts = [q for q in ctx.captured_queries if '"core_notification"' in q["sql"]]
    assert len(counts) == 1
