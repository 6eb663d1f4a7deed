"""What makes the ingest path cheap must not change what it stores or answers: the agent
URL served past the browser middleware, product ids remembered per catalog revision, a
first inventory matched once."""

from __future__ import annotations

import datetime
import re
import threading
import zlib

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from zhengban.catalog.models import Product
from zhengban.inventory import services
from zhengban.inventory.models import Device, Installation
from zhengban.inventory.testing import XML_SAMPLES

pytestmark = pytest.mark.django_db

SAMPLE = (XML_SAMPLES / "1.xml").read_bytes()  # FusionInventory, 42 SOFTWARES entries


@pytest.fixture
def token(org) -> str:
    return services.create_enrollment_token(actor=None, unit=org.unit_a)[1]


def test_agent_url_skips_the_browser_middleware(client, token, org):
    url = reverse("inventory:ingest", args=[token])
    response = client.generic(
        "POST",
        url,
        zlib.compress(SAMPLE),
        content_type="application/x-compress-zlib",
        HTTP_ACCEPT_LANGUAGE="en",
    )
    assert response.status_code == 200
    assert b"no_account_update" in zlib.decompress(response.content)
    # No session, CSRF, clickjacking or locale handling: no cookies, no such headers.
    assert response.cookies == {}
    assert not response.has_header("X-Frame-Options")
    assert not response.has_header("Vary")
    assert not response.has_header("Content-Language")
    device = Device.objects.get()
    assert Installation.objects.filter(device=device).count() == 42 + 1
    # Errors stay in the default language whatever the agent's Accept-Language.
    bad = client.generic(
        "POST", url, b"<REQUEST>", content_type="application/xml", HTTP_ACCEPT_LANGUAGE="en"
    )
    assert bad.status_code == 400
    assert bad.content.decode().startswith("body: XML 无法解析")
    # Pages still get the whole stack.
    page = client.get(reverse("login"))
    assert page["X-Frame-Options"] == "DENY"


def test_product_ids_are_read_once_per_catalog_revision(org):
    keys = [
        ("WPS Office", "Kingsoft", "11.1.0", "linux"),
        ("Microsoft Office Professional Plus 2016", "Microsoft Corporation", "16.0", "windows"),
        ("no such program at all", "", "1", "linux"),
    ]
    from zhengban.catalog.services import get_recogniser

    recogniser = get_recogniser(org.unit_a.pk)
    product_keys = [recogniser.recognise(*key).product for key in keys]
    assert product_keys[0] and product_keys[1] and product_keys[2] is None
    first = services.recognise_products(unit_id=org.unit_a.pk, keys=keys)
    assert first == {
        keys[0]: Product.objects.get(key=product_keys[0]).pk,
        keys[1]: Product.objects.get(key=product_keys[1]).pk,
        keys[2]: None,
    }
    with CaptureQueriesContext(connection) as queries:
        again = services.recognise_products(unit_id=org.unit_a.pk, keys=keys)
    assert again == first
    # Only the catalog revision is checked: the ids are remembered.
    assert len(queries.captured_queries) == 1


@pytest.mark.django_db(transaction=True)
def test_byte_identical_repeat_outside_a_transaction_is_one_statement(org, token):
    # Outside any transaction, as in a real request (tests otherwise run inside one).
    body = zlib.compress(SAMPLE)
    digest = services.payload_hash(body, "application/x-compress-zlib")
    url = reverse("inventory:ingest", args=[token])
    response = Client().generic("POST", url, body, content_type="application/x-compress-zlib")
    assert response.status_code == 200
    device = Device.objects.get()
    later = device.last_seen + datetime.timedelta(hours=3)
    assert not connection.in_atomic_block
    with CaptureQueriesContext(connection) as queries:
        assert services.touch_unchanged_for_token(token=token, digest=digest, received=later)
    if connection.vendor == "postgresql":
        assert len(queries.captured_queries) == 1
    device.refresh_from_db()
    assert device.last_seen == later
    assert not services.touch_unchanged_for_token(token=token, digest="0" * 64, received=later)
    assert not services.touch_unchanged_for_token(token="wrong", digest=digest, received=later)
    assert Installation.objects.filter(device=device).count() == 42 + 1


def _device_reads(queries) -> int:
    table = Device._meta.db_table
    return sum(
        1
        for q in queries.captured_queries
        if q["sql"].startswith("SELECT *") and f'FROM "{table}" WHERE "unit_id"' in q["sql"]
    )


def test_a_first_xml_inventory_reads_the_candidates_once(org):
    with CaptureQueriesContext(connection) as queries:
        services.ingest_xml(unit=org.unit_a, payload=SAMPLE)
    device = Device.objects.get()
    assert device.agent_device_id
    # The unlocked read of the unchanged-software check found none; the ingest trusts it,
    # but on PostgreSQL reads once more under the hardware ids' locks: another agent of the
    # machine, with another agent id, may have created the device since.
    assert _device_reads(queries) == (2 if connection.vendor == "postgresql" else 1)
    assert Installation.objects.filter(device=device).count() == 42 + 1


def test_a_first_inventory_that_lost_a_race_updates_the_winner(org):
    """A device with the agent's id appeared after the unlocked read: the insert fails on
    the unit's unique agent id, and the retry reads the candidates and updates that one."""
    from zhengban.inventory import parsers

    document = parsers.parse_xml(SAMPLE).document
    winner = services.ingest_inventory(unit=org.unit_a, document=document).device
    changed = parsers.parse_xml(SAMPLE.replace(b"<NAME>", b"<NAME>x", 1)).document
    # The agent id alone: on PostgreSQL, hardware ids would be read again under their locks
    # and find the winner before any insert (test_identity_locks).
    changed.hardware_uuid = changed.serial_number = changed.macs = None
    with CaptureQueriesContext(connection) as queries:
        result = services.ingest_inventory(unit=org.unit_a, document=changed, _seen_new=True)
    assert not result.created
    assert result.device.pk == winner.pk
    assert Device.objects.count() == 1
    # The failed insert, then the retry's locked read.
    assert _device_reads(queries) == 1
    assert Installation.objects.filter(device=winner).count() == 42 + 1


def _sections_between_software(payload: bytes, agent_id: bytes) -> bytes:
    """The body with BIOS, HARDWARE and NETWORKS moved between two software entries (the
    quick head is read without them) and another agent id (an agent reinstalled)."""
    moved = []
    for tag in (b"BIOS", b"HARDWARE", b"NETWORKS"):
        pattern = re.compile(rb"<" + tag + rb">.*?</" + tag + rb">", re.S)
        moved += pattern.findall(payload)
        payload = pattern.sub(b"", payload)
    cut = payload.index(b"</SOFTWARES>") + len(b"</SOFTWARES>")
    payload = payload[:cut] + b"".join(moved) + payload[cut:]
    return re.sub(
        rb"<DEVICEID>[^<]*</DEVICEID>", b"<DEVICEID>" + agent_id + b"</DEVICEID>", payload
    )


def test_a_head_without_the_machines_identity_does_not_skip_the_match(org):
    from zhengban.inventory import parsers

    services.ingest_xml(unit=org.unit_a, payload=SAMPLE)
    device = Device.objects.get()
    body = _sections_between_software(SAMPLE, b"reinstalled-agent-2026")
    head = parsers.parse_xml_quick(body)[0].document
    assert not head.hardware_uuid and not head.macs
    services.ingest_xml(unit=org.unit_a, payload=body)
    # Matched by UUID and serial under lock, as the whole document says: one device.
    assert Device.objects.get().pk == device.pk
    assert Device.objects.get().agent_device_id == "reinstalled-agent-2026"


def test_recognised_products_survive_another_thread_clearing_the_memo(org, monkeypatch):
    """A thread filling the memo past its bound clears it while another call is between
    reading it and answering: that call still answers every key."""
    from zhengban.catalog.services import get_recogniser

    recogniser = get_recogniser(None)
    real = recogniser.recognise
    entered, release = threading.Event(), threading.Event()

    def recognise(name, *args):
        if name == "slow program":
            entered.set()
            release.wait(10)
        return real(name, *args)

    monkeypatch.setattr(recogniser, "recognise", recognise)
    monkeypatch.setattr(services, "KEY_MEMO_MAX", 10)
    warm = ("WPS Office", "Kingsoft", "11.1.0", "linux")
    expected = services.recognise_products(unit_id=None, keys=[warm])[warm]
    assert expected is not None
    answers: list = []

    def call() -> None:
        try:
            keys = [warm, ("slow program", "", "1", "")]
            answers.append(services.recognise_products(unit_id=None, keys=keys))
        finally:
            connection.close()  # this thread's own connection

    other = threading.Thread(target=call)
    other.start()
    assert entered.wait(10)
    services.recognise_products(unit_id=None, keys=[(f"p{i}", "", "", "") for i in range(20)])
    release.set()
    other.join(10)
    assert answers == [{warm: expected, ("slow program", "", "1", ""): None}]


def add_fleet(unit, count: int, *, mac=None, seen=None) -> None:
    """``count`` devices of ``unit``, each with its own agent id, UUID, serial and one MAC,
    ``mac(i)`` or its own."""
    from django.utils import timezone

    from zhengban.inventory.models import DeviceMAC

    seen = seen or timezone.now()
    devices = Device.objects.bulk_create(
        Device(
            unit=unit,
            hostname=f"pc-{unit.pk}-{i}",
            agent_device_id=f"agent-{unit.pk}-{i}",
            hardware_uuid=f"uuid-{unit.pk}-{i}",
            serial_number=f"SN{unit.pk}-{i}",
            first_seen=seen,
            last_seen=seen,
            last_source="ocs",
        )
        for i in range(count)
    )
    DeviceMAC.objects.bulk_create(
        DeviceMAC(
            device=device,
            unit=unit,
            mac=mac(i) if mac else f"0a:00:00:00:{i // 256:02x}:{i % 256:02x}",
        )
        for i, device in enumerate(devices)
    )


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's plans")
def test_device_candidates_are_found_through_indexes_alone(org):
    """In a large unit, the candidate query's arms (agent id, UUID, serial, MACs) are each
    an index scan, joined by a bitmap OR. With "id IN (subquery)" for the MACs, PostgreSQL
    read every device of the unit and tested each: 34 ms against 0.5 among 10,000. A MAC
    that thousands of machines elsewhere share (a VPN's virtual adapter) costs nothing:
    MACs are looked up within the unit."""

    from zhengban.inventory import parsers

    document = parsers.parse_xml(SAMPLE).document
    assert document.agent_device_id and document.serial_number and document.macs
    add_fleet(org.unit_a, 3000)
    add_fleet(org.unit_b, 3000, mac=lambda i: document.macs[0])  # elsewhere, the document's MAC
    with CaptureQueriesContext(connection) as queries:
        assert services.find_candidates(unit=org.unit_a, document=document) == []
    (sql,) = [q["sql"] for q in queries.captured_queries if "inventory_devicemac" in q["sql"]]
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE inventory_device, inventory_devicemac")
        cursor.execute(f"EXPLAIN (ANALYZE, FORMAT JSON) {sql}")
        plan = cursor.fetchone()[0]

    def nodes(node: dict):
        yield node
        for child in node.get("Plans", []):
            yield from nodes(child)

    found = list(nodes(plan[0]["Plan"]))
    assert "BitmapOr" in {n["Node Type"] for n in found}
    assert "Seq Scan" not in {n["Node Type"] for n in found}
    device_indexes = {
        n["Index Name"]
        for n in found
        if n["Node Type"] == "Bitmap Index Scan" and "devicemac" not in n["Index Name"]
    }
    expected = {"device_agent_id_unique_per_unit", "device_unit_serial", "inventory_device_pkey"}
    if document.hardware_uuid:
        expected.add("device_unit_uuid")
    assert device_indexes == expected

    # The 3,000 devices of the other unit holding the MAC were not read.
    def condition(node: dict) -> str:
        return node.get("Index Cond", node.get("Recheck Cond", ""))

    (arm,) = [n for n in found if n.get("Relation Name") == "inventory_devicemac"]
    assert "unit_id" in condition(arm) and "mac" in condition(arm)
    assert arm["Actual Rows"] == 0
    assert arm.get("Rows Removed by Filter", 0) == 0


def test_a_mac_shared_across_the_unit_does_not_hide_the_agents_device(org):
    """150 machines of the unit seen since, all with one of the document's MACs (a VPN's
    virtual adapter has the same MAC everywhere): the device holding the agent id is still
    the first candidate, though the query keeps only 100, and its next inventory updates it."""
    from zhengban.inventory import parsers

    document = parsers.parse_xml(SAMPLE).document
    device = services.ingest_inventory(unit=org.unit_a, document=document).device
    later = device.last_seen + datetime.timedelta(days=1)
    add_fleet(org.unit_a, 150, mac=lambda i: document.macs[0], seen=later)
    ranked, fetched = services._candidates(org.unit_a, document, False)
    assert ranked[0] == (services.RANK_AGENT_ID, device)
    assert len(fetched) == services.CANDIDATE_LIMIT
    changed = SAMPLE.replace(b"<VERSION>2.11.0-24.fc24<", b"<VERSION>2.11.0-25.fc24<")
    assert changed != SAMPLE
    services.ingest_xml(unit=org.unit_a, payload=changed)
    assert Device.objects.filter(agent_device_id=document.agent_device_id).count() == 1
    assert device.reports.count() == 2


def test_sqlite_finds_the_agents_device_through_its_index(org):
    """SQLite uses a partial index only for a query that repeats its condition: the agent id
    is looked up through the unit's unique index, not by reading the unit's devices."""
    if connection.vendor != "sqlite":
        pytest.skip("SQLite's planner")

    from zhengban.inventory import parsers

    document = parsers.parse_xml(SAMPLE).document
    add_fleet(org.unit_a, 3000)
    with CaptureQueriesContext(connection) as queries:
        services.find_candidates(unit=org.unit_a, document=document)
    (sql,) = [q["sql"] for q in queries.captured_queries if "inventory_devicemac" in q["sql"]]
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
        cursor.execute(f"EXPLAIN QUERY PLAN {sql}")
        plan = [row[-1] for row in cursor.fetchall()]
    assert "MULTI-INDEX OR" in plan
    assert any("device_agent_id_unique_per_unit" in step for step in plan), plan


def test_a_reinventory_reads_the_devices_macs_once(org):
    """The MACs read to rank the locked candidates serve to store the new ones too: an
    inventory with the same MACs writes none; one with another MAC replaces it; a MAC row
    whose unit is out of step with its device's is put right."""
    from zhengban.inventory import parsers
    from zhengban.inventory.models import DeviceMAC

    services.ingest_xml(unit=org.unit_a, payload=SAMPLE)
    device = Device.objects.get()
    macs = sorted(device.macs.values_list("mac", flat=True))
    assert macs == sorted(parsers.parse_xml(SAMPLE).document.macs)
    changed = SAMPLE.replace(b"<VERSION>2.11.0-24.fc24<", b"<VERSION>2.11.0-25.fc24<")

    def mac_statements(payload: bytes) -> list[str]:
        reports = device.reports.count()
        with CaptureQueriesContext(connection) as queries:
            services.ingest_xml(unit=org.unit_a, payload=payload)
        assert device.reports.count() == reports + 1
        return [
            q["sql"].split(" ", 1)[0]
            for q in queries.captured_queries
            if q["sql"].startswith(
                (
                    'SELECT "inventory_devicemac"',
                    'INSERT INTO "inventory_devicemac"',
                    'DELETE FROM "inventory_devicemac"',
                    'UPDATE "inventory_devicemac"',
                )
            )
        ]

    # One read to rank the unlocked candidates (is the software unchanged?), one to rank
    # the locked ones, which then serves to store them.
    assert mac_statements(changed) == ["SELECT", "SELECT"]
    moved = changed.replace(macs[0].encode(), b"02:00:00:00:00:99")
    assert moved != changed
    assert mac_statements(moved) == ["SELECT", "SELECT", "DELETE", "INSERT"]
    expected = sorted(
        [("02:00:00:00:00:99", org.unit_a.pk)] + [(m, org.unit_a.pk) for m in macs[1:]]
    )
    assert sorted(DeviceMAC.objects.values_list("mac", "unit_id")) == expected
    DeviceMAC.objects.filter(mac=macs[1]).update(unit=org.unit_b)
    assert mac_statements(moved.replace(b"25.fc24", b"26.fc24")) == ["SELECT", "SELECT", "UPDATE"]
    assert sorted(DeviceMAC.objects.values_list("mac", "unit_id")) == expected
