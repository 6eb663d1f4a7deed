"""Governance reacts to stored inventories; inventory (a lower layer) never imports us."""

from typing import Any

from zhengban.core import hooks


def on_inventory_ingested(*, device: Any, report: Any = None, **kwargs: Any) -> Any:
    from zhengban.governance.services import process_inventory

    # What an inventory shows happened when it was received (an agent's spooled inventory
    # may arrive days late): windows and deadlines are judged at that time, not now.
    now = kwargs.get("now") or (report.received if report is not None else None)
    return process_inventory(device=device, report=report, now=now)


hooks.register(hooks.INVENTORY_INGESTED, on_inventory_ingested)
