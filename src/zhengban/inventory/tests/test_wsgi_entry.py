"""The lean WSGI entry for agents (zhengban.wsgi.AgentApplication): unchanged repeats (the
same body, or one whose volatile fields alone changed) answered without Django's request
cycle, everything else by Django exactly as before."""

import datetime
import io
import json
import sys
import zlib

import pytest
from django.core import signals
from django.db import close_old_connections
from django.test import override_settings
from django.utils import timezone

from zhengban.inventory import ingest, services
from zhengban.inventory.models import Device, EnrollmentToken, InventoryReport
from zhengban.inventory.testing import GLPI_EXAMPLES, XML_SAMPLES
from zhengban.wsgi import AgentApplication, django_application

SAMPLE = (XML_SAMPLES / "1.xml").read_bytes()
XML = zlib.compress(SAMPLE)
COMPRESSED = "application/x-compress"
DEVICEID = "LF014-2016-06-13-14-03-53"


class Entry:
    """The entry over the real Django application, counting the requests Django got."""

    def __init__(self) -> None:
        self.django_calls = 0
        self.app = AgentApplication(self._django)

    def _django(self, environ, start_response):
        self.django_calls += 1
        return django_application(environ, start_response)

    def __call__(self, path, body, content_type, method="POST", **extra):
        environ = {
            "REQUEST_METHOD": method,
            "PATH_INFO": path,
            "SCRIPT_NAME": "",
            "QUERY_STRING": "",
            "SERVER_NAME": "127.0.0.1",
            "SERVER_PORT": "80",
            "HTTP_HOST": "127.0.0.1",
            "CONTENT_TYPE": content_type,
            "CONTENT_LENGTH": str(len(body)),
            "REMOTE_ADDR": "127.0.0.1",
            "wsgi.input": io.BytesIO(body),
            "wsgi.url_scheme": "http",
            "wsgi.errors": sys.stderr,
            "wsgi.version": (1, 0),
            "wsgi.multithread": False,
            "wsgi.multiprocess": True,
            "wsgi.run_once": False,
            **extra,
        }
        started = []
        chunks = self.app(
            environ, lambda status, headers, exc=None: started.append((status, headers))
        )
        try:
            data = b"".join(chunks)
        finally:
            getattr(chunks, "close", lambda: None)()
        self.environ = environ
        status, headers = started[0]
        return int(status.split()[0]), dict(headers), data


@pytest.fixture
def entry():
    # As Django's test client does: the test's transaction must not be closed by the
    # request signals' connection housekeeping.
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    try:
        yield Entry()
    finally:
        signals.request_started.connect(close_old_connections)
        signals.request_finished.connect(close_old_connections)


@pytest.fixture
def token(org):
    _row, token = services.create_enrollment_token(actor=None, unit=org.unit_a)
    return token


@pytest.mark.django_db
def test_a_byte_identical_repeat_is_answered_without_django(entry, token):
    path = f"/ingest/{token}/"
    status, _headers, data = entry(path, XML, COMPRESSED)
    assert (status, entry.django_calls) == (200, 1)
    # The first inventory went to Django with what the entry learnt of it: the digest it
    # checked, the body inflated and read without its software entries.
    carried = entry.environ[ingest.CARRIED_KEY]
    assert carried.digest == services.payload_hash(XML, COMPRESSED)
    assert carried.payload == zlib.decompress(XML)
    assert carried.quick is not None and carried.quick[0].document.agent_device_id == DEVICEID
    assert zlib.decompress(data) == ingest.INVENTORY_REPLY
    device = Device.objects.get()

    status, headers, data = entry(path, XML, COMPRESSED)
    assert (status, entry.django_calls) == (200, 1)
    assert zlib.decompress(data) == ingest.INVENTORY_REPLY
    assert headers["Content-Type"] == COMPRESSED
    assert headers["Content-Length"] == str(len(data))
    # What SecurityMiddleware adds to Django's answers.
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert Device.objects.get().last_seen > device.last_seen
    assert Device.objects.count() == 1


@pytest.mark.django_db
def test_a_volatile_repeat_is_answered_without_django(entry, token):
    path = f"/ingest/{token}/"
    assert entry(path, XML, COMPRESSED)[0] == 200
    day_ago = timezone.now() - datetime.timedelta(days=1)
    Device.objects.update(first_seen=day_ago, last_seen=day_ago)
    # The agent's next run: the same machine, another free disk space.
    volatile = zlib.compress(SAMPLE.replace(b"<FREE>", b"<FREE>1", 1))
    status, headers, data = entry(path, volatile, COMPRESSED)
    assert (status, entry.django_calls) == (200, 1)
    assert zlib.decompress(data) == ingest.INVENTORY_REPLY
    assert headers["Content-Type"] == COMPRESSED
    assert headers["X-Content-Type-Options"] == "nosniff"
    device = Device.objects.get()
    assert device.last_seen > day_ago
    assert device.payload_hash == services.payload_hash(volatile, COMPRESSED)
    assert InventoryReport.objects.count() == 1
    # Another version of one program is a change: Django stores it.
    changed = zlib.compress(SAMPLE.replace(b">2.11.0-24.fc24<", b">2.11.1-1.fc24<"))
    assert entry(path, changed, COMPRESSED)[0] == 200
    assert (entry.django_calls, InventoryReport.objects.count()) == (2, 2)


@pytest.mark.django_db
def test_a_glpi_agents_volatile_repeat_is_answered_without_django(entry, token):
    doc = json.loads((GLPI_EXAMPLES / "computer_1.json").read_bytes())
    path = f"/ingest/{token}/"
    assert entry(path, json.dumps(doc).encode(), "application/json")[0] == 200
    carried = entry.environ[ingest.CARRIED_KEY]
    assert carried.json_doc == doc and carried.json_quick is not None
    doc["content"]["operatingsystem"]["boot_time"] = "2026-11-27 08:00:00"
    status, _headers, data = entry(path, json.dumps(doc).encode(), "application/json")
    assert (status, entry.django_calls) == (200, 1)
    assert data == b'{"status": "ok", "expiration": 24}'
    assert InventoryReport.objects.count() == 1


@pytest.mark.django_db
def test_a_json_repeat_gets_the_json_answer(entry, token):
    body = (GLPI_EXAMPLES / "computer_1.json").read_bytes()
    path = f"/ingest/{token}/"
    assert entry(path, body, "application/json")[0] == 200
    status, headers, data = entry(path, body, "application/json")
    assert (status, entry.django_calls) == (200, 1)
    assert data == b'{"status": "ok", "expiration": 24}'
    assert headers["Content-Type"] == "application/json"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("change", "status", "message"),
    [
        ({"revoked": True}, 403, "注册令牌已被撤销。"),
        ({"expires": -1}, 403, "注册令牌已过期。"),
        ({"hash": "other"}, 401, "缺少或无效的注册令牌。"),
    ],
)
def test_dead_tokens_are_refused_by_django(entry, token, change, status, message):
    path = f"/ingest/{token}/"
    assert entry(path, XML, COMPRESSED)[0] == 200
    row = EnrollmentToken.objects.get()
    if "revoked" in change:
        row.revoked = timezone.now()
    if "expires" in change:
        row.expires = timezone.now() - datetime.timedelta(seconds=1)
    if "hash" in change:
        row.token_hash = services.hash_token("other")
    row.save()
    answer = entry(path, XML, COMPRESSED)
    assert (answer[0], entry.django_calls) == (status, 2)
    assert answer[2].decode() == message


@pytest.mark.django_db
def test_what_is_not_a_lean_request_goes_to_django(entry, token):
    path = f"/ingest/{token}/"
    assert entry(path, XML, COMPRESSED)[0] == 200
    # Another method, another path, no body: Django, as before.
    assert entry(path, b"", COMPRESSED, method="GET")[0] == 405
    assert entry(f"/ingest/{token}/x/", XML, COMPRESSED)[0] == 404
    assert entry("/ingest/", b"", COMPRESSED)[0] == 401
    assert entry.django_calls == 4
    with override_settings(ZHENGBAN={"INVENTORY_MAX_BODY_BYTES": 100}):
        status, _headers, data = entry(path, XML, COMPRESSED)
    assert (status, entry.django_calls) == (413, 5)
    assert data.decode() == "请求体过大。"


@pytest.mark.django_db(transaction=True)
def test_gunicorn_workers_build_the_recogniser_when_they_load(monkeypatch):
    from zhengban.catalog import services as catalog_services
    from zhengban.wsgi import warm_up

    monkeypatch.setattr(catalog_services, "_cache", {"revision": None, "shared": None, "units": {}})
    monkeypatch.delenv("SERVER_SOFTWARE", raising=False)
    warm_up()  # runserver, tests, management commands: nothing built ahead
    assert catalog_services._cache["shared"] is None
    monkeypatch.setenv("SERVER_SOFTWARE", "gunicorn/23.0.0")
    warm_up()
    shared = catalog_services._cache["shared"]
    assert shared is not None
    assert shared.recognise("WPS Office", "Kingsoft", "11.1.0", "linux").product is not None
    # The first inventory's lookup finds it built (same catalog revision).
    assert catalog_services.get_recogniser() is shared
