"""Unchanged repeats whose body differs only in volatile fields (free disk space, the
processes list, log dates): recognised from the facts and the raw software section's digest,
without parsing the software entries; anything that matters still goes the full way."""

from __future__ import annotations

import copy
import dataclasses
import datetime
import hashlib
import json
import re
import zlib

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from zhengban.inventory import parsers, services
from zhengban.inventory.models import (
    Device,
    EnrollmentToken,
    Installation,
    InstallationEvent,
    InventoryReport,
)
from zhengban.inventory.testing import GLPI_EXAMPLES, XML_SAMPLES, other_connection

pytestmark = pytest.mark.django_db

SAMPLE = (XML_SAMPLES / "1.xml").read_bytes()  # FusionInventory, 42 SOFTWARES entries


def _volatile(xml: bytes) -> bytes:
    changed = re.sub(rb"<FREE>(\d+)</FREE>", lambda m: b"<FREE>%d</FREE>" % (int(m[1]) + 1), xml)
    assert changed != xml
    return changed


def _post(client, token: str, xml: bytes) -> int:
    url = reverse("inventory:ingest", args=[token])
    response = client.generic(
        "POST", url, zlib.compress(xml), content_type="application/x-compress-zlib"
    )
    assert b"no_account_update" in zlib.decompress(response.content)
    return response.status_code


@pytest.fixture
def token(org) -> str:
    return services.create_enrollment_token(actor=None, unit=org.unit_a)[1]


def test_quick_parse_has_every_fact_but_the_software_and_the_same_digest():
    full = parsers.parse_xml(SAMPLE)
    quick = parsers.parse_xml_quick(SAMPLE)
    assert quick is not None
    head, digest = quick
    assert full.document is not None and head.document is not None
    assert len(full.document.software or []) == 42
    assert digest == full.document.software_digest != ""
    assert head.document.software == []
    expected = dataclasses.replace(full.document, software=[], software_digest="")
    assert head.document == expected
    # Volatile fields change neither the facts nor the digest.
    again = parsers.parse_xml_quick(_volatile(SAMPLE))
    assert again is not None and again[1] == digest
    assert again[0].document.quick_key(digest) == full.document.quick_key()


def test_section_that_cannot_be_trusted_gets_no_digest():
    # Another section between two SOFTWARES entries: the bytes do not delimit software only.
    first = SAMPLE.index(b"<SOFTWARES>")
    interleaved = SAMPLE[:first] + SAMPLE[first:].replace(
        b"</SOFTWARES>", b"</SOFTWARES><SOUNDS><NAME>x</NAME></SOUNDS>", 1
    )
    doc = parsers.parse_xml(interleaved).document
    assert doc is not None and len(doc.software or []) == 42 and doc.software_digest == ""
    # The whole section inside a comment is no software at all.
    last = SAMPLE.rindex(b"</SOFTWARES>") + len(b"</SOFTWARES>")
    commented = SAMPLE[:first] + b"<!--" + SAMPLE[first:last] + b"-->" + SAMPLE[last:]
    assert parsers.parse_xml(commented).document.software == []
    assert parsers.parse_xml_quick(commented) is None
    assert parsers.parse_xml_quick(b"<REQUEST><QUERY>PROLOG</QUERY></REQUEST>") is None


def test_volatile_repeat_only_moves_last_seen(client, token):
    assert _post(client, token, SAMPLE) == 200
    device = Device.objects.get()
    assert device.quick_key == parsers.parse_xml(SAMPLE).document.quick_key()
    day_ago = timezone.now() - datetime.timedelta(days=1)
    Device.objects.update(first_seen=day_ago, last_seen=day_ago)
    volatile = _volatile(SAMPLE)
    assert _post(client, token, volatile) == 200
    device.refresh_from_db()
    assert InventoryReport.objects.count() == 1
    assert InstallationEvent.objects.count() == 0
    assert timezone.now() - device.last_seen < datetime.timedelta(minutes=5)
    # The body is remembered: sent once more it is a byte-identical repeat.
    assert device.payload_hash == services.payload_hash(
        zlib.compress(volatile), "application/x-compress-zlib"
    )
    assert Installation.objects.filter(device=device).count() == 42 + 1


def test_changes_outside_or_inside_the_software_go_the_full_way(client, token):
    assert _post(client, token, SAMPLE) == 200
    device = Device.objects.get()
    renamed = re.sub(
        rb"(<HARDWARE>.*?<NAME>)[^<]*(</NAME>)", rb"\g<1>RENAMED\g<2>", SAMPLE, count=1, flags=re.S
    )
    assert _post(client, token, _volatile(renamed)) == 200
    device.refresh_from_db()
    assert device.hostname == "RENAMED"
    assert InventoryReport.objects.count() == 2
    assert InstallationEvent.objects.count() == 0
    match = re.search(rb"<SOFTWARES>.*?<VERSION>([^<]*)</VERSION>", renamed, re.S)
    assert match is not None
    upgraded = renamed[: match.start(1)] + match[1] + b".1" + renamed[match.end(1) :]
    assert _post(client, token, upgraded) == 200
    events = list(InstallationEvent.objects.values_list("event_type", "old_version", "new_version"))
    old = match[1].decode()
    assert events == [("version_changed", old, old + ".1")]
    assert InventoryReport.objects.count() == 3


def test_a_volatile_repeat_costs_two_statements(client, token):
    assert _post(client, token, SAMPLE) == 200
    with CaptureQueriesContext(connection) as queries:
        assert _post(client, token, _volatile(SAMPLE)) == 200
    statements = [q["sql"].split()[0] for q in queries.captured_queries]
    if connection.vendor == "postgresql":
        # The byte-identical check, then the agent's device by its id and quick key.
        assert statements == ["WITH", "WITH"]
    else:
        # The token, the devices holding the body's digest, the token again, the agent's
        # device: no candidates ranked, the token's use recorded by the first inventory.
        assert statements == ["SELECT", "UPDATE", "SELECT", "UPDATE"]
    assert InventoryReport.objects.count() == 1
    # Under a dead token, nothing is read of the body: the view refuses the token.
    token_row = EnrollmentToken.objects.get()
    services.revoke_enrollment_token(actor=None, token=token_row)
    url = reverse("inventory:ingest", args=[token])
    with CaptureQueriesContext(connection) as queries:
        response = client.generic(
            "POST",
            url,
            zlib.compress(_volatile(_volatile(SAMPLE))),
            content_type="application/x-compress-zlib",
        )
    assert (response.status_code, response.content.decode()) == (403, "注册令牌已被撤销。")
    statements = [q["sql"].split()[0] for q in queries.captured_queries]
    assert statements == ["WITH" if connection.vendor == "postgresql" else "SELECT", "SELECT"]


def test_a_clone_without_the_agent_id_is_still_found_by_ranking(client, token):
    # Machine B runs a copy of machine A's disk image: the same agent id, its own UUID and
    # serial. B's device is stored without the agent id, which A's device holds.
    machine_b = SAMPLE.replace(b"0055ADC9-1D3A-E411-8043-B05D95113232", b"B-UUID").replace(
        b"<SSN>9E113232I</SSN>", b"<SSN>B-SERIAL</SSN>"
    )
    assert _post(client, token, SAMPLE) == 200
    assert _post(client, token, machine_b) == 200
    a, b = Device.objects.order_by("pk")
    assert (a.agent_device_id, b.agent_device_id) == ("LF014-2016-06-13-14-03-53", "")
    day_ago = timezone.now() - datetime.timedelta(days=1)
    Device.objects.update(first_seen=day_ago, last_seen=day_ago)
    # B's next run: A's device holds the agent id under another key, so the one-statement
    # check finds nothing; ranking then finds B by its UUID and serial, unchanged.
    assert _post(client, token, _volatile(machine_b)) == 200
    a.refresh_from_db()
    b.refresh_from_db()
    assert a.last_seen == day_ago
    assert timezone.now() - b.last_seen < datetime.timedelta(minutes=5)
    assert InventoryReport.objects.count() == 2


def _head(xml: bytes):
    quick = parsers.parse_xml_quick(xml)
    assert quick is not None and quick[0].document is not None
    return quick[0].document, quick[1]


def test_the_agent_shortcut_touches_only_the_agents_unchanged_device(org, token):
    first = services.ingest_xml(unit=org.unit_a, payload=SAMPLE).document
    device = Device.objects.get()
    day_ago = timezone.now() - datetime.timedelta(days=1)
    Device.objects.update(first_seen=day_ago, last_seen=day_ago)
    head, software_digest = _head(_volatile(SAMPLE))
    assert head.agent_device_id == first.agent_device_id == "LF014-2016-06-13-14-03-53"

    def touch(tok: str = token, doc=head, digest: str = software_digest) -> bool:
        return services.touch_unchanged_agent_for_token(
            token=tok, document=doc, software_digest=digest, digest="body-digest"
        )

    # Another software section, another agent id, no agent id, another unit's or a dead
    # token: nothing is touched.
    assert touch(digest="0" * 64) is False
    assert touch(doc=dataclasses.replace(head, agent_device_id="other")) is False
    assert touch(doc=dataclasses.replace(head, agent_device_id="")) is False
    other_unit = services.create_enrollment_token(actor=None, unit=org.unit_b)[1]
    assert touch(tok=other_unit) is False
    assert touch(tok="x" + token) is False
    # A clone holding the same facts under no agent id is not the agent's device.
    Device.objects.update(agent_device_id="")
    assert touch() is False
    device.refresh_from_db()
    assert (device.last_seen, device.payload_hash) == (day_ago, "")
    Device.objects.update(agent_device_id=head.agent_device_id)
    token_row = EnrollmentToken.objects.get(unit=org.unit_a)
    EnrollmentToken.objects.filter(pk=token_row.pk).update(last_used=None)
    assert touch() is True
    device.refresh_from_db()
    assert device.payload_hash == "body-digest"
    assert timezone.now() - device.last_seen < datetime.timedelta(minutes=5)
    token_row.refresh_from_db()
    assert token_row.last_used is not None
    services.revoke_enrollment_token(actor=None, token=token_row)
    seen = device.last_seen
    assert touch() is False
    device.refresh_from_db()
    assert device.last_seen == seen
    assert InventoryReport.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_the_agent_shortcut_commits_on_its_own(org):
    token = services.create_enrollment_token(actor=None, unit=org.unit_a)[1]
    services.ingest_xml(unit=org.unit_a, payload=SAMPLE)
    head, software_digest = _head(_volatile(SAMPLE))
    assert not connection.in_atomic_block
    # Outside a transaction the statement is its own (committed without the WAL flush on
    # PostgreSQL): what it wrote is there for every other connection.
    assert services.touch_unchanged_agent_for_token(
        token=token, document=head, software_digest=software_digest, digest="body-digest"
    )
    if connection.vendor == "postgresql":
        with other_connection() as other, other.cursor() as cursor:
            cursor.execute("SELECT payload_hash FROM inventory_device")
            assert cursor.fetchall() == [("body-digest",)]
    assert list(Device.objects.values_list("payload_hash", flat=True)) == ["body-digest"]


GLPI = json.loads((GLPI_EXAMPLES / "computer_1.json").read_bytes())  # GLPI agent, 6 programs


def _glpi(changes=None, boot: str = "2026-11-27 08:00:00") -> dict:
    doc = copy.deepcopy(GLPI)
    doc["content"]["operatingsystem"]["boot_time"] = boot
    for section, values in (changes or {}).items():
        doc["content"][section].update(values)
    return doc


def _post_glpi(client, token: str, doc: dict):
    url = reverse("inventory:ingest", args=[token])
    return client.generic("POST", url, json.dumps(doc).encode(), content_type="application/json")


def test_the_software_digest_of_a_glpi_inventory_is_its_quick_readings():
    full = parsers.document_from_json(copy.deepcopy(GLPI))
    quick = parsers.parse_json_quick(copy.deepcopy(GLPI))
    assert quick is not None
    head, digest = quick
    assert digest == full.software_digest != ""
    assert head == dataclasses.replace(full, software=[], software_digest="")
    # Other spacing, another boot time: the same digest and key. Another version: another.
    again = parsers.parse_json_quick(json.loads(json.dumps(_glpi(), indent=4)))
    assert again is not None and again[1] == digest
    assert again[0].quick_key(digest) == full.quick_key()
    upgraded = _glpi()
    upgraded["content"]["softwares"][0]["version"] = "3.32.2-1.fc31"
    assert parsers.parse_json_quick(upgraded)[1] != digest
    # Without a software array (a partial inventory), or a head the schema refuses: none.
    partial = copy.deepcopy(GLPI)
    partial["partial"] = True
    del partial["content"]["softwares"]
    assert parsers.parse_json_quick(partial) is None
    assert parsers.document_from_json(partial).software_digest == ""
    assert parsers.parse_json_quick(_glpi({"hardware": {"memory": "7800 MB"}})) is None


def test_a_glpi_agents_volatile_repeat_costs_two_statements(client, token):
    assert _post_glpi(client, token, GLPI).status_code == 200
    device = Device.objects.get()
    assert device.quick_key == parsers.document_from_json(copy.deepcopy(GLPI)).quick_key() != ""
    day_ago = timezone.now() - datetime.timedelta(days=1)
    Device.objects.update(first_seen=day_ago, last_seen=day_ago)
    with CaptureQueriesContext(connection) as queries:
        response = _post_glpi(client, token, _glpi())
    assert (response.status_code, response.json()) == (200, {"status": "ok", "expiration": 24})
    statements = [q["sql"].split()[0] for q in queries.captured_queries]
    if connection.vendor == "postgresql":
        assert statements == ["WITH", "WITH"]
    else:
        assert statements == ["SELECT", "UPDATE", "SELECT", "UPDATE"]
    device.refresh_from_db()
    assert timezone.now() - device.last_seen < datetime.timedelta(minutes=5)
    assert device.payload_hash == services.payload_hash(
        json.dumps(_glpi()).encode(), "application/json"
    )
    assert InventoryReport.objects.count() == 1
    # A head the schema refuses is refused, even with the same facts and software (the
    # boot time is not stored: its key is the stored one).
    bad = _post_glpi(client, token, _glpi(boot="yesterday"))
    assert bad.status_code == 400
    assert bad.json()["message"].startswith("content.operatingsystem.boot_time: ")
    # A new program goes the full way, and is stored with an event.
    more = _glpi(boot="2026-11-28 08:00:00")
    more["content"]["softwares"].append({"name": "WPS Office", "version": "12.1"})
    assert _post_glpi(client, token, more).status_code == 200
    assert InventoryReport.objects.count() == 2
    assert list(InstallationEvent.objects.values_list("event_type", "name")) == [
        ("installed", "WPS Office")
    ]


def test_what_the_full_path_refuses_is_refused_with_the_shortcut_in_front(client, token, settings):
    assert _post_glpi(client, token, GLPI).status_code == 200
    # Not a string where the schema wants one: 400 naming the field, not a server error.
    bad = _glpi()
    bad["action"] = ["inventory"]
    response = _post_glpi(client, token, bad)
    assert response.status_code == 400
    assert response.json()["message"].startswith("action: 不符合 GLPI 清单格式：")
    # Over a limit on the head (network interfaces): the full path's 413.
    settings.ZHENGBAN = {**settings.ZHENGBAN, "INVENTORY_MAX_NETWORKS": 2}
    response = _post_glpi(client, token, _glpi())
    assert (response.status_code, response.json()["message"]) == (
        413,
        "content.networks: 网络接口数量超过上限。",
    )
    # JSON that Python refuses to read for its size: 400, not a server error.
    url = reverse("inventory:ingest", args=[token])
    huge = b'{"deviceid": "x", "content": {"n": ' + b"9" * 5000 + b"}}"
    response = client.generic("POST", url, huge, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["message"].startswith("body: JSON 无法解析：")
    assert InventoryReport.objects.count() == 1


def test_keys_stored_under_other_software_rules_match_nothing(client, token, monkeypatch):
    # The digests begin with the rules' revision (and the JSON one with the schema's digest).
    schema = hashlib.sha256(parsers.SCHEMA_PATH.read_bytes()).digest()
    array = json.dumps(GLPI["content"]["softwares"], separators=(",", ":")).encode("ascii")
    assert (
        parsers.parse_json_quick(copy.deepcopy(GLPI))[1]
        == hashlib.sha256(b"software-rules-1\x1e" + schema + array).hexdigest()
    )
    start, _close, end = parsers.software_section(SAMPLE)
    assert (
        parsers.parse_xml_quick(SAMPLE)[1]
        == hashlib.sha256(b"software-rules-1\x1e" + SAMPLE[start:end]).hexdigest()
    )
    assert _post(client, token, SAMPLE) == 200
    assert _post_glpi(client, token, GLPI).status_code == 200
    old_keys = set(Device.objects.values_list("quick_key", flat=True))
    # Rules changed (a deploy with stricter checks): the volatile repeats take the full
    # path, as a changed inventory would, and store keys under the new rules.
    monkeypatch.setattr(parsers, "SOFTWARE_RULES_REVISION", b"software-rules-2\x1e")
    parsers._json_rules_revision.cache_clear()
    try:
        new_keys = {
            parsers.parse_xml(SAMPLE).document.quick_key(),
            parsers.document_from_json(copy.deepcopy(GLPI)).quick_key(),
        }
        assert len(new_keys) == 2 and not new_keys & old_keys
        for send in (
            lambda: _post(client, token, _volatile(SAMPLE)),
            lambda: _post_glpi(client, token, _glpi()),
        ):
            with CaptureQueriesContext(connection) as queries:
                send()
            assert len(queries.captured_queries) > 4
        assert set(Device.objects.values_list("quick_key", flat=True)) == new_keys
        # The next repeats under the new rules take the shortcut.
        with CaptureQueriesContext(connection) as queries:
            assert _post(client, token, _volatile(_volatile(SAMPLE))) == 200
            assert _post_glpi(client, token, _glpi(boot="2026-11-29 08:00:00")).status_code == 200
        statements = 4 if connection.vendor == "postgresql" else 8
        assert len(queries.captured_queries) == statements
    finally:
        parsers._json_rules_revision.cache_clear()


def test_a_first_json_inventory_checks_its_head_once(client, token, monkeypatch):
    from zhengban.inventory import parsers

    real = parsers._head_validator()
    checks = []

    class Counting:
        def iter_errors(self, doc):
            checks.append(doc.get("deviceid"))
            return real.iter_errors(doc)

    monkeypatch.setattr(parsers, "_head_validator", lambda: Counting())
    assert _post_glpi(client, token, GLPI).status_code == 200
    assert len(checks) == 1  # by the quick read; the full read skips it
    assert InventoryReport.objects.count() == 1
    # A head the quick read refuses is still checked, and refused, by the full read.
    bad = _glpi()
    bad["content"]["hardware"]["memory"] = "lots"
    checks.clear()
    response = _post_glpi(client, token, bad)
    assert (response.status_code, len(checks)) == (400, 2)
    assert response.json()["message"].startswith("content.hardware.memory: ")
