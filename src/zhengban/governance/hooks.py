"""Governance reacts to stored inventories; inventory (a lower layer) never imports us."""

from typing import Any

from zhengban.core import hooks


def on_inventory_ingested(*, device: Any, report: Any = None, **kwargs: Any) -> Any:
    from zhengban.governance.services import process_inventory

    return process_inventory(device=device, report=report, now=kwargs.get("now"))


hooks.register(hooks.INVENTORY_INGESTED, on_inventory_ingested)
