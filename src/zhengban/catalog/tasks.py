"""Background tasks of the catalog (Django's tasks API; the backend comes from settings)."""

from __future__ import annotations

from typing import Any

from django_tasks import task


@task()
def reapply_recognition(job_id: int) -> dict[str, Any]:
    """Re-recognise existing installs for one :class:`~zhengban.catalog.models.ReapplyJob`."""
    from zhengban.catalog import services

    job = services.run_reapply(job_id=job_id)
    return {"status": job.status, "done": job.done, "changed": job.changed}
