"""Licensing reacts to lower layers' events; they never import us.

An ingest or a catalog change only queues the units to recompute (in its own transaction, so
nothing is lost); the queue is drained by a background task (``licensing.tasks``), a batch
of units at a time."""

from __future__ import annotations

from typing import Any

from zhengban.core import hooks


def on_inventory_ingested(*, device: Any, report: Any = None, **kwargs: Any) -> Any:
    from zhengban.licensing.services import queue_inventory_recompute

    # Always, even for a baseline (no change events): the device's products are new to
    # its unit, and a new assigned user can move per-user seats.
    return queue_inventory_recompute(device=device, report=report)


def on_catalog_changed(
    *, product_ids: list[int], unit_ids: list[int] | None = None, **kwargs: Any
) -> int:
    from zhengban.licensing.choices import RecomputeReason
    from zhengban.licensing.services import queue_recompute

    return queue_recompute(
        reason=RecomputeReason.CATALOG, unit_ids=unit_ids, product_ids=product_ids
    )


# Per-user seats follow the assigned person; other device fields change no verdict.
SEAT_FIELDS = frozenset({"assigned_user", "assigned_name"})


def on_device_changed(*, device: Any, fields: set[str], **kwargs: Any) -> int:
    from zhengban.licensing.choices import RecomputeReason
    from zhengban.licensing.services import queue_recompute

    if not fields & SEAT_FIELDS:
        return 0
    return queue_recompute(reason=RecomputeReason.DEVICE, unit_ids=[device.unit_id])


hooks.register(hooks.INVENTORY_INGESTED, on_inventory_ingested)
hooks.register(hooks.DEVICE_CHANGED, on_device_changed)
hooks.register(hooks.CATALOG_CHANGED, on_catalog_changed)
