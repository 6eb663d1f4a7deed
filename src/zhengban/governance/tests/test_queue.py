"""Governance reacts to inventories outside the ingest's transaction: the ingest only notes
the inventory (PendingInventory), a task reacts to the noted ones, and nothing is lost."""

import datetime

import pytest
from django.test import override_settings

from zhengban.governance import services, tasks
from zhengban.governance import testing as t
from zhengban.governance.choices import RuleKind, ViolationKind, ViolationStatus
from zhengban.governance.models import PendingInventory, Violation
from zhengban.inventory import services as inventory
from zhengban.inventory.choices import InventorySource
from zhengban.inventory.document import InventoryDocument, Software

T1 = t.T0 + datetime.timedelta(days=1)
T2 = t.T0 + datetime.timedelta(days=2)
DATABASE_TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}


@pytest.fixture
def prohibiting(gov):
    spec = services.create_spec(actor=gov.org.officer_a, unit=gov.org.unit_a, name="规范")
    services.add_rule(
        actor=gov.org.officer_a,
        spec=spec,
        kind=RuleKind.PROHIBITED,
        family=t.product("360-safe").family,
    )
    return spec


def ingest_only(gov, software, received):
    """Inventory's ingest service alone (t.ingest also calls process_inventory itself)."""
    document = InventoryDocument(
        source=InventorySource.ZHENGBAN_AGENT,
        agent_device_id="dev-a1",
        agent="zhengban-agent/test",
        hostname="PC-dev-a1",
        os=t.WINDOWS,
        software=[Software(name=n, version=v, publisher=p) for n, v, p in software],
    )
    return inventory.ingest_inventory(unit=gov.org.unit_a, document=document, received=received)


def prohibited(unit):
    return list(
        Violation.objects.filter(unit=unit, kind=ViolationKind.PROHIBITED).values_list(
            "product__key", "status", "first_seen", "last_seen"
        )
    )


@pytest.mark.django_db
def test_immediate_backend_reacts_inside_the_ingest(gov, prohibiting):
    ingest_only(gov, [t.WPS, t.SAFE_360], T1)
    assert prohibited(gov.org.unit_a) == [("360-safe", ViolationStatus.OPEN, T1, T1)]
    assert PendingInventory.objects.count() == 0


@pytest.mark.django_db
@override_settings(TASKS=DATABASE_TASKS)
def test_the_ingest_only_notes_the_inventory_and_the_task_reacts(gov, prohibiting):
    result = ingest_only(gov, [t.WPS, t.SAFE_360], T1)
    # No worker ran: the reaction waits, noted in the ingest's own transaction.
    assert prohibited(gov.org.unit_a) == []
    assert list(PendingInventory.objects.values_list("device_id", "report_id", "received")) == [
        (result.device.pk, result.report.pk, T1)
    ]
    second = ingest_only(gov, [t.WPS, t.SAFE_360, t.SEVEN_ZIP], T2)
    assert PendingInventory.objects.count() == 2
    # Judged at each inventory's time of receipt, in turn.
    assert tasks.process_pending_inventories.call() == {"inventories": 2}
    assert prohibited(gov.org.unit_a) == [("360-safe", ViolationStatus.OPEN, T1, T2)]
    assert second.report.pk > result.report.pk
    assert PendingInventory.objects.count() == 0
    assert tasks.process_pending_inventories.call() == {"inventories": 0}


@pytest.mark.django_db
@override_settings(TASKS=DATABASE_TASKS)
def test_a_failed_reaction_keeps_its_note(gov, prohibiting, monkeypatch):
    ingest_only(gov, [t.WPS, t.SAFE_360], T1)

    def crash(**kwargs):
        raise RuntimeError("worker died")

    monkeypatch.setattr(services, "process_inventory", crash)
    with pytest.raises(RuntimeError):
        tasks.process_pending_inventories.call()
    # The deletion of the note rolled back with the failed reaction: it is retried.
    assert PendingInventory.objects.count() == 1
    monkeypatch.undo()
    assert services.drain_pending_inventories() == 1
    assert prohibited(gov.org.unit_a) == [("360-safe", ViolationStatus.OPEN, T1, T1)]


@pytest.mark.django_db
@override_settings(TASKS=DATABASE_TASKS)
def test_a_deleted_device_takes_its_notes_with_it(gov, prohibiting):
    result = ingest_only(gov, [t.WPS, t.SAFE_360], T1)
    result.device.delete()
    assert PendingInventory.objects.count() == 0
    assert services.drain_pending_inventories() == 0


@pytest.mark.django_db
@override_settings(TASKS=DATABASE_TASKS)
def test_batches_drain_everything(gov, prohibiting):
    ingest_only(gov, [t.WPS], T1)
    ingest_only(gov, [t.WPS, t.SAFE_360], T2)
    ingest_only(gov, [t.SAFE_360], T2 + datetime.timedelta(hours=1))
    assert services.drain_pending_inventories(batch_size=2) == 3
    assert PendingInventory.objects.count() == 0
    assert prohibited(gov.org.unit_a) == [
        ("360-safe", ViolationStatus.OPEN, T2, T2 + datetime.timedelta(hours=1))
    ]
