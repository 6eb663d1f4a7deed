"""The places governance reads other apps' data. Each is one small function returning plain
values where it can (tuples, sets), so that judging a device of hundreds of installs never
builds hundreds of model objects, and wiring a finished service is a one-line change here."""

from __future__ import annotations

from collections.abc import Collection, Iterable
from typing import Any, NamedTuple

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext as _

from zhengban.inventory.choices import InstallationKind
from zhengban.inventory.models import Device, Installation, InstallationEvent

# Installs a person does not choose: components, patches and hidden entries.
JUDGED_KINDS = frozenset({InstallationKind.APPLICATION, InstallationKind.OS})


def devices_of(person: Any) -> models.QuerySet[Device]:
    # In service only: a retired machine is not what the person uses now.
    return Device.objects.in_service().filter(assigned_user=person)


def current_installations(device: Device) -> models.QuerySet[Installation]:
    return Installation.objects.filter(device=device).select_related("product", "product__family")


def events_of_report(device: Device, report: Any) -> list[InstallationEvent]:
    if report is None:
        return []
    return list(
        InstallationEvent.objects.filter(device=device, report=report)
        .select_related("product", "product__family")
        .order_by("date", "id")
    )


# ------------------------------------------------------------------------------ installs


def _target_q(keys: Iterable[str]) -> Q | None:
    """Installs whose product falls under any of these rule targets ("product:1",
    "family:2", "category:antivirus"); None when there is none."""
    products, families, categories = set(), set(), set()
    for key in keys:
        kind, _sep, value = key.partition(":")
        if kind == "product":
            products.add(int(value))
        elif kind == "family":
            families.add(int(value))
        elif kind == "category":
            categories.add(value)
    parts = [
        Q(product_id__in=products) if products else None,
        Q(product__family_id__in=families) if families else None,
        Q(product__category__in=categories) if categories else None,
    ]
    found = [p for p in parts if p is not None]
    if not found:
        return None
    q = found[0]
    for part in found[1:]:
        q |= part
    return q


def target_satisfied(key: str, product_id: int, family_id: int | None, category: str) -> bool:
    kind, _sep, value = key.partition(":")
    if kind == "product":
        return str(product_id) == value
    if kind == "family":
        return str(family_id) == value
    return category == value


def installed_targets(device: Device, keys: Collection[str]) -> set[str]:
    """Of these rule targets, those that some install on the device falls under (one query
    returning one row per distinct product)."""
    q = _target_q(keys)
    if q is None:
        return set()
    products = set(
        Installation.objects.filter(q, device=device, product__isnull=False)
        .order_by()
        .values_list("product_id", "product__family_id", "product__category")
        .distinct()
    )
    return {key for key in keys if any(target_satisfied(key, *row) for row in products)}


def judged_installs_under(
    device: Device, keys: Collection[str], *, exempt_categories: Collection[str]
) -> list[tuple[int, int, str, str]]:
    """(installation id, product id, name, version) of the device's judged installs (see
    JUDGED_KINDS) whose product falls under these rule targets, in the installs' order."""
    q = _target_q(keys)
    if q is None:
        return []
    return list(
        Installation.objects.filter(q, device=device, kind__in=JUDGED_KINDS)
        .exclude(product__category__in=exempt_categories)
        .values_list("pk", "product_id", "name", "version")
    )


def first_installs(device: Device, product_ids: Collection[int]) -> dict[int, tuple[int, str]]:
    """product id → (first installation id, its name) on the device, for these products."""
    if not product_ids:
        return {}
    first: dict[int, tuple[int, str]] = {}
    for pk, product_id, name in Installation.objects.filter(
        device=device, product_id__in=product_ids
    ).values_list("pk", "product_id", "name"):
        first.setdefault(product_id, (pk, name))
    return first


def present_pairs(
    device_ids: Collection[int], product_ids: Collection[int]
) -> set[tuple[int, int]]:
    """The (device, product) pairs among these that still have an install."""
    if not device_ids or not product_ids:
        return set()
    return set(
        Installation.objects.filter(device_id__in=device_ids, product_id__in=product_ids)
        .order_by()
        .values_list("device_id", "product_id")
        .distinct()
    )


def devices_for_update(device_ids: Collection[int]) -> dict[int, Device]:
    """These devices with their assigned person, row-locked until the transaction ends
    (whoever raises violations on a device holds its lock: inventory's ingest does too)."""
    return {
        d.pk: d
        for d in Device.objects.select_for_update(of=("self",))
        .filter(pk__in=list(device_ids))
        .select_related("assigned_user")
        .order_by("pk")
    }


def last_seen_of(device_ids: Collection[int]) -> dict[int, Any]:
    return dict(Device.objects.filter(pk__in=list(device_ids)).values_list("pk", "last_seen"))


def retired_of(device_ids: Collection[int]) -> dict[int, Any]:
    """When each of these devices that is retired was retired."""
    return dict(
        Device.objects.filter(pk__in=list(device_ids), retired__isnull=False).values_list(
            "pk", "retired"
        )
    )


# ------------------------------------------------------------------------------ licensing


class UnlicensedVerdict(NamedTuple):
    device_id: int
    installation_id: int
    product_id: int
    reason: str


def unlicensed_verdicts(
    *, unit_ids: Collection[int], device_ids: Collection[int] | None
) -> list[UnlicensedVerdict]:
    """Licensing's stored verdicts: the installs it judges unlicensed now, on these devices
    (or, with `device_ids` None, in these units), by device and install."""
    from zhengban.licensing.services import unlicensed_results

    if device_ids is not None:
        rows = unlicensed_results(device_ids=device_ids)
    else:
        rows = unlicensed_results(unit_ids=unit_ids)
    return [UnlicensedVerdict(*row) for row in rows]


def install_labels(installation_ids: Collection[int]) -> dict[int, tuple[str, str]]:
    """installation id → (name, version)."""
    return {
        pk: (name, version)
        for pk, name, version in Installation.objects.filter(
            pk__in=list(installation_ids)
        ).values_list("pk", "name", "version")
    }


def coverage_notes(pairs: Collection[tuple[int, int]]) -> dict[tuple[int, int], str]:
    """For (device, product) pairs no longer unlicensed: why, in licensing's words (the
    reason of a covering verdict, e.g. 单机授权); pairs without a verdict need no licence."""
    from zhengban.licensing.choices import Reason, Status
    from zhengban.licensing.models import ComplianceResult

    notes: dict[tuple[int, int], str] = {}
    if pairs:
        rows = (
            ComplianceResult.objects.filter(
                device_id__in={d for d, _p in pairs},
                product_id__in={p for _d, p in pairs},
                status=Status.COVERED,
            )
            .order_by("installation_id")
            .values_list("device_id", "product_id", "reason")
        )
        for device_id, product_id, reason in rows:
            notes.setdefault((device_id, product_id), str(Reason(reason).label))
    return {
        pair: _("授权核算结果：%(reason)s") % {"reason": notes.get(pair, _("无需授权"))}
        for pair in pairs
    }
