"""Governance reacts to inventories outside the ingest's transaction: the ingest only notes
the inventory (PendingInventory), a task reacts to the noted ones, and nothing is lost."""

import datetime
import threading
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection, connections
from django.test import override_settings
from django.test.utils import CaptureQueriesContext

from zhengban.governance import services, tasks
from zhengban.governance import testing as t
from zhengban.governance.choices import RuleKind, ViolationKind, ViolationStatus
from zhengban.governance.models import PendingInventory, Violation
from zhengban.inventory.models import Device

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
    return t.ingest_only(gov.org.unit_a, "dev-a1", software, received)


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


def pending():
    return list(PendingInventory.objects.values_list("report_id", "attempts", "failed_at", "error"))


@pytest.mark.django_db
@override_settings(TASKS=DATABASE_TASKS)
def test_a_reaction_that_raises_is_set_aside(gov, prohibiting, monkeypatch, caplog):
    ingest_only(gov, [t.WPS], T1)
    bad = ingest_only(gov, [t.WPS, t.SAFE_360], T2).report
    T3 = T2 + datetime.timedelta(hours=1)
    ingest_only(gov, [t.SAFE_360], T3)
    react = services.process_inventory

    def crash_on_bad(**kwargs):
        outcome = react(**kwargs)  # its violation is written, then undone with its savepoint
        if kwargs["report"] == bad:
            raise RuntimeError("bad note")
        return outcome

    monkeypatch.setattr(services, "process_inventory", crash_on_bad)
    failed_at = T3 + datetime.timedelta(minutes=5)
    assert services.drain_pending_inventories(now=failed_at) == 3
    # The other notes were reacted to and committed; the bad one left no violation behind.
    assert prohibited(gov.org.unit_a) == [("360-safe", ViolationStatus.OPEN, T3, T3)]
    assert pending() == [(bad.pk, 1, failed_at, "RuntimeError: bad note")]
    [record] = [r for r in caplog.records if r.name == "zhengban.governance.services"]
    assert record.getMessage() == (
        f"governance: reaction to pending inventory {PendingInventory.objects.get().pk} failed"
    )
    assert record.exc_info[0] is RuntimeError

    # Later drains skip it: the queue goes on.
    assert services.drain_pending_inventories() == 0
    assert tasks.process_pending_inventories.call() == {"inventories": 0}
    assert pending() == [(bad.pk, 1, failed_at, "RuntimeError: bad note")]
    assert services.failed_inventory_count() == 1
    out = StringIO()
    call_command("governance_remind", stdout=out)
    assert out.getvalue() == (
        "已发送催办 0 条。\n有 1 份待处理清单处理失败，已暂停处理：请在“待处理清单队列”页查看错误并重新排队（或运行 zhengban governance_queue）。\n"
    )

    # Once the cause is fixed, an administrator requeues it.
    monkeypatch.undo()
    assert services.requeue_failed_inventories() == 1
    assert pending() == [(bad.pk, 1, None, "RuntimeError: bad note")]
    assert services.drain_pending_inventories() == 1
    assert pending() == []
    assert services.failed_inventory_count() == 0
    assert prohibited(gov.org.unit_a) == [("360-safe", ViolationStatus.OPEN, T3, T3)]


@pytest.mark.django_db
@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="SQLite has no row locks (FOR UPDATE)"
)
@override_settings(TASKS=DATABASE_TASKS)
def test_the_drain_locks_the_devices_it_raises_violations_on(gov, prohibiting):
    result = ingest_only(gov, [t.WPS, t.SAFE_360], T1)
    device_table = connection.ops.quote_name(Device._meta.db_table)
    with CaptureQueriesContext(connection) as queries:
        assert services.drain_pending_inventories() == 1
    locking = [
        q["sql"]
        for q in queries.captured_queries
        if f"FROM {device_table}" in q["sql"] and "FOR UPDATE" in q["sql"]
    ]
    assert len(locking) == 1
    assert locking[0].endswith(f"FOR UPDATE OF {device_table}")
    assert (
        f"{device_table}.{connection.ops.quote_name('id')} IN ({result.device.pk})" in (locking[0])
    )
    assert prohibited(gov.org.unit_a) == [("360-safe", ViolationStatus.OPEN, T1, T1)]


_WAITING_ON_A_LOCK = """
SELECT count(*) FROM pg_stat_activity
WHERE datname = current_database() AND wait_event_type = 'Lock'
"""


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="SQLite has no row locks (FOR UPDATE)"
)
@override_settings(TASKS=DATABASE_TASKS)
def test_two_workers_draining_one_device_do_not_collide(gov, prohibiting, monkeypatch):
    # Two notes of one device, each taken by its own worker (SKIP LOCKED).
    ingest_only(gov, [t.WPS, t.SAFE_360], T1)
    ingest_only(gov, [t.WPS, t.SAFE_360, t.SEVEN_ZIP], T2)
    assert PendingInventory.objects.count() == 2
    react = services.process_inventory
    reacted, release = threading.Event(), threading.Event()

    def pause_worker_a(**kwargs):
        outcome = react(**kwargs)
        if threading.current_thread().name == "worker-a":
            reacted.set()  # its violation is inserted, not yet committed
            release.wait()
        return outcome

    monkeypatch.setattr(services, "process_inventory", pause_worker_a)
    drained, errors = {}, []

    def worker():
        name = threading.current_thread().name
        try:
            drained[name] = services.drain_pending_inventories(batch_size=1)
        except Exception as exc:  # noqa: BLE001 - reported to the test below
            errors.append(exc)
        finally:
            connections.close_all()

    worker_a = threading.Thread(target=worker, name="worker-a")
    worker_b = threading.Thread(target=worker, name="worker-b")
    worker_a.start()
    try:
        assert reacted.wait(30)
        worker_b.start()
        # Worker b must wait for worker a's device lock (unlocked, it would insert the
        # same open violation); released only once it waits, whatever the timing.
        with connection.cursor() as cursor:
            for _ in range(3000):
                cursor.execute(_WAITING_ON_A_LOCK)
                if cursor.fetchone()[0]:
                    break
                threading.Event().wait(0.01)
            else:
                pytest.fail("worker b never waited")
    finally:
        release.set()
        worker_a.join()
        if worker_b.ident is not None:
            worker_b.join()
    assert errors == []
    assert drained == {"worker-a": 1, "worker-b": 1}
    assert prohibited(gov.org.unit_a) == [("360-safe", ViolationStatus.OPEN, T1, T2)]
    assert pending() == []


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
