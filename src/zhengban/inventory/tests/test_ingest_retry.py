"""An inventory whose transaction the database aborts to break a deadlock is stored on a
second attempt, not answered with an error: nothing of the first attempt was written."""

from __future__ import annotations

import threading
import time

import pytest
from django.db import OperationalError, connection, transaction

from zhengban.inventory import services
from zhengban.inventory.models import Device, Installation, InstallationEvent
from zhengban.inventory.testing import XML_SAMPLES, other_connection

SAMPLE = (XML_SAMPLES / "1.xml").read_bytes()  # Fedora, 42 rpm entries
WPS = ("WPS Office", "Kingsoft", "11.1.0", "linux")
WITH_WPS = SAMPLE.replace(
    b"<SOFTWARES>",
    b"<SOFTWARES><FROM>rpm</FROM><NAME>WPS Office</NAME><PUBLISHER>Kingsoft</PUBLISHER>"
    b"<VERSION>11.1.0</VERSION></SOFTWARES><SOFTWARES>",
    1,
)


def deadlock_with(org, ingest) -> list[str]:
    """Ingest WITH_WPS through ``ingest`` while another transaction holds the product of its
    new install and then asks for its device; returns what the other transaction did."""
    services.ingest_xml(unit=org.unit_a, payload=SAMPLE)
    device = Device.objects.get()
    wps = services.recognise_products(unit_id=org.unit_a.pk, keys=[WPS])[WPS]
    assert wps is not None
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        ingest_pid = cursor.fetchone()[0]
    locked = threading.Event()
    outcome: list[str] = []

    def other() -> None:
        with other_connection() as other:
            # Never the victim: the ingest's check (1 s, the default) runs long before.
            other.execute("SET deadlock_timeout = '60s'")
            other.execute("BEGIN")
            other.execute("SELECT id FROM catalog_product WHERE id = %s FOR UPDATE", [wps])
            locked.set()
            for _ in range(3000):  # until the ingest waits for the product (at most 30 s)
                waiting = other.execute(
                    "SELECT count(*) FROM pg_locks WHERE pid = %s AND NOT granted", [ingest_pid]
                ).fetchone()[0]
                if waiting:
                    break
                time.sleep(0.01)
            else:
                outcome.append("the ingest never waited")
            other.execute("SELECT id FROM inventory_device WHERE id = %s FOR UPDATE", [device.pk])
            other.execute("COMMIT")
            outcome.append("committed")

    thread = threading.Thread(target=other)
    thread.start()
    assert locked.wait(30)
    try:
        ingest()
    finally:
        thread.join(60)
    return outcome


@pytest.mark.django_db(transaction=True)
def test_an_inventory_chosen_as_a_deadlock_victim_is_retried(org):
    """The re-inventory holds its device (FOR UPDATE) and waits for the product a new
    install names, which another transaction holds while it asks for that device: a
    deadlock. PostgreSQL aborts the re-inventory, the first to wait (its deadlock_timeout
    runs out first); the service then tries again and stores it once the other commits."""
    if connection.vendor != "postgresql":
        pytest.skip("SQLite has one writer at a time")
    results = []
    outcome = deadlock_with(
        org, lambda: results.append(services.ingest_xml(unit=org.unit_a, payload=WITH_WPS))
    )
    assert outcome == ["committed"]
    assert results[0].document is not None
    device = Device.objects.get()
    wps = services.recognise_products(unit_id=org.unit_a.pk, keys=[WPS])[WPS]
    assert Installation.objects.filter(device=device).count() == 42 + 1 + 1
    assert Installation.objects.filter(device=device, product_id=wps).count() == 1
    assert list(InstallationEvent.objects.values_list("event_type", flat=True)) == ["installed"]
    assert device.reports.count() == 2


@pytest.mark.django_db(transaction=True)
def test_within_a_callers_transaction_a_deadlock_is_not_retried(org):
    """An import's transaction may hold locks of its own that are part of the cycle: a
    retry would deadlock again, so the error goes to the caller, whose work is undone."""
    if connection.vendor != "postgresql":
        pytest.skip("SQLite has one writer at a time")

    def ingest() -> None:
        with pytest.raises(OperationalError) as raised, transaction.atomic():
            services.ingest_xml(unit=org.unit_a, payload=WITH_WPS)
        assert raised.value.__cause__.sqlstate == "40P01"  # deadlock detected

    assert deadlock_with(org, ingest) == ["committed"]
    device = Device.objects.get()
    assert Installation.objects.filter(device=device).count() == 42 + 1
    assert InstallationEvent.objects.count() == 0
    assert device.reports.count() == 1


@pytest.mark.django_db
def test_a_violation_other_than_a_duplicate_is_not_retried(org):
    from django.db import IntegrityError
    from django.test.utils import CaptureQueriesContext

    from zhengban.inventory import document as d

    # A value no parser lets through (they refuse it first): the CHECK on the column.
    doc = d.InventoryDocument(
        source="glpi_json", agent_device_id="pc-neg", hostname="PC-NEG", memory_mb=-5, software=[]
    )
    with CaptureQueriesContext(connection) as ctx, pytest.raises(IntegrityError):
        services.ingest_inventory(unit=org.unit_a, document=doc)
    inserts = [
        q for q in ctx.captured_queries if q["sql"].startswith('INSERT INTO "inventory_device"')
    ]
    assert len(inserts) == 1
    assert Device.objects.count() == 0
