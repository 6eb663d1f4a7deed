"""Install data for the catalog (``catalog.hooks.InstallProvider``), registered from
``InventoryConfig.ready()``.

The catalog sits below inventory and never imports it; these callables are how its
unrecognised queue, its product pages and its re-apply jobs see installations.

The platform recognition used is not a column: it is ``services.platform_of(device.os_name)``
(the ingest service recognises with exactly that, and re-keys a device's installations when
its OS family changes), so queries derive it from ``Device.os_name`` with
:func:`platform_expression`. Every installation's ``raw_key`` is the hash of (name,
publisher, version, that platform): ``apply_products`` finds a raw record's rows through the
(product, name, version) index and checks the key on them, which stands for the publisher
and the platform without joining the device's OS name.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from django.db.models import (
    Case,
    CharField,
    Count,
    Exists,
    F,
    OuterRef,
    Q,
    QuerySet,
    Value,
    When,
)
from django.urls import reverse

from zhengban.catalog.hooks import InstallProvider, register_install_provider
from zhengban.inventory.choices import InstallationKind
from zhengban.inventory.models import Device, Installation
from zhengban.inventory.services import raw_key

# What the unrecognised queue lists: programs a person sees in the list of installed
# programs, and operating systems (as the device page's "unrecognised" count).
QUEUE_KINDS = (InstallationKind.APPLICATION, InstallationKind.OS)

_GROUP_FIELDS = ("name", "publisher", "version", "platform", "unit_id", "product_id")


def platform_expression(prefix: str = "device__") -> Case:
    """SQL for ``services.platform_of(<prefix>os_name)``: windows, macos, linux or ''."""
    field = f"{prefix}os_name"
    return Case(
        When(Q(**{f"{field}__icontains": "windows"}), then=Value("windows")),
        When(
            Q(**{f"{field}__icontains": "mac"}) | Q(**{f"{field}__icontains": "darwin"}),
            then=Value("macos"),
        ),
        When(Q(**{field: ""}), then=Value("")),
        default=Value("linux"),
        output_field=CharField(),
    )


def unrecognised_records(*, user: Any) -> list[dict[str, Any]]:
    rows = (
        Installation.objects.visible_to(user)
        .filter(product__isnull=True, kind__in=QUEUE_KINDS)
        .values("name", "publisher", "version", platform=platform_expression())
        .annotate(devices=Count("device_id", distinct=True))
        .order_by()
    )
    return list(rows)


def product_devices(
    *, user: Any, product_id: int, limit: int
) -> tuple[int, Sequence[Mapping[str, Any]]]:
    # Machines in service: a retired one's installs no longer count anywhere.
    devices = (
        Device.objects.in_service()
        .visible_to(user)
        .filter(Exists(Installation.objects.filter(device=OuterRef("pk"), product_id=product_id)))
    )
    count = devices.count()
    shown = list(
        devices.order_by("hostname", "pk").values("pk", "hostname", "unit__name")[: max(limit, 0)]
    )
    versions: dict[int, list[str]] = defaultdict(list)
    for device_id, version in (
        Installation.objects.filter(device_id__in=[d["pk"] for d in shown], product_id=product_id)
        .order_by("device_id", "version", "pk")
        .values_list("device_id", "version")
    ):
        if version and version not in versions[device_id]:
            versions[device_id].append(version)
    rows = [
        {
            "id": d["pk"],
            "name": d["hostname"] or f"#{d['pk']}",
            "unit": d["unit__name"],
            "version": ", ".join(versions[d["pk"]]),
            "url": reverse("inventory:device_detail", args=[d["pk"]]),
        }
        for d in shown
    ]
    return count, rows


def _groups(unrecognised_only: bool) -> QuerySet:
    qs = Installation.objects.all()
    if unrecognised_only:
        qs = qs.filter(product__isnull=True)
    return (
        qs.values(
            "name",
            "publisher",
            "version",
            "product_id",
            unit_id=F("device__unit_id"),
            platform=platform_expression(),
        )
        .distinct()
        .order_by("name", "publisher", "version", "unit_id", "platform", "product_id")
    )


def count_raw_groups(*, unrecognised_only: bool) -> int:
    return _groups(unrecognised_only).count()


def raw_groups(*, unrecognised_only: bool, batch_size: int) -> Iterator[list[dict[str, Any]]]:
    batch: list[dict[str, Any]] = []
    for row in _groups(unrecognised_only).iterator(chunk_size=max(batch_size, 1)):
        batch.append({name: row[name] for name in _GROUP_FIELDS})
        if len(batch) >= batch_size:
            yield batch
            batch = []
    if batch:
        yield batch


def apply_products(*, changes: list[tuple[Mapping[str, Any], int | None]]) -> int:
    """One UPDATE per distinct (raw record, old product, new product), over all the units
    that change alike, found through the (product, name, version) index."""
    units: dict[tuple, set[int]] = defaultdict(set)
    for group, product_id in changes:
        key = (
            group["name"],
            group["publisher"],
            group["version"],
            group["platform"],
            group["product_id"],
            product_id,
        )
        units[key].add(group["unit_id"])
    changed = 0
    for (name, publisher, version, platform, old, new), unit_ids in units.items():
        qs = Installation.objects.filter(
            raw_key=raw_key(name, publisher, version, platform),
            name=name,
            publisher=publisher,
            version=version,
            device__unit_id__in=sorted(unit_ids),
        )
        qs = qs.filter(product__isnull=True) if old is None else qs.filter(product_id=old)
        changed += qs.update(product_id=new)
    return changed


def has_installs() -> bool:
    return Installation.objects.exists()


def provider() -> InstallProvider:
    return InstallProvider(
        unrecognised_records=unrecognised_records,
        product_devices=product_devices,
        count_raw_groups=count_raw_groups,
        raw_groups=raw_groups,
        apply_products=apply_products,
        has_installs=has_installs,
    )


def register() -> None:
    register_install_provider(provider())
