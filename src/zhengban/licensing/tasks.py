"""Background tasks of licensing (Django's tasks API; the backend comes from settings).

Ingests and catalog changes only queue :class:`~zhengban.licensing.models.RecomputeRequest`
rows in their own transaction and ask for a drain; the drain recomputes the queued units a
batch at a time. With the immediate backend (tests, a laptop) the drain runs at once, inside
the caller's transaction, so verdicts are there when the ingest returns.
"""

from __future__ import annotations

from django_tasks import task

from zhengban.core.tasks import enqueue_unless_waiting


@task()
def drain_recompute_queue() -> dict[str, int]:
    """Recompute what the queue holds; a task finding the queue empty does nothing."""
    from zhengban.licensing import services

    return vars(services.drain_recompute_queue())


def enqueue_drain() -> None:
    """Ask for a drain of the recompute queue, unless one is already waiting."""
    enqueue_unless_waiting(drain_recompute_queue)


@task()
def recompute_due(days: int = 1) -> dict[str, str | int]:
    """The scheduled daily recompute (``zhengban compliance recompute --due``), for
    deployments whose scheduler enqueues a task instead of running the command."""
    from zhengban.licensing import services

    stats = services.recompute_due(days=days)
    return {**vars(stats), "since": stats.since.isoformat(), "as_of": stats.as_of.isoformat()}
