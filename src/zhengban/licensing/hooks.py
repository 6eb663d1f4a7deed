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


# Per-user seats follow the assigned person, and every verdict follows the device's unit;
# other device fields change no verdict.
SEAT_FIELDS = frozenset({"assigned_user", "assigned_name"})
UNIT_FIELDS = frozenset({"unit", "unit_id"})
# A retired device's installs leave its unit's positions; a reinstated one's come back.
SERVICE_FIELDS = frozenset({"retired"})


def on_device_changed(
    *, device: Any, fields: set[str], old_unit_id: int | None = None, **kwargs: Any
) -> int:
    """Re-judge the device's unit when a seat may have moved; when the device moved to
    another unit, its old unit too (``old_unit_id``, else the unit its stored verdicts
    still name): the device's installs and seats leave that unit's positions."""
    from zhengban.licensing.choices import RecomputeReason
    from zhengban.licensing.services import (
        queue_recompute,
        release_retired_allocations,
        units_judging_device,
    )

    if fields & SERVICE_FIELDS and getattr(device, "retired", None) is not None:
        release_retired_allocations(device_id=device.pk)
    units: set[int] = set()
    if fields & UNIT_FIELDS:
        units = {device.unit_id, *units_judging_device(device.pk)}
        if old_unit_id is not None:
            units.add(old_unit_id)
    elif fields & (SEAT_FIELDS | SERVICE_FIELDS):
        units = {device.unit_id}
    if not units:
        return 0
    return queue_recompute(reason=RecomputeReason.DEVICE, unit_ids=sorted(units))


hooks.register(hooks.INVENTORY_INGESTED, on_inventory_ingested)
hooks.register(hooks.DEVICE_CHANGED, on_device_changed)
hooks.register(hooks.CATALOG_CHANGED, on_catalog_changed)
