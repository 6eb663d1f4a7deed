"""Governance reacts to lower layers' events; they never import us.

- "inventory.ingested": a stored inventory is noted in the ingest's transaction; a background
  task then matches its changes to approved requests and judges them by the unit's specs.
- "licensing.recomputed": licensing's new verdicts raise and settle "unlicensed" violations,
  so buying a licence settles them at once, without waiting for the device's next inventory.
- "inventory.device_changed": a retired device's open findings end as "终端已退役", and
  come back when it is back in service.
"""

from typing import Any

from zhengban.core import hooks


def on_inventory_ingested(*, device: Any, report: Any = None, **kwargs: Any) -> Any:
    from zhengban.governance.services import queue_inventory

    # Only noted in the ingest's transaction (nothing lost); the reaction runs in the
    # background (governance.tasks), or at once with the immediate task backend.
    # What an inventory shows happened when it was received (an agent's spooled inventory
    # may arrive days late): windows and deadlines are judged at that time, not now.
    now = kwargs.get("now") or (report.received if report is not None else None)
    return queue_inventory(device=device, report=report, now=now)


def on_licensing_recomputed(
    *, unit_ids: list[int], device_ids: list[int] | None = None, **kwargs: Any
) -> Any:
    from zhengban.governance.services import sync_unlicensed

    return sync_unlicensed(unit_ids=unit_ids, device_ids=device_ids)


def on_device_changed(*, device: Any, fields: Any = (), **kwargs: Any) -> Any:
    if "retired" not in fields:
        return None
    from zhengban.governance.services import reopen_reinstated_device, settle_retired_device

    if getattr(device, "retired", None) is None:
        return reopen_reinstated_device(device_id=device.pk)
    return settle_retired_device(device_id=device.pk, when=device.retired)


hooks.register(hooks.INVENTORY_INGESTED, on_inventory_ingested)
hooks.register(hooks.DEVICE_CHANGED, on_device_changed)
hooks.register(hooks.LICENSING_RECOMPUTED, on_licensing_recomputed)
