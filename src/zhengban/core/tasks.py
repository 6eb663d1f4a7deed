"""Helpers for apps' background tasks (Django's tasks API; the backend comes from settings)."""

from __future__ import annotations

from typing import Any

from django.db import connection

_WAITING_SQL = """
SELECT 1 FROM {table}
WHERE status = 'READY' AND task_path = %s AND backend_name = %s
LIMIT 1 FOR SHARE
"""


def _waiting(task: Any) -> bool:
    """Whether `task` is enqueued and not yet started (database backend on PostgreSQL only).
    The row is share-locked until the caller commits: a worker claims tasks with FOR UPDATE
    SKIP LOCKED, so it cannot start that task before the caller's queued work is visible to
    it, and the work is never left without a task to come."""
    backend = task.get_backend()
    if connection.vendor != "postgresql" or type(backend).__module__ != "django_tasks_db.backend":
        return False
    from django_tasks_db.models import DBTaskResult

    with connection.cursor() as cursor:
        cursor.execute(
            _WAITING_SQL.format(table=connection.ops.quote_name(DBTaskResult._meta.db_table)),
            [task.module_path, backend.alias],
        )
        return cursor.fetchone() is not None


def enqueue_unless_waiting(task: Any) -> None:
    """Enqueue a queue-draining task, unless one is already waiting: a burst of queued work
    needs one drain, not one task per item."""
    if not _waiting(task):
        task.enqueue()
