"""A burst of queued work asks for one drain: a drain task already waiting is not enqueued
again (database task backend on PostgreSQL, as deployed)."""

from __future__ import annotations

import pytest
from django.db import connection, transaction

from zhengban.core.tasks import enqueue_unless_waiting
from zhengban.governance.tasks import process_pending_inventories
from zhengban.licensing.tasks import drain_recompute_queue

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(
        connection.vendor != "postgresql", reason="the waiting check is PostgreSQL's"
    ),
]


@pytest.fixture
def database_backend(settings):
    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}


def waiting() -> list[tuple[str, str]]:
    from django_tasks_db.models import DBTaskResult

    return sorted(DBTaskResult.objects.values_list("task_path", "status"))


def test_a_waiting_drain_is_not_enqueued_again(database_backend):
    with transaction.atomic():
        for _ in range(3):
            enqueue_unless_waiting(drain_recompute_queue)
        enqueue_unless_waiting(process_pending_inventories)
        enqueue_unless_waiting(process_pending_inventories)
    assert waiting() == [
        ("zhengban.governance.tasks.process_pending_inventories", "READY"),
        ("zhengban.licensing.tasks.drain_recompute_queue", "READY"),
    ]


def test_a_started_drain_does_not_count_as_waiting(database_backend):
    from django_tasks_db.models import DBTaskResult

    enqueue_unless_waiting(drain_recompute_queue)
    DBTaskResult.objects.update(status="RUNNING")
    enqueue_unless_waiting(drain_recompute_queue)
    assert waiting() == [
        ("zhengban.licensing.tasks.drain_recompute_queue", "READY"),
        ("zhengban.licensing.tasks.drain_recompute_queue", "RUNNING"),
    ]
