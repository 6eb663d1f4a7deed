"""Business rules of licensing: contracts, entitlements, allocations, disposal, and the
compliance recompute that feeds the engine from the database.

Every public function that changes data is one transaction and writes its own audit record;
changes to entitlements recompute the units they touch inside the same transaction, so the
compliance figures never disagree with the entitlements. Recomputes triggered by an inventory
(``recompute_after_inventory``) run inside the caller's transaction and write no audit record
of their own: they change no fact a person entered, only derived figures.
"""

from __future__ import annotations

import datetime
import json
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection, transaction
from django.db.models import Count, Q, QuerySet, Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from zhengban.catalog.models import Product, ProductVersion
from zhengban.core import audit
from zhengban.core.choices import AuditAction
from zhengban.inventory.models import Device, Installation
from zhengban.licensing import engine, keystore
from zhengban.licensing.choices import RATE_CATEGORIES, Metric, Reason, Status
from zhengban.licensing.models import Allocation as AllocationRow
from zhengban.licensing.models import (
    AssetDisposal,
    CompliancePosition,
    ComplianceResult,
    Contract,
    ContractDocument,
    Entitlement,
    EntitlementShare,
    LicensingPolicy,
)
from zhengban.orgs.models import Region, Unit, User
from zhengban.orgs.services import can_manage_unit

# Inventory kinds never assessed: patches are not software products.
SKIPPED_KINDS = ("update",)
UNIT_BATCH = 400


def _require_manage(actor: Any, unit: Unit) -> None:
    """People may change only units they manage; actor None is the system (simulator, CLI)."""
    if actor is not None and not can_manage_unit(actor, unit):
        raise PermissionDenied(_("无权管理该单位的合同与授权。"))


# --------------------------------------------------------------------------- policy


def policy_for(region: Region | None) -> LicensingPolicy:
    """The nearest policy up the region tree, else an unsaved one with the defaults."""
    if region is not None:
        codes = [c for c in region.path.split("/") if c]
        found = {p.region.code: p for p in LicensingPolicy.objects.filter(region__code__in=codes)}
        for code in reversed(codes):
            if code in found:
                return found[code]
    return LicensingPolicy(region=region) if region is not None else LicensingPolicy()


POLICY_FIELDS = frozenset(
    {
        "office_cap",
        "office_special_cap",
        "antivirus_client_cap",
        "antivirus_server_cap",
        "os_cap",
        "asset_threshold",
        "service_life_years",
    }
)


@transaction.atomic
def set_policy(*, actor: Any, region: Region, **values: Any) -> LicensingPolicy:
    unknown = set(values) - POLICY_FIELDS
    if unknown:
        raise ValueError(f"unknown policy fields: {sorted(unknown)}")
    policy = LicensingPolicy.objects.filter(region=region).first()
    before = audit.snapshot(policy)
    if policy is None:
        inherited = policy_for(region)
        policy = LicensingPolicy(region=region)
        for name in POLICY_FIELDS:
            setattr(policy, name, getattr(inherited, name))
    for name, value in values.items():
        setattr(policy, name, value)
    policy.full_clean()
    policy.save()
    audit.record(
        actor=actor,
        action=AuditAction.CREATE if before is None else AuditAction.UPDATE,
        obj=policy,
        before=before,
        after=audit.snapshot(policy),
    )
    return policy


# --------------------------------------------------------------------------- contracts

CONTRACT_FIELDS = frozenset(
    {
        "number",
        "title",
        "supplier",
        "signed_on",
        "amount",
        "funding_source",
        "procurement_method",
        "term_version",
        "term_compatibility",
        "term_security",
        "term_authorisation",
        "term_support",
        "note",
    }
)


@transaction.atomic
def create_contract(*, actor: Any, unit: Unit, **fields: Any) -> Contract:
    _require_manage(actor, unit)
    unknown = set(fields) - CONTRACT_FIELDS
    if unknown:
        raise ValueError(f"unknown contract fields: {sorted(unknown)}")
    contract = Contract(unit=unit, **fields)
    contract.full_clean()
    contract.save()
    contract.refresh_from_db(fields=["terms_missing"])
    audit.record(
        actor=actor, action=AuditAction.CREATE, obj=contract, after=audit.snapshot(contract)
    )
    return contract


@transaction.atomic
def update_contract(*, actor: Any, contract: Contract, **changes: Any) -> Contract:
    _require_manage(actor, contract.unit)
    unknown = set(changes) - CONTRACT_FIELDS
    if unknown:
        raise ValueError(f"unknown contract fields: {sorted(unknown)}")
    before = audit.snapshot(contract)
    for name, value in changes.items():
        setattr(contract, name, value)
    contract.full_clean()
    contract.save()
    contract.refresh_from_db(fields=["terms_missing"])
    audit.record(
        actor=actor,
        action=AuditAction.UPDATE,
        obj=contract,
        before=before,
        after=audit.snapshot(contract),
    )
    return contract


@transaction.atomic
def delete_contract(*, actor: Any, contract: Contract) -> None:
    _require_manage(actor, contract.unit)
    if contract.entitlements.exists():
        raise ValidationError(_("合同下还有授权,不能删除。"))
    before = audit.snapshot(contract)
    pk, repr_, unit_id = contract.pk, str(contract), contract.unit_id
    contract.delete()
    audit.record(
        actor=actor,
        action=AuditAction.DELETE,
        object_type="licensing.contract",
        object_id=pk,
        object_repr=repr_,
        unit_id=unit_id,
        before=before,
    )


ALLOWED_DOCUMENT_SUFFIXES = (".pdf", ".jpg", ".jpeg", ".png", ".ofd", ".tif", ".tiff")
MAX_DOCUMENT_BYTES = 20 * 1024 * 1024


@transaction.atomic
def attach_document(*, actor: Any, contract: Contract, title: str, file: Any) -> ContractDocument:
    _require_manage(actor, contract.unit)
    name = (getattr(file, "name", "") or "").lower()
    if not name.endswith(ALLOWED_DOCUMENT_SUFFIXES):
        raise ValidationError(_("只能上传 PDF、OFD 或图片格式的扫描件。"))
    if getattr(file, "size", 0) > MAX_DOCUMENT_BYTES:
        raise ValidationError(_("文件不能超过 20 MB。"))
    doc = ContractDocument(contract=contract, title=title.strip() or name, file=file)
    doc.full_clean()
    doc.save()
    audit.record(
        actor=actor,
        action=AuditAction.CREATE,
        obj=doc,
        unit_id=contract.unit_id,
        after=audit.snapshot(doc),
    )
    return doc


# --------------------------------------------------------------------------- entitlements

ENTITLEMENT_FIELDS = frozenset(
    {
        "contract",
        "product",
        "family",
        "edition",
        "versions",
        "metric",
        "term",
        "start",
        "end",
        "quantity",
        "downgrade",
        "downgrade_to",
        "upgrade_until",
        "oem_device",
        "site_region",
        "framework",
        "source_type",
        "purchased_on",
        "unit_price",
        "proof",
        "note",
    }
)


def _check_entitlement(ent: Entitlement) -> None:
    ent.full_clean()
    if ent.contract_id and ent.contract.unit_id != ent.unit_id:
        raise ValidationError(_("授权只能登记在本单位的合同下。"))
    if ent.oem_device_id and ent.oem_device.unit_id != ent.unit_id:
        raise ValidationError(_("OEM 授权只能绑定本单位的终端。"))
    if ent.site_region_id and not ent.unit.region.path.startswith(ent.site_region.path):
        if not ent.site_region.path.startswith(ent.unit.region.path):
            raise ValidationError(_("场地授权只能覆盖本单位所在区划或其下级区划。"))
    if ent.product_id is None and ent.family_id is None:
        raise ValidationError(_("请选择软件产品或产品系列。"))
    if ent.quantity is not None:
        allocated = ent.allocations.count() if ent.pk else 0
        shared = sum(s.quantity for s in ent.shares.all()) if ent.pk else 0
        if allocated + shared > ent.quantity:
            raise ValidationError(_("许可数不能少于已分配数量。"))


def _affected_units(ent: Entitlement) -> set[int]:
    units = {ent.unit_id}
    if ent.pk:
        units.update(ent.shares.values_list("unit_id", flat=True))
        units.update(ent.allocations.values_list("unit_id", flat=True))
    if ent.site_region_id:
        units.update(
            Unit.objects.filter(region__path__startswith=ent.site_region.path).values_list(
                "id", flat=True
            )
        )
    return units


@transaction.atomic
def create_entitlement(
    *,
    actor: Any,
    unit: Unit,
    serial: str = "",
    shares: Mapping[Unit, int] | None = None,
    **fields: Any,
) -> Entitlement:
    _require_manage(actor, unit)
    unknown = set(fields) - ENTITLEMENT_FIELDS
    if unknown:
        raise ValueError(f"unknown entitlement fields: {sorted(unknown)}")
    ent = Entitlement(unit=unit, **fields)
    if serial:
        ent.serial_encrypted = keystore.encrypt(serial.strip())
        ent.serial_hint = keystore.hint(serial)
    _check_entitlement(ent)
    ent.save()
    if shares:
        _write_shares(ent, shares)
    audit.record(actor=actor, action=AuditAction.CREATE, obj=ent, after=audit.snapshot(ent))
    recompute_units(_affected_units(ent))
    return ent


@transaction.atomic
def update_entitlement(
    *, actor: Any, entitlement: Entitlement, serial: str | None = None, **changes: Any
) -> Entitlement:
    _require_manage(actor, entitlement.unit)
    unknown = set(changes) - ENTITLEMENT_FIELDS
    if unknown:
        raise ValueError(f"unknown entitlement fields: {sorted(unknown)}")
    before_units = _affected_units(entitlement)
    before = audit.snapshot(entitlement)
    for name, value in changes.items():
        setattr(entitlement, name, value)
    if serial is not None:
        entitlement.serial_encrypted = keystore.encrypt(serial.strip())
        entitlement.serial_hint = keystore.hint(serial)
    _check_entitlement(entitlement)
    entitlement.save()
    audit.record(
        actor=actor,
        action=AuditAction.UPDATE,
        obj=entitlement,
        before=before,
        after=audit.snapshot(entitlement),
    )
    recompute_units(before_units | _affected_units(entitlement))
    return entitlement


@transaction.atomic
def delete_entitlement(*, actor: Any, entitlement: Entitlement) -> None:
    _require_manage(actor, entitlement.unit)
    if entitlement.disposals.exists():
        raise ValidationError(_("已有处置记录的授权不能删除。"))
    units = _affected_units(entitlement)
    before = audit.snapshot(entitlement)
    pk, repr_, unit_id = entitlement.pk, str(entitlement), entitlement.unit_id
    entitlement.delete()
    audit.record(
        actor=actor,
        action=AuditAction.DELETE,
        object_type="licensing.entitlement",
        object_id=pk,
        object_repr=repr_,
        unit_id=unit_id,
        before=before,
    )
    recompute_units(units)


def _write_shares(ent: Entitlement, shares: Mapping[Unit, int]) -> None:
    if not ent.framework:
        raise ValidationError(_("只有框架协议可以向其他单位分配数量。"))
    total = sum(shares.values())
    if any(q <= 0 for q in shares.values()):
        raise ValidationError(_("分配数量必须大于零。"))
    if total > (ent.quantity or 0):
        raise ValidationError(_("分配总数超过框架协议的许可数。"))
    for unit in shares:
        if not unit.region.path.startswith(ent.unit.region.path):
            raise ValidationError(_("框架协议只能分配给本区划内的单位。"))
    EntitlementShare.objects.filter(entitlement=ent).delete()
    EntitlementShare.objects.bulk_create(
        [EntitlementShare(entitlement=ent, unit=u, quantity=q) for u, q in shares.items()]
    )


@transaction.atomic
def set_shares(*, actor: Any, entitlement: Entitlement, shares: Mapping[Unit, int]) -> None:
    _require_manage(actor, entitlement.unit)
    units = _affected_units(entitlement)
    before = sorted(entitlement.shares.values_list("unit_id", "quantity"))
    _write_shares(entitlement, shares)
    audit.record(
        actor=actor,
        action=AuditAction.UPDATE,
        obj=entitlement,
        before={"shares": before},
        after={"shares": sorted((u.pk, q) for u, q in shares.items())},
        message="framework shares",
    )
    recompute_units(units | {u.pk for u in shares})


def _seats_for(entitlement: Entitlement, unit_id: int) -> int | None:
    """Seats the unit may allocate from the entitlement; None = unlimited."""
    if entitlement.quantity is None:
        return None
    shares = dict(entitlement.shares.values_list("unit_id", "quantity"))
    if unit_id in shares:
        return shares[unit_id]
    if unit_id == entitlement.unit_id:
        return entitlement.quantity - sum(shares.values())
    return 0


@transaction.atomic
def allocate(
    *,
    actor: Any,
    entitlement: Entitlement,
    device: Device | None = None,
    person: User | None = None,
) -> AllocationRow:
    if (device is None) == (person is None):
        raise ValidationError(_("请指定一台终端或一名人员。"))
    unit = device.unit if device is not None else person.unit
    if unit is None:
        raise ValidationError(_("该人员不属于任何单位。"))
    _require_manage(actor, unit)
    seats = _seats_for(entitlement, unit.pk)
    if seats is not None:
        used = entitlement.allocations.filter(unit=unit).count()
        if used >= seats:
            raise ValidationError(_("该授权在本单位已无可分配的数量。"))
    if entitlement.metric == Metric.OEM:
        raise ValidationError(_("OEM 授权已绑定终端,无需分配。"))
    row = AllocationRow(entitlement=entitlement, unit=unit, device=device, person=person)
    row.full_clean()
    row.save()
    audit.record(actor=actor, action=AuditAction.GRANT, obj=row, after=audit.snapshot(row))
    recompute_units({unit.pk})
    return row


@transaction.atomic
def deallocate(*, actor: Any, allocation: AllocationRow) -> None:
    _require_manage(actor, allocation.unit)
    before = audit.snapshot(allocation)
    unit_id = allocation.unit_id
    audit.record(
        actor=actor,
        action=AuditAction.REVOKE,
        obj=allocation,
        before=before,
    )
    allocation.delete()
    recompute_units({unit_id})


@transaction.atomic
def dispose(
    *,
    actor: Any,
    entitlement: Entitlement,
    method: str,
    date: datetime.date,
    quantity: int | None = None,
    approval: str = "",
    reason: str = "",
) -> AssetDisposal:
    _require_manage(actor, entitlement.unit)
    if quantity is not None and entitlement.quantity is not None:
        done = entitlement.disposals.aggregate(n=Sum("quantity"))["n"] or 0
        if done + quantity > entitlement.quantity:
            raise ValidationError(_("处置数量超过剩余许可数。"))
    row = AssetDisposal(
        entitlement=entitlement,
        method=method,
        date=date,
        quantity=quantity,
        approval=approval,
        reason=reason,
    )
    row.full_clean()
    row.save()
    audit.record(
        actor=actor,
        action=AuditAction.CREATE,
        obj=row,
        unit_id=entitlement.unit_id,
        after=audit.snapshot(row),
    )
    recompute_units(_affected_units(entitlement))
    return row


def reveal_serial(*, actor: Any, entitlement: Entitlement) -> str:
    """The clear licence key, for the unit's officer only; the reading is audited."""
    _require_manage(actor, entitlement.unit)
    if actor is None:
        raise PermissionDenied
    with transaction.atomic():
        audit.record(actor=actor, action=AuditAction.EXPORT, obj=entitlement, message="serial")
    return keystore.decrypt(entitlement.serial_encrypted)


# --------------------------------------------------------------------------- facts


@dataclass(frozen=True)
class ProductMeta:
    id: int
    key: str
    family: str
    edition: str
    category: str
    license_model: str
    home_edition: bool
    suites: frozenset[str]
    labels: tuple[str, ...]


@dataclass
class CatalogMeta:
    revision: int
    products: dict[int, ProductMeta]
    ids: dict[str, int]
    version_order: dict[str, tuple[str, ...]]
    categories: dict[str, str]
    assessed: frozenset[int]  # products whose installs get a stored verdict


_catalog_cache: dict[str, CatalogMeta] = {}


def catalog_meta() -> CatalogMeta:
    """The catalog as the engine needs it, rebuilt when the catalog revision moves."""
    from zhengban.catalog.services import current_revision

    revision = current_revision()
    cached = _catalog_cache.get("meta")
    if cached is not None and cached.revision == revision:
        return cached
    labels: dict[int, list[str]] = defaultdict(list)
    for pid, version in ProductVersion.objects.order_by("product_id", "position", "id").values_list(
        "product_id", "version"
    ):
        labels[pid].append(version)
    suites: dict[int, set[str]] = defaultdict(set)
    for component_id, suite_key in Product.components.through.objects.values_list(
        "to_product_id", "from_product__key"
    ):
        suites[component_id].add(suite_key)
    products: dict[int, ProductMeta] = {}
    for row in Product.objects.values_list(
        "id", "key", "family__key", "edition", "category", "license_model", "home_edition"
    ):
        pid, key, family, edition, category, model, home = row
        products[pid] = ProductMeta(
            pid,
            key,
            family,
            edition,
            category,
            model,
            home,
            frozenset(suites.get(pid, ())),
            tuple(labels.get(pid, ())),
        )
    meta = CatalogMeta(
        revision=revision,
        products=products,
        ids={p.key: p.id for p in products.values()},
        version_order={p.key: p.labels for p in products.values() if p.labels},
        categories={p.key: p.category for p in products.values()},
        assessed=frozenset(
            p.id for p in products.values() if p.license_model == "commercial" or p.home_edition
        ),
    )
    _catalog_cache["meta"] = meta
    return meta


def static_outcome(product: Product | None) -> tuple[str, str] | None:
    """The verdict of an install that has no stored row: it follows from the catalog."""
    if product is None:
        return Status.UNKNOWN, Reason.UNRECOGNISED
    if product.home_edition or product.license_model == "commercial":
        return None  # assessed: its row is written by the next recompute
    if product.license_model == "open_source":
        return Status.NOT_REQUIRED, Reason.OPEN_SOURCE
    return Status.NOT_REQUIRED, Reason.FREE


def person_key(user_id: int | None, name: str) -> str | None:
    if user_id:
        return f"u{user_id}"
    return f"n{name.strip()}" if name and name.strip() else None


def _units_under_regions(paths: set[str]) -> dict[str, list[int]]:
    out: dict[str, list[int]] = {path: [] for path in paths}
    if not paths:
        return out
    for unit_id, region_path in Unit.objects.order_by().values_list("id", "region__path"):
        for path in paths:
            if region_path.startswith(path):
                out[path].append(unit_id)
    return out


_ENTITLEMENT_SQL = """
SELECT e.id, e.unit_id, e.product_id, f.key, e.edition, e.versions, e.metric, e.start, e."end",
       e.quantity, e.downgrade, e.downgrade_to, e.upgrade_until, e.oem_device_id, r.path,
       e.framework, COUNT(d.id), COUNT(d.quantity), SUM(d.quantity)
FROM licensing_entitlement e
LEFT JOIN catalog_productfamily f ON f.id = e.family_id
LEFT JOIN orgs_region r ON r.id = e.site_region_id
LEFT JOIN licensing_assetdisposal d ON d.entitlement_id = e.id
{where}
GROUP BY e.id, f.key, r.path
"""
_ENTITLEMENT_WHERE = """
WHERE e.id IN (
    SELECT id FROM licensing_entitlement WHERE unit_id IN ({units})
    UNION ALL SELECT entitlement_id FROM licensing_entitlementshare WHERE unit_id IN ({units})
    UNION ALL SELECT s.id FROM licensing_entitlement s
        JOIN orgs_region sr ON sr.id = s.site_region_id WHERE sr.path IN ({paths})
)
"""


def _json_list(value: Any) -> list:
    """A JSON list column as read by a plain cursor (text on both backends we support)."""
    if value is None:
        return []
    return json.loads(value) if isinstance(value, str | bytes) else value


def load_entitlement_facts(
    meta: CatalogMeta,
    unit_ids: set[int] | None = None,
    unit_regions: Mapping[int, str] | None = None,
) -> tuple[list[engine.Entitlement], list[engine.Allocation]]:
    """Entitlement facts (a framework agreement: one per unit share plus the owner's rest)
    and allocations; limited to what touches ``unit_ids`` when given (``unit_regions``, each
    unit's region path, saves a query when the caller has read them already)."""
    where, params = "", []
    if unit_ids is not None:
        if unit_regions is None or not set(unit_ids) <= set(unit_regions):
            unit_regions = dict(
                Unit.objects.filter(pk__in=unit_ids).order_by().values_list("id", "region__path")
            )
        unit_regions = {u: p for u, p in unit_regions.items() if u in unit_ids}
        region_paths: set[str] = set()
        for path in unit_regions.values():
            parts = [p for p in path.split("/") if p]
            region_paths.update("/" + "/".join(parts[: i + 1]) + "/" for i in range(len(parts)))
        units = sorted(unit_ids)
        paths = sorted(region_paths) or [""]
        # A union of three index lookups (an OR scans every entitlement).
        where = _ENTITLEMENT_WHERE.format(
            units=", ".join(["%s"] * len(units)), paths=", ".join(["%s"] * len(paths))
        )
        params = [*units, *units, *paths]
    # Written in SQL: this runs on every incremental recompute, where building the same
    # query with the ORM costs more than running it. Disposals are counted in the same
    # query: any disposal without a quantity disposes of all.
    with connection.cursor() as cursor:
        cursor.execute(_ENTITLEMENT_SQL.format(where=where), params)
        rows = cursor.fetchall()
    rows = [
        (*row[:5], _json_list(row[5]), *row[6:11], _json_list(row[11]), *row[12:]) for row in rows
    ]
    disposed: dict[int, int | None] = {}
    for row in rows:
        n_disposals, n_counted, qty = row[16:]
        if n_disposals:
            disposed[row[0]] = None if n_counted < n_disposals else qty
    rows = [row[:16] for row in rows]
    shares: dict[int, list[tuple[int, int]]] = defaultdict(list)
    framework_ids = [r[0] for r in rows if r[15]]
    if framework_ids:
        for ent_id, unit_id, qty in (
            EntitlementShare.objects.filter(entitlement_id__in=framework_ids)
            .order_by("entitlement_id", "unit_id")
            .values_list("entitlement_id", "unit_id", "quantity")
        ):
            shares[ent_id].append((unit_id, qty))
    site_paths = {r[14] for r in rows if r[14]}
    if unit_ids is None:
        site_units = _units_under_regions(site_paths)
    else:
        # Only the requested units matter, and their region paths are known.
        site_units = {
            path: [u for u, rp in unit_regions.items() if rp.startswith(path)]
            for path in site_paths
        }
    facts: list[engine.Entitlement] = []
    for row in rows:
        (pk, unit_id, product_id, family_key, edition, versions, metric, start, end, quantity) = (
            row[:10]
        )
        downgrade, downgrade_to, upgrade_until, oem_device, site_region, framework = row[10:]
        if pk in disposed:
            if disposed[pk] is None or quantity is None:
                continue
            quantity -= disposed[pk]
            if quantity <= 0:
                continue
        product = meta.products.get(product_id) if product_id else None
        common = dict(
            metric=metric,
            product=product.key if product else None,
            family=product.family if product else family_key,
            edition=None if product or not edition else edition,
            versions=tuple(versions or ()),
            start=start,
            end=end,
            downgrade=downgrade,
            downgrade_to=tuple(downgrade_to or ()),
            upgrade_until=upgrade_until,
            oem_device=oem_device,
        )
        if site_region:
            units = set(site_units.get(site_region, ())) | {unit_id}
            if unit_ids is not None:
                units &= unit_ids
            facts.append(engine.Entitlement(id=pk, units=frozenset(units), quantity=None, **common))
            continue
        rest = quantity
        for share_unit, share_qty in shares.get(pk, ()):
            facts.append(
                engine.Entitlement(
                    id=pk, units=frozenset({share_unit}), quantity=share_qty, **common
                )
            )
            if rest is not None:
                rest -= share_qty
        if rest is None or rest > 0:
            facts.append(
                engine.Entitlement(id=pk, units=frozenset({unit_id}), quantity=rest, **common)
            )
    alloc_qs = AllocationRow.objects.order_by()
    if unit_ids is not None:
        # Allocations of entitlements not loaded find no fact and are ignored by the engine.
        alloc_qs = alloc_qs.filter(unit_id__in=unit_ids)
    allocations = [
        engine.Allocation(
            entitlement=ent_id,
            unit=unit_id,
            device=device_id,
            person=f"u{person_id}" if person_id else None,
        )
        for ent_id, unit_id, device_id, person_id in alloc_qs.values_list(
            "entitlement_id", "unit_id", "device_id", "person_id"
        )
    ]
    return facts, allocations


INSTALL_COLUMNS = ("id", "device_id", "product_id", "name", "version")
# device id → (unit id, person key)
DeviceFacts = dict[int, tuple[int, str | None]]


def _installs(
    meta: CatalogMeta, rows: Iterable[tuple], devices: DeviceFacts
) -> list[engine.Install]:
    """Engine installs from (id, device, product, name, raw version) rows."""
    products = meta.products
    assessed = meta.assessed
    labels: dict[tuple[int, str, str], str | None] = {}
    out: list[engine.Install] = []
    for pk, device_id, product_id, name, version in rows:
        if product_id not in assessed:
            continue
        p = products[product_id]
        key = (product_id, name, version)
        label = labels.get(key, "")
        if label == "":
            label = labels[key] = engine.version_label(name, version, p.labels)
        unit_id, person = devices[device_id]
        out.append(
            engine.Install(
                id=pk,
                device=device_id,
                unit=unit_id,
                product=p.key,
                family=p.family,
                edition=p.edition,
                version=label,
                category=p.category,
                license_model=p.license_model,
                home_edition=p.home_edition,
                person=person,
                suites=p.suites,
            )
        )
    return out


def _assessed_installations(meta: CatalogMeta) -> QuerySet[Installation]:
    # product_id IN (assessed) rather than a join on the product: the product index finds
    # the few commercial installs among a device's many free ones.
    return (
        Installation.objects.filter(product_id__in=sorted(meta.assessed))
        .exclude(kind__in=SKIPPED_KINDS)
        .order_by()
    )


def device_facts(devices: QuerySet[Device]) -> tuple[DeviceFacts, dict[int, str]]:
    """Each device's unit and person, and each unit's region path, in one query."""
    facts: DeviceFacts = {}
    regions: dict[int, str] = {}
    for pk, unit_id, user_id, user_name, path in devices.order_by().values_list(
        "id", "unit_id", "assigned_user_id", "assigned_name", "unit__region__path"
    ):
        facts[pk] = (unit_id, person_key(user_id, user_name))
        regions[unit_id] = path
    return facts, regions


def load_installs(meta: CatalogMeta, devices: DeviceFacts) -> list[engine.Install]:
    """The assessed installs (commercial or home-edition products) of these devices: by the
    device index, with no join (a join on the device's unit makes PostgreSQL scan devices)."""
    ids = sorted(devices)
    rows: list[tuple] = []
    for start in range(0, len(ids), 10000):
        # The product's licence model by a join: cheaper than binding every assessed
        # product id when the devices are few (a unit's), and PostgreSQL keeps to the
        # device index.
        rows.extend(
            Installation.objects.filter(device_id__in=ids[start : start + 10000])
            .filter(Q(product__license_model="commercial") | Q(product__home_edition=True))
            .exclude(kind__in=SKIPPED_KINDS)
            .order_by()
            .values_list(*INSTALL_COLUMNS)
        )
    return _installs(meta, rows, devices)


# --------------------------------------------------------------------------- recompute

RESULT_COLUMNS = (
    "installation_id",
    "unit_id",
    "device_id",
    "product_id",
    "version",
    "status",
    "reason",
    "basis",
    "entitlement_id",
    "detail",
)
POSITION_COLUMNS = (
    "unit_id",
    "product_id",
    "category",
    "required",
    "covered",
    "shortfall",
    "licensed",
    "unlimited",
    "consumed",
    "surplus",
    "computed",
)
# Below this many rows an upsert is one multi-row statement; above, COPY into a temporary
# table and one INSERT … SELECT … ON CONFLICT (PostgreSQL).
COPY_THRESHOLD = 2000


def _bulk_insert(model: type, columns: Sequence[str], rows: list[tuple]) -> None:
    """COPY on PostgreSQL (an order of magnitude faster than INSERT), executemany elsewhere."""
    if not rows:
        return
    table = connection.ops.quote_name(model._meta.db_table)
    cols = ", ".join(connection.ops.quote_name(c) for c in columns)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            with cursor.cursor.copy(f"COPY {table} ({cols}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
        else:
            marks = ", ".join(["%s"] * len(columns))
            for start in range(0, len(rows), 5000):
                cursor.executemany(
                    f"INSERT INTO {table} ({cols}) VALUES ({marks})",
                    rows[start : start + 5000],
                )


def _upsert(model: type, columns: Sequence[str], key: Sequence[str], rows: list[tuple]) -> None:
    """Insert these rows, or update the row with the same ``key`` in place.

    An update that keeps a row's foreign keys costs PostgreSQL no referential check, where a
    delete and insert checks every key again at commit (most of a full recompute's time)."""
    if not rows:
        return
    qn = connection.ops.quote_name
    table = qn(model._meta.db_table)
    cols = ", ".join(qn(c) for c in columns)
    conflict = ", ".join(qn(c) for c in key)
    updates = ", ".join(f"{qn(c)} = EXCLUDED.{qn(c)}" for c in columns if c not in key)
    on_conflict = f"ON CONFLICT ({conflict}) DO UPDATE SET {updates}"
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql" and len(rows) > COPY_THRESHOLD:
            temp = qn(f"tmp_{model._meta.db_table}")
            cursor.execute(
                f"CREATE TEMPORARY TABLE IF NOT EXISTS {temp} ON COMMIT DROP AS "
                f"SELECT {cols} FROM {table} WITH NO DATA"
            )
            cursor.execute(f"TRUNCATE {temp}")
            with cursor.cursor.copy(f"COPY {temp} ({cols}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
            cursor.execute(f"INSERT INTO {table} ({cols}) SELECT {cols} FROM {temp} {on_conflict}")
            return
        row_marks = "(" + ", ".join(["%s"] * len(columns)) + ")"
        for start in range(0, len(rows), 500):
            chunk = rows[start : start + 500]
            values = ", ".join([row_marks] * len(chunk))
            cursor.execute(
                f"INSERT INTO {table} ({cols}) VALUES {values} {on_conflict}",
                [v for row in chunk for v in row],
            )


def _result_rows(
    meta: CatalogMeta, installs: Iterable[engine.Install], result: engine.Result
) -> list[tuple]:
    ids = meta.ids
    rows = []
    for inst in installs:
        out = result.outcomes[inst.id]
        rows.append(
            (
                inst.id,
                inst.unit,
                inst.device,
                ids[inst.product],
                (inst.version or "")[:64],
                out.status,
                out.reason,
                out.basis,
                out.entitlement,
                (out.detail or "")[:100],
            )
        )
    return rows


def _position_rows(meta: CatalogMeta, result: engine.Result, now: datetime.datetime) -> list[tuple]:
    ids = meta.ids
    return [
        (
            p.unit,
            ids[p.product],
            p.category or meta.categories.get(p.product, ""),
            p.required,
            p.covered,
            p.shortfall,
            p.licensed,
            p.unlimited,
            p.consumed,
            p.surplus,
            now,
        )
        for p in result.positions.values()
        if p.product in ids
    ]


def _evaluate(
    meta: CatalogMeta,
    unit_ids: Sequence[int],
    installs: list[engine.Install],
    facts: list[engine.Entitlement],
    allocations: list[engine.Allocation],
    as_of: datetime.date,
) -> engine.Result:
    wanted = set(unit_ids)
    return engine.evaluate(
        installs,
        [f for f in facts if f.units & wanted],
        [a for a in allocations if a.unit in wanted],
        version_order=meta.version_order,
        categories=meta.categories,
        as_of=as_of,
    )


def _store(
    meta: CatalogMeta,
    units: Sequence[int],
    installs: list[engine.Install],
    result: engine.Result,
    now: datetime.datetime,
) -> int:
    """Write the verdicts and positions of these units where they changed; returns the
    number of verdicts written. Rows whose figures are the same are left alone."""
    rows = _result_rows(meta, installs, result)
    existing = {
        r[0]: r
        for r in ComplianceResult.objects.filter(unit_id__in=units)
        .order_by()
        .values_list(*RESULT_COLUMNS)
    }
    fresh = [row for row in rows if existing.get(row[0]) != row]
    if len(rows) != len(existing) or fresh:
        kept = {row[0] for row in rows}
        stale = [pk for pk in existing if pk not in kept]
        if stale:
            # The unit condition spares a verdict that moved to another unit meanwhile.
            ComplianceResult.objects.filter(pk__in=stale, unit_id__in=units)._raw_delete(
                ComplianceResult.objects.db
            )
    _upsert(ComplianceResult, RESULT_COLUMNS, ("installation_id",), fresh)
    # Positions likewise, compared without their timestamp.
    new_positions = {(r[0], r[1]): r for r in _position_rows(meta, result, now)}
    old_positions = {
        (r[1], r[2]): r
        for r in CompliancePosition.objects.filter(unit_id__in=units)
        .order_by()
        .values_list("id", *POSITION_COLUMNS[:-1])
    }
    gone = [old[0] for key, old in old_positions.items() if key not in new_positions]
    if gone:
        CompliancePosition.objects.filter(pk__in=gone)._raw_delete(CompliancePosition.objects.db)
    _upsert(
        CompliancePosition,
        POSITION_COLUMNS,
        ("unit_id", "product_id"),
        [
            row
            for key, row in new_positions.items()
            if key not in old_positions or old_positions[key][1:] != row[:-1]
        ],
    )
    return len(fresh)


def recompute_units(unit_ids: Iterable[int], *, as_of: datetime.date | None = None) -> int:
    """Recompute these units now; only changed verdicts are rewritten. Returns the number of
    verdicts written. Runs inside the caller's transaction when there is one."""
    units = set(unit_ids)
    if not units:
        return 0
    return _recompute(units, *device_facts(Device.objects.filter(unit_id__in=units)), as_of)


def recompute_after_inventory(*, device_ids: Iterable[int]) -> int:
    """For the inventory app, after an ingest changed these devices' software: their units'
    devices are read in the same query as the units themselves."""
    units = Device.objects.filter(pk__in=list(device_ids)).values("unit_id")
    devices, regions = device_facts(Device.objects.filter(unit_id__in=units))
    return _recompute(set(regions), devices, regions, None)


def _recompute(
    units: set[int],
    devices: DeviceFacts,
    regions: dict[int, str],
    as_of: datetime.date | None,
) -> int:
    if not units:
        return 0
    as_of = as_of or timezone.localdate()
    meta = catalog_meta()
    now = timezone.now()
    written = 0
    # No savepoint inside the caller's transaction: two round trips for nothing.
    with transaction.atomic(savepoint=False):
        facts, allocations = load_entitlement_facts(meta, units, regions)
        ordered = sorted(units)
        for start in range(0, len(ordered), UNIT_BATCH):
            batch = ordered[start : start + UNIT_BATCH]
            wanted = set(batch)
            batch_devices = (
                devices
                if len(batch) == len(ordered)
                else {d: f for d, f in devices.items() if f[0] in wanted}
            )
            installs = load_installs(meta, batch_devices)
            result = _evaluate(meta, batch, installs, facts, allocations, as_of)
            written += _store(meta, batch, installs, result, now)
    return written


@dataclass
class RecomputeStats:
    units: int
    installs: int
    covered: int
    unlicensed: int
    seconds: float


def recompute_all(
    *,
    actor: Any = None,
    as_of: datetime.date | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> RecomputeStats:
    """Every unit, in one transaction. The province's assessed installs are read in one pass
    (no join: the devices' units and people are read once), evaluated a batch of units at a
    time, and only the verdicts and positions that changed are written."""
    started = time.perf_counter()
    as_of = as_of or timezone.localdate()
    meta = catalog_meta()
    now = timezone.now()
    covered = unlicensed = installs_total = 0
    with transaction.atomic():
        devices, _regions = device_facts(Device.objects.all())
        by_unit: dict[int, list[tuple]] = defaultdict(list)
        for row in (
            _assessed_installations(meta).values_list(*INSTALL_COLUMNS).iterator(chunk_size=20000)
        ):
            by_unit[devices[row[1]][0]].append(row)
        facts, allocations = load_entitlement_facts(meta)
        fact_units = {u for f in facts if f.quantity is not None for u in f.units}
        all_units = sorted({u for u, _p in devices.values()} | fact_units)
        # Units with no device and no seats any more keep no figures.
        ComplianceResult.objects.exclude(unit_id__in=all_units)._raw_delete(
            ComplianceResult.objects.db
        )
        CompliancePosition.objects.exclude(unit_id__in=all_units)._raw_delete(
            CompliancePosition.objects.db
        )
        total = len(all_units)
        for start in range(0, total, UNIT_BATCH):
            batch = all_units[start : start + UNIT_BATCH]
            installs = _installs(meta, (r for u in batch for r in by_unit.pop(u, ())), devices)
            result = _evaluate(meta, batch, installs, facts, allocations, as_of)
            _store(meta, batch, installs, result, now)
            installs_total += len(installs)
            for out in result.outcomes.values():
                if out.status == Status.COVERED:
                    covered += 1
                elif out.status == Status.UNLICENSED:
                    unlicensed += 1
            if progress is not None:
                progress(min(start + UNIT_BATCH, total), total)
        stats = RecomputeStats(
            units=total,
            installs=installs_total,
            covered=covered,
            unlicensed=unlicensed,
            seconds=round(time.perf_counter() - started, 3),
        )
        audit.record(
            actor=actor,
            action=AuditAction.UPDATE,
            object_type="licensing.complianceresult",
            object_repr=_("全量重算合规状况"),
            message=(
                f"units={stats.units} installs={stats.installs} covered={covered} "
                f"unlicensed={unlicensed} as_of={as_of.isoformat()}"
            ),
        )
    if progress is not None and not all_units:
        progress(0, 0)
    return stats


# --------------------------------------------------------------------------- figures


@dataclass
class Rates:
    required: dict[str, int]
    covered: dict[str, int]

    def rate(self, category: str) -> float | None:
        return engine.genuine_rate(self.covered.get(category, 0), self.required.get(category, 0))

    @property
    def overall(self) -> float | None:
        return self.rate("all")


def rates(positions: QuerySet[CompliancePosition]) -> Rates:
    """Genuine rates for OS, office, antivirus and overall (every commercial product)."""
    required: dict[str, int] = {}
    covered: dict[str, int] = {}
    for category, req, cov in (
        positions.values("category")
        .annotate(r=Sum("required"), c=Sum("covered"))
        .values_list("category", "r", "c")
    ):
        key = category if category in RATE_CATEGORIES else "other"
        required[key] = required.get(key, 0) + (req or 0)
        covered[key] = covered.get(key, 0) + (cov or 0)
    required["all"] = sum(required.values())
    covered["all"] = sum(covered.values())
    return Rates(required, covered)


def rates_by_unit(positions: QuerySet[CompliancePosition], limit: int = 50) -> list[dict[str, Any]]:
    """Per unit: required, covered, rate; lowest rates first."""
    rows = (
        positions.values("unit_id", "unit__name")
        .annotate(required=Sum("required"), covered=Sum("covered"), shortfall=Sum("shortfall"))
        .filter(required__gt=0)
    )
    out = [
        {
            "unit_id": r["unit_id"],
            "name": r["unit__name"],
            "required": r["required"],
            "covered": r["covered"],
            "shortfall": r["shortfall"],
            "rate": engine.genuine_rate(r["covered"], r["required"]),
        }
        for r in rows
    ]
    out.sort(key=lambda r: (r["rate"], -r["required"], r["unit_id"]))
    return out[:limit]


def shortfall_by_product(
    positions: QuerySet[CompliancePosition], limit: int = 20
) -> list[dict[str, Any]]:
    rows = (
        positions.values("product_id", "product__name", "category")
        .annotate(
            required=Sum("required"),
            covered=Sum("covered"),
            shortfall=Sum("shortfall"),
            surplus=Sum("surplus"),
        )
        .filter(shortfall__gt=0)
        .order_by("-shortfall", "product__name")
    )
    return list(rows[:limit])


@dataclass
class DemandLine:
    product_id: int
    product: str
    category: str
    servers: bool
    quantity: int
    price_cap: Decimal | None
    estimate: Decimal | None


def procurement_demand(
    results: QuerySet[ComplianceResult], region: Region | None
) -> tuple[list[DemandLine], Decimal]:
    """Shortfall as procurement demand: one licence per unlicensed device, priced at the
    region's caps (antivirus on servers at the server cap). Products without a cap have no
    estimate; home editions are to be replaced by a unit edition of the same category."""
    policy = policy_for(region)
    caps = {
        ("office", False): policy.office_cap,
        ("office", True): policy.office_cap,
        ("antivirus", False): policy.antivirus_client_cap,
        ("antivirus", True): policy.antivirus_server_cap,
        ("os", False): policy.os_cap,
        ("os", True): policy.os_cap,
    }
    rows = (
        results.filter(status=Status.UNLICENSED)
        .values("product_id", "product__name", "product__category")
        .annotate(
            servers=Count("device", filter=Q(device__device_type="server"), distinct=True),
            devices=Count("device", distinct=True),
        )
        .order_by("product__category", "product__name")
    )
    lines: list[DemandLine] = []
    total = Decimal(0)
    for r in rows:
        for servers, qty in ((False, r["devices"] - r["servers"]), (True, r["servers"])):
            if qty <= 0:
                continue
            cap = caps.get((r["product__category"], servers))
            estimate = cap * qty if cap is not None else None
            total += estimate or 0
            lines.append(
                DemandLine(
                    r["product_id"],
                    r["product__name"],
                    r["product__category"],
                    servers,
                    qty,
                    cap,
                    estimate,
                )
            )
    return lines, total


def devices_without_genuine_os(results: QuerySet[ComplianceResult]) -> int:
    """§三: every PC needs a genuine OS; devices whose OS install is unlicensed."""
    return (
        results.filter(status=Status.UNLICENSED, product__category="os")
        .values("device_id")
        .distinct()
        .count()
    )


def unlicensed_installations(*, device: Device) -> list[Installation]:
    """The device's installs whose current verdict is unlicensed (read by governance, which
    raises a violation for each)."""
    ids = ComplianceResult.objects.filter(device=device, status=Status.UNLICENSED).values(
        "installation_id"
    )
    return list(Installation.objects.filter(pk__in=ids).select_related("product"))
