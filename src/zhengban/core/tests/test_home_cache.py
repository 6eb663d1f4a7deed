"""Home-page figures cached per scope, and the cache configuration."""

from __future__ import annotations

import datetime

import pytest
from django.core.cache import cache
from django.urls import reverse

from zhengban.core import home
from zhengban.inventory.home import devices_panel
from zhengban.inventory.models import Device
from zhengban.inventory.testing import make_device
from zhengban.settings import cache_from_url

NOW = datetime.datetime(2026, 11, 1, 8, 0, tzinfo=datetime.UTC)


def add_device(unit, hostname: str) -> Device:
    return make_device(unit, hostname, seen=NOW)


def device_total(client) -> int:
    response = client.get(reverse("core:home"))
    assert response.status_code == 200
    panel = next(p for p in response.context["panels"] if p.title == "终端")
    return panel.figures[0][1]


@pytest.fixture
def cached(settings):
    settings.HOME_CACHE_SECONDS = 300
    cache.clear()
    yield
    cache.clear()


@pytest.mark.django_db
def test_scope_panels_are_reused_within_the_cache_time(client, org, cached):
    add_device(org.unit_a, "pc-a1")
    add_device(org.unit_b, "pc-b1")
    client.force_login(org.supervisor_province)
    assert device_total(client) == 2
    add_device(org.unit_a, "pc-a2")
    page = client.get(reverse("core:home"))
    # Stale by design, and the page says since when.
    assert next(p for p in page.context["panels"] if p.title == "终端").figures[0][1] == 2
    assert 'data-testid="computed-at"' in page.content.decode()
    assert "数据更新于" in page.content.decode()

    # Another scope gets its own figures, never the province's.
    client.force_login(org.officer_a)
    assert device_total(client) == 2
    client.force_login(org.officer_b)
    assert device_total(client) == 1

    cache.clear()
    client.force_login(org.supervisor_province)
    assert device_total(client) == 3


@pytest.mark.django_db
def test_people_of_one_scope_but_other_roles_do_not_share_a_panel(org, cached):
    # Same unit, same scope, other roles: the key differs, so a panel one role may not see
    # never reaches the other through the cache.
    assert home.scope_cache_key(devices_panel, org.officer_a) != home.scope_cache_key(
        devices_panel, org.staff_a
    )
    assert home.scope_cache_key(devices_panel, org.officer_a) == home.scope_cache_key(
        devices_panel, org.officer_a
    )
    assert home.scope_cache_key(devices_panel, org.supervisor_province) != (
        home.scope_cache_key(devices_panel, org.supervisor_a)
    )


@pytest.mark.django_db
def test_two_staff_members_of_one_unit_never_share_their_device_count(client, org, cached):
    from zhengban.orgs.choices import Role
    from zhengban.orgs.testing import make_person

    colleague = make_person("colleague_a", org.unit_a, Role.STAFF)
    make_device(org.unit_a, "pc-own", seen=NOW, assigned_user=org.staff_a)
    for hostname in ("pc-c1", "pc-c2"):
        make_device(org.unit_a, hostname, seen=NOW, assigned_user=colleague)
    # Same unit, same roles: only the person in the scope tells their panels apart.
    assert home.scope_cache_key(devices_panel, org.staff_a) != home.scope_cache_key(
        devices_panel, colleague
    )
    client.force_login(org.staff_a)
    assert device_total(client) == 1
    client.force_login(colleague)
    assert device_total(client) == 2
    client.force_login(org.officer_a)
    assert device_total(client) == 3


@pytest.mark.django_db
def test_without_cache_time_figures_follow_the_data(client, org, settings):
    settings.HOME_CACHE_SECONDS = 0
    cache.clear()
    add_device(org.unit_a, "pc-a1")
    client.force_login(org.officer_a)
    assert device_total(client) == 1
    add_device(org.unit_a, "pc-a2")
    page = client.get(reverse("core:home"))
    assert next(p for p in page.context["panels"] if p.title == "终端").figures[0][1] == 2
    assert "数据更新于" not in page.content.decode()


@pytest.mark.django_db
def test_a_scope_figure_in_a_per_person_panel_is_reused_and_dated(org, cached):
    computed = []

    def open_count(value: int):
        def compute() -> int:
            computed.append(value)
            return value

        return compute

    first = home.Panel(title="软件使用")
    assert home.scope_figure(first, org.officer_a, "test.open", open_count(5)) == 5
    assert first.computed_at is not None
    again = home.Panel(title="软件使用")
    # Reused, stale by design, with the time it was computed.
    assert home.scope_figure(again, org.officer_a, "test.open", open_count(6)) == 5
    assert again.computed_at == first.computed_at
    # Another figure, another scope: each its own.
    assert home.scope_figure(again, org.officer_a, "test.other", open_count(7)) == 7
    assert home.scope_figure(home.Panel(title="x"), org.officer_b, "test.open", open_count(8)) == 8
    assert computed == [5, 7, 8]


@pytest.mark.django_db
def test_without_cache_time_a_scope_figure_follows_the_data(org, settings):
    settings.HOME_CACHE_SECONDS = 0
    panel = home.Panel(title="软件使用")
    assert home.scope_figure(panel, org.officer_a, "test.open", lambda: 5) == 5
    assert home.scope_figure(panel, org.officer_a, "test.open", lambda: 6) == 6
    assert panel.computed_at is None


def test_cache_url_schemes():
    assert cache_from_url("locmem://") == {
        "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
        "LOCATION": "",
    }
    # CACHE_URL= (set but empty, as env files often leave it) is the default.
    assert cache_from_url("") == cache_from_url("locmem://")
    assert cache_from_url("db://") == {
        "BACKEND": "django.core.cache.backends.db.DatabaseCache",
        "LOCATION": "zhengban_cache",
    }
    assert cache_from_url("redis://127.0.0.1:6379/1") == {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": "redis://127.0.0.1:6379/1",
    }
    assert cache_from_url("dummy://") == {"BACKEND": "django.core.cache.backends.dummy.DummyCache"}
    with pytest.raises(ValueError, match="memcache"):
        cache_from_url("memcache://x")


def test_register_refuses_unknown_cache_modes():
    with pytest.raises(ValueError, match="forever"):
        home.register(lambda user: None, cache="forever")
