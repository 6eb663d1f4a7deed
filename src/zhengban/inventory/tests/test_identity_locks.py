"""Two agents of one machine (FusionInventory and OCS both installed: two agent ids, one
BIOS serial, UUID and set of MACs) sending their first reports at once make one device: on
PostgreSQL a first inventory locks its hardware ids in the unit and looks again before it
creates a device. A device already matched, or a repeat, takes no lock."""

from __future__ import annotations

import threading
import time

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from zhengban.inventory import document as d
from zhengban.inventory import services
from zhengban.inventory.choices import InventorySource
from zhengban.inventory.models import Device, DeviceMAC, Installation, InventoryReport
from zhengban.inventory.testing import other_connection

UUID = "4C4C4544-0051-3510-8052-B4C04F4E5632"
SERIAL = "PF0ABCDE"
UNIVERSAL_MAC = "00:1a:2b:3c:4d:5e"
LOCAL_MAC = "02:42:ac:11:00:02"
FUSION_ID = "pc-caiwu-01-2026-11-28-10-00-00"
OCS_ID = "PC-CAIWU-01-2026-11-28-10-00-05"


def _doc(source: str, agent_id: str, software: tuple[str, ...], **changes) -> d.InventoryDocument:
    values = {
        "source": source,
        "agent_device_id": agent_id,
        "hostname": "PC-CAIWU-01",
        "serial_number": SERIAL,
        "hardware_uuid": UUID,
        "macs": [UNIVERSAL_MAC, LOCAL_MAC],
        "software": [d.Software(name=name) for name in software],
    }
    values.update(changes)
    return d.InventoryDocument(**values)


def fusion(software: tuple[str, ...] = ("7-Zip",), **changes) -> d.InventoryDocument:
    return _doc(InventorySource.FUSIONINVENTORY, FUSION_ID, software, **changes)


def ocs(software: tuple[str, ...] = ("7-Zip", "WPS Office"), **changes) -> d.InventoryDocument:
    return _doc(InventorySource.OCS, OCS_ID, software, **changes)


def _advisory_waits(other) -> int:
    return other.execute(
        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
    ).fetchone()[0]


@pytest.mark.django_db(transaction=True)
def test_two_agents_first_reports_at_once_make_one_device(org):
    """FusionInventory's first report has created the device and not yet committed while
    OCS's first report from the same machine finds no device: it waits for the hardware
    ids' locks, then reads again and updates that device rather than create a second."""
    if connection.vendor != "postgresql":
        pytest.skip("SQLite has one writer at a time")
    results: list[services.IngestResult] = []
    errors: list[BaseException] = []

    def second_agent() -> None:
        try:
            results.append(services.ingest_inventory(unit=org.unit_a, document=ocs()))
        except BaseException as exc:  # reported by the assertions below
            errors.append(exc)
        finally:
            connection.close()  # this thread's own connection

    with other_connection() as other:
        with transaction.atomic():
            first = services.ingest_inventory(unit=org.unit_a, document=fusion())
            assert first.created
            thread = threading.Thread(target=second_agent)
            thread.start()
            for _ in range(3000):  # until it waits for a lock (at most 30 s)
                if _advisory_waits(other) or not thread.is_alive():
                    break
                time.sleep(0.01)
            waiting = _advisory_waits(other)
            alive = thread.is_alive()
        # Committed: the locks are released.
        thread.join(60)
    assert (waiting, alive) == (1, True)
    assert errors == []
    second = results[0]
    assert (second.created, second.match_rank, second.installed, second.removed) == (
        False,
        services.RANK_UUID_AND_SERIAL,
        1,
        0,
    )
    assert list(
        Device.objects.filter(unit=org.unit_a).values_list(
            "pk", "agent_device_id", "hostname", "serial_number", "hardware_uuid", "last_source"
        )
    ) == [(first.device.pk, OCS_ID, "PC-CAIWU-01", SERIAL, UUID, InventorySource.OCS)]
    assert sorted(DeviceMAC.objects.values_list("device_id", "mac")) == [
        (first.device.pk, UNIVERSAL_MAC),
        (first.device.pk, LOCAL_MAC),
    ]
    assert sorted(Installation.objects.values_list("device_id", "name")) == [
        (first.device.pk, "7-Zip"),
        (first.device.pk, "WPS Office"),
    ]
    assert sorted(InventoryReport.objects.values_list("device_id", "source")) == [
        (first.device.pk, InventorySource.FUSIONINVENTORY),
        (first.device.pk, InventorySource.OCS),
    ]


@pytest.mark.django_db
def test_a_first_xml_report_read_again_under_the_locks_finds_the_other_agents_device(org):
    """``ingest_xml``'s unlocked read found no device (``_seen_new``), and the other agent's
    device was committed before the ingest's transaction began: the read under the locks
    finds it, where trusting the unlocked read made a second device."""
    if connection.vendor != "postgresql":
        pytest.skip("SQLite trusts the unlocked read: no locks there")
    first = services.ingest_inventory(unit=org.unit_a, document=fusion())
    second = services.ingest_inventory(unit=org.unit_a, document=ocs(), _seen_new=True)
    assert (second.created, second.device.pk, second.match_rank) == (
        False,
        first.device.pk,
        services.RANK_UUID_AND_SERIAL,
    )
    assert list(Device.objects.values_list("pk", "agent_device_id")) == [(first.device.pk, OCS_ID)]


@pytest.mark.django_db
def test_only_a_first_inventory_with_hardware_ids_takes_the_locks(org):
    def ingest(document: d.InventoryDocument) -> tuple[services.IngestResult, list[str], int]:
        with CaptureQueriesContext(connection) as queries:
            result = services.ingest_inventory(unit=org.unit_a, document=document)
        sqls = [q["sql"] for q in queries.captured_queries]
        reads = sum(1 for sql in sqls if sql.startswith('SELECT * FROM "inventory_device"'))
        return result, [sql for sql in sqls if "pg_advisory" in sql], reads

    postgresql = connection.vendor == "postgresql"
    first, locks, reads = ingest(fusion())
    assert first.created
    # One statement for all the keys, then the candidates read again.
    assert [sql.split("(", 1)[0] for sql in locks] == (
        ["SELECT pg_advisory_xact_lock"] if postgresql else []
    )
    assert reads == (2 if postgresql else 1)
    # The hot paths: a byte-identical repeat, a changed re-inventory, another agent of the
    # same machine matched by its ids.
    repeat, locks, reads = ingest(fusion())
    assert (repeat.unchanged, repeat.device.pk, locks, reads) == (True, first.device.pk, [], 1)
    changed, locks, reads = ingest(fusion(software=("7-Zip", "WPS Office")))
    assert (changed.created, changed.device.pk, changed.installed, locks, reads) == (
        False,
        first.device.pk,
        1,
        [],
        1,
    )
    other_agent, locks, _reads = ingest(ocs())
    assert (other_agent.device.pk, other_agent.match_rank, locks) == (
        first.device.pk,
        services.RANK_UUID_AND_SERIAL,
        [],
    )
    # Nothing to lock: an agent id alone (its unique constraint guards it), a name alone.
    bare = d.InventoryDocument(
        source=InventorySource.FUSIONINVENTORY,
        agent_device_id="pc-bare-2026-11-28-10-00-00",
        hostname="PC-BARE",
        software=[],
    )
    named = d.InventoryDocument(
        source=InventorySource.SPREADSHEET, hostname="PC-IMPORTED", software=[]
    )
    for document in (bare, named):
        result, locks, reads = ingest(document)
        assert (result.created, locks, reads) == (True, [], 0 if document is named else 1)
    assert Device.objects.count() == 3


@pytest.mark.django_db(transaction=True)
def test_an_import_takes_no_identity_locks(org):
    """A spreadsheet of new machines with serials runs in one transaction: locks per
    machine would be held until the whole file commits."""
    from zhengban.inventory import imports

    rows = "".join(f"PC-{i:03d},SN-IMPORT-{i:03d},WPS Office,11.1\n" for i in range(20))
    data = ("计算机名,序列号,软件名称,版本\n" + rows).encode("utf-8")
    with CaptureQueriesContext(connection) as queries:
        results = imports.import_table(
            actor=org.officer_a, unit=org.unit_a, filename="pcs.csv", data=data
        )
    assert [r.created for r in results] == [True] * 20
    assert [q["sql"] for q in queries.captured_queries if "pg_advisory" in q["sql"]] == []
    assert sorted(Device.objects.values_list("serial_number", flat=True))[:2] == [
        "SN-IMPORT-000",
        "SN-IMPORT-001",
    ]


def test_identity_lock_keys():
    keys = services.identity_lock_keys(7, fusion())
    # UUID, serial, the burnt-in MAC, the local MAC with the host name; sorted.
    assert len(keys) == 4 and keys == sorted(keys)
    assert all(-(2**63) <= key < 2**63 for key in keys)
    # Another agent of the machine: another agent id and source, the same keys.
    assert services.identity_lock_keys(7, ocs()) == keys
    assert services.identity_lock_keys(7, fusion(hostname="pc-caiwu-01")) == keys
    assert not set(services.identity_lock_keys(8, fusion())) & set(keys)
    # A locally administered MAC identifies only with the host name (rule 4).
    assert len(services.identity_lock_keys(7, fusion(hostname=None))) == 3
    assert services.identity_lock_keys(7, fusion(hardware_uuid=None, serial_number=None)) == [
        key for key in keys if key not in services.identity_lock_keys(7, fusion(macs=[]))
    ]
    assert (
        services.identity_lock_keys(7, fusion(hardware_uuid=None, serial_number=None, macs=None))
        == []
    )
    # The same in every process and release: workers of one deployment must agree.
    only_serial = d.InventoryDocument(source=InventorySource.OCS, serial_number=SERIAL)
    assert services.identity_lock_keys(7, only_serial) == [8601080304840644600]


def test_a_container_hosts_macs_are_locked_sixteen_at_most():
    local = [f"02:42:ac:11:00:{n:02x}" for n in range(40)]
    document = fusion(macs=[*local, UNIVERSAL_MAC])
    keys = services.identity_lock_keys(7, document)
    assert len(keys) == 2 + services.MAX_MAC_LOCKS == 18
    # The burnt-in MAC first, then the local ones in order.
    expected = fusion(macs=[UNIVERSAL_MAC, *local[:15]])
    assert keys == services.identity_lock_keys(7, expected)
