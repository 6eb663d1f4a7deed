"""Background tasks of governance (Django's tasks API; the backend comes from settings).

An ingest only notes its inventory (:class:`~zhengban.governance.models.PendingInventory`,
in its own transaction) and asks for a drain; the drain reacts to the noted inventories a
batch at a time. With the immediate backend (tests, a laptop) the drain runs at once, inside
the ingest's transaction, so violations are there when the ingest returns.
"""

from __future__ import annotations

from django_tasks import task

from zhengban.core.tasks import enqueue_unless_waiting


@task()
def process_pending_inventories() -> dict[str, int]:
    """React to what the queue holds; a task finding the queue empty does nothing."""
    from zhengban.governance import services

    return {"inventories": services.drain_pending_inventories()}


def enqueue_drain() -> None:
    """Ask for a drain of the pending inventories, unless one is already waiting."""
    enqueue_unless_waiting(process_pending_inventories)
