"""What a gunicorn worker does when it loads the application, before any agent waits."""

import gc

import pytest
from django.urls import clear_url_caches, get_resolver


@pytest.mark.django_db(transaction=True)
def test_gunicorn_workers_load_the_urlconf_when_they_load(monkeypatch):
    from zhengban.catalog import services as catalog_services
    from zhengban.wsgi import warm_up

    monkeypatch.setattr(catalog_services, "_cache", {"revision": None, "shared": None, "units": {}})
    clear_url_caches()
    monkeypatch.delenv("SERVER_SOFTWARE", raising=False)
    warm_up()  # runserver, tests, management commands: loaded on the first request
    assert "url_patterns" not in vars(get_resolver())
    monkeypatch.setenv("SERVER_SOFTWARE", "gunicorn/23.0.0")
    warm_up()
    # The URLconf (and with it every app's views) is imported, and the agents' URL resolves
    # without importing anything more.
    assert "url_patterns" in vars(get_resolver())
    assert get_resolver().resolve("/ingest/abc/").url_name == "ingest"


@pytest.mark.django_db(transaction=True)
def test_gunicorn_workers_freeze_what_they_loaded(monkeypatch):
    from zhengban.catalog import services as catalog_services
    from zhengban.wsgi import warm_up

    monkeypatch.setattr(catalog_services, "_cache", {"revision": None, "shared": None, "units": {}})
    gc.unfreeze()
    monkeypatch.delenv("SERVER_SOFTWARE", raising=False)
    warm_up()
    assert gc.get_freeze_count() == 0
    monkeypatch.setenv("SERVER_SOFTWARE", "gunicorn/23.0.0")
    try:
        warm_up()
        # The recogniser just built is out of the collector's generations.
        shared = catalog_services._cache["shared"]
        assert gc.is_tracked(shared)
        assert not any(obj is shared for obj in gc.get_objects())
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
