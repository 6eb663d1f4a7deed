"""Background tasks of licensing (Django's tasks API; the backend comes from settings).

Ingests and catalog changes only queue :class:`~zhengban.licensing.models.RecomputeRequest`
rows in their own transaction and ask for a drain; the drain recomputes the queued units a
batch at a time. With the immediate backend (tests, a laptop) the drain runs at once, inside
the caller's transaction, so verdicts are there when the ingest returns.
"""

from __future__ import annotations

from django.db import connection
from django_tasks import task


@task()
def drain_recompute_queue() -> dict[str, int]:
    """Recompute what the queue holds; a task finding the queue empty does nothing."""
    from zhengban.licensing import services

    return vars(services.drain_recompute_queue())


_WAITING_SQL = """
SELECT 1 FROM {table}
WHERE status = 'READY' AND task_path = %s AND backend_name = %s
LIMIT 1 FOR SHARE
"""


def _drain_waiting() -> bool:
    """Whether a drain task is enqueued and not yet started (database backend on
    PostgreSQL only). The row is share-locked until the caller commits: a worker claims
    tasks with FOR UPDATE SKIP LOCKED, so it cannot start that drain before the caller's
    request is visible to it."""
    backend = drain_recompute_queue.get_backend()
    if connection.vendor != "postgresql" or type(backend).__module__ != "django_tasks_db.backend":
        return False
    from django_tasks_db.models import DBTaskResult

    with connection.cursor() as cursor:
        cursor.execute(
            _WAITING_SQL.format(table=connection.ops.quote_name(DBTaskResult._meta.db_table)),
            [drain_recompute_queue.module_path, backend.alias],
        )
        return cursor.fetchone() is not None


def enqueue_drain() -> None:
    """Ask for a drain of the recompute queue, unless one is already waiting."""
    if not _drain_waiting():
        drain_recompute_queue.enqueue()


@task()
def recompute_due(days: int = 1) -> dict[str, str | int]:
    """The scheduled daily recompute (``zhengban compliance recompute --due``), for
    deployments whose scheduler enqueues a task instead of running the command."""
    from zhengban.licensing import services

    stats = services.recompute_due(days=days)
    return {**vars(stats), "since": stats.since.isoformat(), "as_of": stats.as_of.isoformat()}
