"""What a gunicorn worker does when it loads the application, before any agent waits."""

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
