"""Licensing reacts to stored inventories; inventory (a lower layer) never imports us.

The catalog fires no event when its rules change, so re-recognised installs are picked up by
the next recompute of their unit (or ``zhengban compliance recompute``)."""

from __future__ import annotations

from typing import Any

from zhengban.core import hooks


def on_inventory_ingested(*, device: Any, report: Any = None, **kwargs: Any) -> int:
    from zhengban.licensing.services import recompute_after_inventory

    # Always the device's whole unit: a baseline inventory records no change events, and
    # a new assigned user can move per-user seats; the recompute rewrites only changed rows.
    return recompute_after_inventory(device_ids=[device.pk])


hooks.register(hooks.INVENTORY_INGESTED, on_inventory_ingested)
