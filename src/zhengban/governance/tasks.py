"""Background tasks of governance (Django's tasks API; the backend comes from settings).

An ingest only notes its inventory (:class:`~zhengban.governance.models.PendingInventory`,
in its own transaction) and asks for a drain; the drain reacts to the noted inventories a
batch at a time. With the immediate backend (tests, a laptop) the drain runs at once, inside
the ingest's transaction, so violations are there when the ingest returns.
"""

from __future__ import annotations

from django.db import connection
from django_tasks import task


@task()
def process_pending_inventories() -> dict[str, int]:
    """React to what the queue holds; a task finding the queue empty does nothing."""
    from zhengban.governance import services

    return {"inventories": services.drain_pending_inventories()}


_WAITING_SQL = """
SELECT 1 FROM {table}
WHERE status = 'READY' AND task_path = %s AND backend_name = %s
LIMIT 1 FOR SHARE
"""


def _drain_waiting() -> bool:
    """Whether a drain task is enqueued and not yet started (database backend on
    PostgreSQL only). The row is share-locked until the caller commits: a worker claims
    tasks with FOR UPDATE SKIP LOCKED, so it cannot start that drain before the caller's
    note is visible to it, and the note is never left without a drain to come."""
    backend = process_pending_inventories.get_backend()
    if connection.vendor != "postgresql" or type(backend).__module__ != "django_tasks_db.backend":
        return False
    from django_tasks_db.models import DBTaskResult

    with connection.cursor() as cursor:
        cursor.execute(
            _WAITING_SQL.format(table=connection.ops.quote_name(DBTaskResult._meta.db_table)),
            [process_pending_inventories.module_path, backend.alias],
        )
        return cursor.fetchone() is not None


def enqueue_drain() -> None:
    """Ask for a drain of the pending inventories, unless one is already waiting."""
    if not _drain_waiting():
        process_pending_inventories.enqueue()
