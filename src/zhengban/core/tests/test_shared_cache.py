"""CACHE_URL=redis://…: several web workers share one cache, so what one worker forgets (the
unread badge after deliver()) or computes (menu, home panels) holds for the others.

Each worker has its own cache client; the tests switch Django's default cache between two
clients the way two processes would each hold one. Runs against the real Redis at
TEST_REDIS_URL (default redis://127.0.0.1:6379/15), under a key prefix of its own."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import redis
from django.core.cache import caches
from django.core.cache.backends.base import BaseCache
from django.core.cache.backends.locmem import LocMemCache
from django.core.cache.backends.redis import RedisCache
from django.urls import reverse

from zhengban.core.notifications import Note, deliver, mark_all_read, unread_count
from zhengban.settings import cache_from_url

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


def _redis_unreachable() -> str:
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
    except redis.RedisError as exc:
        return f"Redis at {REDIS_URL} unreachable ({exc}); set TEST_REDIS_URL or start Redis"
    return ""


_UNREACHABLE = _redis_unreachable()
needs_redis = pytest.mark.skipif(bool(_UNREACHABLE), reason=_UNREACHABLE)


@contextmanager
def in_worker(client: BaseCache) -> Iterator[None]:
    """Runs the block as a worker whose default cache is `client`."""
    before = caches["default"]
    caches["default"] = client
    try:
        yield
    finally:
        caches["default"] = before


@pytest.fixture
def redis_workers(settings) -> Iterator[tuple[BaseCache, BaseCache]]:
    prefix = f"zbtest-{uuid.uuid4().hex}"
    config = cache_from_url(REDIS_URL)
    settings.CACHES = {"default": {**config, "KEY_PREFIX": prefix}}
    settings.NOTIFICATION_COUNT_CACHE_SECONDS = 60
    settings.MENU_CACHE_SECONDS = 300
    settings.HOME_CACHE_SECONDS = 300
    # Two clients, each with its own connection pool: what two processes would have.
    workers = (
        RedisCache(config["LOCATION"], {"KEY_PREFIX": prefix}),
        RedisCache(config["LOCATION"], {"KEY_PREFIX": prefix}),
    )
    yield workers
    # Only this test's keys: cache.clear() would empty the whole Redis database.
    server = redis.Redis.from_url(REDIS_URL)
    keys = list(server.scan_iter(f"{prefix}:*"))
    if keys:
        server.delete(*keys)


def test_cache_url_redis_is_a_working_cache():
    if _UNREACHABLE:
        pytest.skip(_UNREACHABLE)
    config = cache_from_url(REDIS_URL)
    assert config["BACKEND"] == "django.core.cache.backends.redis.RedisCache"
    prefix = f"zbtest-{uuid.uuid4().hex}"
    writer = RedisCache(config["LOCATION"], {"KEY_PREFIX": prefix})
    reader = RedisCache(config["LOCATION"], {"KEY_PREFIX": prefix})
    writer.set("figure", {"devices": 3}, 30)
    assert reader.get("figure") == {"devices": 3}
    reader.delete("figure")
    assert writer.get("figure") is None


@needs_redis
@pytest.mark.django_db
def test_badge_cleared_in_one_worker_is_cleared_for_the_others(client, org, redis_workers):
    worker_a, worker_b = redis_workers
    person = org.officer_a
    with in_worker(worker_b):
        assert unread_count(person) == 0  # kept for 60 s in the shared cache
    with in_worker(worker_a):
        deliver([Note(recipient=person, subject="有新的待办")])
    with in_worker(worker_b):
        assert unread_count(person) == 1
        client.force_login(person)
        page = client.get(reverse("core:home")).content.decode()
        assert '<span class="badge">1</span>' in page
    with in_worker(worker_a):
        assert mark_all_read(user=person) == 1
    with in_worker(worker_b):
        assert unread_count(person) == 0
        page = client.get(reverse("core:home")).content.decode()
        assert 'class="badge"' not in page


@pytest.mark.django_db
def test_with_a_memory_cache_per_worker_the_other_badge_stays_stale(org, settings):
    # Why a province deployment sets CACHE_URL: each worker's own memory keeps its count.
    settings.NOTIFICATION_COUNT_CACHE_SECONDS = 60
    worker_a = LocMemCache("worker-a", {})
    worker_b = LocMemCache("worker-b", {})
    person = org.officer_a
    with in_worker(worker_b):
        assert unread_count(person) == 0
    with in_worker(worker_a):
        deliver([Note(recipient=person, subject="有新的待办")])
        assert unread_count(person) == 1
    with in_worker(worker_b):
        assert unread_count(person) == 0
    worker_a.clear()
    worker_b.clear()


@needs_redis
@pytest.mark.django_db
def test_home_panels_computed_by_one_worker_serve_the_others(client, org, redis_workers):
    worker_a, worker_b = redis_workers
    client.force_login(org.supervisor_province)
    with in_worker(worker_a):
        first = client.get(reverse("core:home"))
    with in_worker(worker_b):
        second = client.get(reverse("core:home"))
    assert first.status_code == second.status_code == 200
    computed = [(p.title, p.figures, p.computed_at) for p in first.context["panels"]]
    assert [p.computed_at for p in first.context["panels"] if p.computed_at is not None]
    # The second worker computed nothing: same figures, same computation time.
    assert [(p.title, p.figures, p.computed_at) for p in second.context["panels"]] == computed
    # The menu too was worked out once, by the first worker, and found by the second.
    menus = list(redis.Redis.from_url(REDIS_URL).scan_iter(f"{worker_b.key_prefix}:1:menu:*"))
    assert len(menus) == 1
    assert second.context["nav_menu"] == first.context["nav_menu"]
