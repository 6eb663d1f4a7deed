"""A tiny registry of named events, so that a lower layer can let higher ones react without
importing them: inventory fires "inventory.ingested" after storing an inventory, governance
(registered from its AppConfig.ready()) raises violations and matches approved requests.

Handlers run synchronously inside the caller's transaction: a failing handler rolls the
caller's work back with it, so nothing is half-done.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

# Event names in use, with the keyword arguments they carry.
INVENTORY_INGESTED = "inventory.ingested"  # device=Device, report=InventoryReport | None
# People changed a device's unit, person, department…; a move adds old_unit_id: int | None.
DEVICE_CHANGED = "inventory.device_changed"  # device=Device, fields=set[str]
# Licensing stored new verdicts for these units (device_ids: only those devices changed, or
# None for whole units): governance raises and closes "unlicensed" violations from them.
LICENSING_RECOMPUTED = "licensing.recomputed"  # unit_ids=list[int], device_ids=list[int] | None
# The catalog re-recognised installs or changed products' licence facts: licensing recomputes
# the units holding them.
CATALOG_CHANGED = "catalog.changed"  # product_ids=list[int], unit_ids=list[int] | None

_handlers: dict[str, list[Callable[..., Any]]] = {}


def register(event: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    handlers = _handlers.setdefault(event, [])
    if fn not in handlers:
        handlers.append(fn)
    return fn


def fire(event: str, **kwargs: Any) -> list[Any]:
    return [fn(**kwargs) for fn in list(_handlers.get(event, ()))]
